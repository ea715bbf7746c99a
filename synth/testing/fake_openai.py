"""A fake LLM behind a real OpenAI-compatible HTTP server on 127.0.0.1, for tests and benchmarks.

It answers brainstorm prompts with a JSON list of task definitions and generate prompts with a JSON
object holding the keys the prompt names, sized to the word counts the prompt asks for. Answers are
deterministic per call: the randomness is seeded by the X-Synthembed-Call header (or the prompt). Faults are injected at configurable rates: 429 with Retry-After,
500, hangs past the client timeout, malformed / fenced / prose-wrapped JSON, missing keys, exact and
near-duplicate answers. HTTP faults hit only the first request of a call, so retries succeed.
It can also play servers that refuse some response_format types (`guided_support`, answered as
llama-cpp-python does: HTTP 500 with a pydantic text), or some request fields (`reject_params`, as
OpenAI does), and servers with a small context window (`context_length`, reported in /v1/models the
vLLM or llama-server way or not at all, over-long requests answered as vLLM, llama-cpp-python or
llama-server do).

    with FakeOpenAI(latency=0.01, rate_429=0.1) as server:
        client = AsyncOpenAI(base_url=server.url, api_key="sk-test")

Run it standalone (benchmarks): `python -m synth.testing.fake_openai --latency 0.5` prints its URL.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import re
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field

from synth.plan.languages import LANGUAGES
from synth.testing.fake_grounded import grounded_answer, judge_answer, passages_in
from synth.testing.loopback import LoopbackServer
from synth.testing.vocab import WORDS

ALL_KEYS = ("user_query", "positive_document", "hard_negative_document", "input_text", "label",
            "misleading_label", "input", "S1", "S2", "S3")  # fmt: skip
_SYLLABLES = ["ka", "lo", "mi", "ren", "to", "sa", "vel", "dor", "qui", "ne", "bar", "zo", "fen", "li", "mar",
              "tu", "gra", "pe", "sol", "vin", "ha", "ost", "ri", "cal", "ny", "bo", "ter", "ux", "el", "wa"]  # fmt: skip
VOCAB = sorted({a + b + c for a in _SYLLABLES for b in _SYLLABLES for c in ("", "s", "n", "ta")})
_AT_LEAST = re.compile(r"at least (\d+) words")
_LESS_THAN = re.compile(r"less than (\d+) words")
_UNIT = re.compile(r"triple of (phrase|sentence|passage)s")
_WRITTEN_IN = re.compile(r"(?:written in|a string in|strings in) ([A-Z][A-Za-z ()]+?)[.;,\n]")
_NAME_TO_CODE = {name: code for code, name in LANGUAGES.items()}
UNIT_WORDS = {"phrase": 5, "sentence": 14, "passage": 70}
# response_format kinds a server may take; "json_object_schema" is json_object with a "schema" key
# (llama-cpp-python's extension, which OpenAI refuses).
GUIDED_KINDS = ("json_schema", "json_object_schema", "json_object")
MODELS_STYLES = ("none", "vllm", "llama.cpp", "llama-cpp-python")
CONTEXT_ERRORS = ("vllm", "llama-cpp-python", "llama.cpp")


@dataclass
class Faults:
    rate_429: float = 0.0
    retry_after: float = 0.05
    rate_500: float = 0.0
    rate_hang: float = 0.0
    hang_s: float = 5.0
    rate_drop: float = 0.0  # the connection closed with no answer, as a crashed or restarted server does
    rate_malformed: float = 0.0
    rate_fenced: float = 0.0
    rate_prose: float = 0.0
    rate_missing_key: float = 0.0
    rate_exact_dup: float = 0.0
    rate_near_dup: float = 0.0
    rate_wrong_language: float = 0.0  # answer in English (German if English was asked)
    brainstorm_extra: list[str] = field(default_factory=list)  # put into every brainstorm answer
    rate_brainstorm_junk: float = 0.0  # brainstorm answers a weak model gives: JSON fragments, no task
    rate_brainstorm_ramble: float = 0.0  # brainstorms that run on to max_tokens: the list cut mid-item
    rate_short_negative: float = 0.0  # grounded answers whose optional hard negative is far too short
    rate_copied_query: float = 0.0  # answers asked for several queries whose last copies the passage
    # answers asked for several queries where one string runs on to max_tokens (SmolLM2-135M's URL of
    # 80 path segments): the queries before it finished, the list cut inside it
    rate_runaway_query: float = 0.0
    rate_short: float = 0.0  # example answers whose long fields are far too short (a fifth of the ask)
    brainstorm_latency: float = 0.0  # extra seconds before a brainstorm is answered (a slow step 1)


class FakeLLM:
    """The answering logic, independent of HTTP."""

    def __init__(self, faults: Faults):
        self.faults = faults
        # Earlier answers by the shape of the prompt (keys, languages, lengths asked), for duplicate
        # faults: a copy must pass the same validation as the answer it copies, or it would be
        # rejected before dedup could see it.
        self.history: dict[tuple, list[dict]] = {}

    def words(self, rng: random.Random, n: int, language: str | None = None) -> str:
        vocab = WORDS.get(language or "", VOCAB)
        sep = "" if language in ("zh", "ja") else " "
        return sep.join(rng.choice(vocab) for _ in range(max(1, n)))

    def brainstorm(self, rng: random.Random) -> str:
        if rng.random() < self.faults.rate_brainstorm_junk:
            fragments = ["regression", "Dashboards", "find_related_to", '"query": "text"', "user_id"]
            junk = json.dumps(rng.sample(fragments, 3))
            return junk if rng.random() < 0.5 else junk[: len(junk) // 2]  # a list of fragments, or cut JSON
        subjects = [
            "recipes",
            "court rulings",
            "bird songs",
            "tax forms",
            "chess openings",
            "rare diseases",
            "train timetables",
            "poems",
            "patents",
            "bug reports",
            "song lyrics",
            "lab protocols",
        ]
        tasks = [
            f"Given a {rng.choice(['question', 'claim', 'title', 'complaint', 'keyword'])} about "
            f"{rng.choice(subjects)} ({self.words(rng, 2)}), retrieve {rng.choice(['documents', 'passages', 'answers'])} "
            f"that {rng.choice(['answer', 'support', 'refute', 'explain'])} it."
            for _ in range(20)
        ]
        return json.dumps(self.faults.brainstorm_extra + tasks)

    def example(self, prompt: str, rng: random.Random) -> dict:
        if passages_in(prompt):
            return grounded_answer(
                prompt, rng, self.faults.rate_short_negative, self.faults.rate_copied_query
            )
        keys = [k for k in ALL_KEYS if f'"{k}"' in prompt]
        if asked := [int(n) for n in _AT_LEAST.findall(prompt)]:
            doc = int(max(asked) * rng.uniform(1.0, 1.25))  # the documents' length, not the query's
        elif m := _LESS_THAN.search(prompt):
            doc = max(1, int(m.group(1)) // 2)
        elif m := _UNIT.search(prompt):
            doc = UNIT_WORDS[m.group(1)]
        else:
            doc = 8
        long_keys = {"positive_document", "hard_negative_document", "input", "input_text", "S1", "S2", "S3"}
        short_input = '"input"' in prompt and "very short" in prompt
        if self.faults.rate_short and rng.random() < self.faults.rate_short:  # no draw when off: answers stay
            doc = max(1, doc // 5)  # what a weak model writes when asked for a long document
        asked = [_NAME_TO_CODE.get(name) for name in _WRITTEN_IN.findall(prompt)]
        language, target = (asked + [None, None])[:2] if asked else (None, None)
        if rng.random() < self.faults.rate_wrong_language:
            language = target = "de" if language == "en" else "en"
        obj = {}
        for k in keys:
            lang = target if k in ("S2", "S3") and target else language
            if k in ("user_query",) or (k == "input" and short_input):
                obj[k] = self.words(rng, rng.randint(3, 8), lang)
            elif k in ("label", "misleading_label"):
                obj[k] = self.words(rng, 2, lang)
            elif k in long_keys:
                obj[k] = self.words(rng, doc if not short_input else rng.randint(3, 8), lang)
        return obj

    def answer(self, prompt: str, rng: random.Random) -> tuple[str, str | None]:
        """(answer text, name of the fault injected or None)."""
        if prompt.startswith("Brainstorm"):
            return self.brainstorm(rng), None
        if prompt.startswith("You judge"):
            return judge_answer(prompt), None
        f = self.faults
        fault = None
        shape = (
            tuple(k for k in ALL_KEYS if f'"{k}"' in prompt),
            tuple(_WRITTEN_IN.findall(prompt)),
            tuple(_AT_LEAST.findall(prompt)),
            tuple(_LESS_THAN.findall(prompt)),
            tuple(_UNIT.findall(prompt)),
        )
        earlier = self.history.setdefault(shape, [])
        roll = rng.random()
        if earlier and roll < f.rate_exact_dup:
            obj, fault = dict(rng.choice(earlier)), "exact_dup"
        elif earlier and roll < f.rate_exact_dup + f.rate_near_dup:
            obj, fault = {k: _one_word_changed(v, rng) for k, v in rng.choice(earlier).items()}, "near_dup"
        else:
            obj = self.example(prompt, rng)
            earlier.append(obj)
        if rng.random() < f.rate_missing_key and obj:
            obj.pop(next(iter(obj)))
            fault = "missing_key"
        text = json.dumps(obj, ensure_ascii=False)
        roll = rng.random()
        if roll < f.rate_malformed:
            return text[: len(text) // 2], "malformed"  # cut mid-string: not JSON
        if roll < f.rate_malformed + f.rate_fenced:
            return f"```json\n{text}\n```", fault or "fenced"
        if roll < f.rate_malformed + f.rate_fenced + f.rate_prose:
            return f"Sure! Here is the example you asked for:\n{text}\nI hope this helps.", fault or "prose"
        return text, fault


def _one_word_changed(text: str, rng: random.Random) -> str:
    words = text.split()
    if len(words) < 4:
        return text + " " + rng.choice(VOCAB)
    words[rng.randrange(len(words))] = rng.choice(VOCAB)
    return " ".join(words)


class FakeOpenAI(LoopbackServer):
    """The HTTP server (aiohttp), run on its own event loop in a background thread."""

    name = "fake-openai"

    def __init__(
        self,
        latency: float = 0.0,
        api_key: str | None = None,
        port: int = 0,
        *,
        guided_support: tuple[str, ...] = GUIDED_KINDS,  # response_format kinds taken; others get a 500
        reject_params: tuple[str, ...] = (),  # body fields refused with OpenAI's 400
        context_length: int | None = None,  # tokens of prompt + max_tokens; None: no limit
        models_style: str = "none",  # how /v1/models (and /props) report context_length
        context_errors: str = "vllm",  # whose words an over-long request is answered with
        output_limit: int | None = None,  # most max_tokens taken, refused in OpenAI's words above it
        **faults,
    ):
        super().__init__(port)
        assert set(guided_support) <= set(GUIDED_KINDS), f"guided_support: use {GUIDED_KINDS}"
        assert models_style in MODELS_STYLES and context_errors in CONTEXT_ERRORS
        self.latency = latency
        self.api_key = api_key
        self.guided_support = guided_support
        self.reject_params = reject_params
        self.context_length = context_length
        self.models_style = models_style
        self.context_errors = context_errors
        self.output_limit = output_limit
        self.models_asked = 0  # GET /v1/models requests
        self.llm = FakeLLM(Faults(**faults))
        self.requests: list[dict] = []  # every request: call key, prompt, status
        self.authorizations: set[str | None] = set()  # every Authorization header seen
        self.seen: Counter[str] = Counter()
        # A prompt cache as a server with a few slots keeps one: the prompts it read last, of which
        # the longest shared prefix with a new prompt is served from the cache (reported as OpenAI does).
        self._cached_prompts: deque[str] = deque(maxlen=4)
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def answered(self) -> list[dict]:
        return [r for r in self.requests if r["status"] == 200]

    def _record(self, key: str, prompt: str) -> int:
        with self._lock:
            nth = self.seen[key]
            self.seen[key] += 1
            return nth

    async def _chat(self, request):
        from aiohttp import web

        self.authorizations.add(request.headers.get("Authorization"))
        if self.api_key is not None and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response(
                {
                    "error": {
                        "message": "Incorrect API key provided.",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                },
                status=401,
            )
        body = await request.json()
        prompt = body["messages"][-1]["content"]
        key = request.headers.get("X-Synthembed-Call") or hashlib.sha256(prompt.encode()).hexdigest()[:16]
        # A refused request is checked before it counts as one of the call's requests, as a real server
        # validates before it generates: the faults still hit the first request that gets through.
        if (refusal := self._refuse(body, prompt)) is not None:
            status, error = refusal
            self.requests.append(
                {
                    "key": key,
                    "prompt": prompt,
                    "nth": None,
                    "status": status,
                    "t": time.monotonic(),
                    "response_format": body.get("response_format"),
                    "max_tokens": body.get("max_tokens"),
                    "refused": error["message"],
                }
            )
            return web.json_response({"error": error}, status=status)
        nth = self._record(key, prompt)
        # The answer depends on the call alone, so a retried or resumed call gets the same answer;
        # HTTP faults hit only a call's first request, so retries get through.
        rng = random.Random(key)
        entry = {
            "key": key,
            "prompt": prompt,
            "nth": nth,
            "status": 200,
            "t": time.monotonic(),
            "response_format": body.get("response_format"),
            "max_tokens": body.get("max_tokens"),
        }
        f = self.llm.faults
        fault = random.Random(f"{key}:fault").random() if nth == 0 else 1.0
        if self.latency:
            await asyncio.sleep(self.latency)
        if f.brainstorm_latency and prompt.startswith("Brainstorm"):
            await asyncio.sleep(f.brainstorm_latency)
        if fault < f.rate_429:
            entry["status"] = 429
            self.requests.append(entry)
            return web.json_response(
                {"error": {"message": "Rate limit reached", "type": "rate_limit_exceeded"}},
                status=429,
                headers={"Retry-After": str(f.retry_after)},
            )
        if fault < f.rate_429 + f.rate_500:
            entry["status"] = 500
            self.requests.append(entry)
            return web.json_response(
                {"error": {"message": "internal error", "type": "server_error"}}, status=500
            )
        if fault < f.rate_429 + f.rate_500 + f.rate_hang:
            entry["status"] = "hang"
            self.requests.append(entry)
            await asyncio.sleep(f.hang_s)
        if fault < f.rate_429 + f.rate_500 + f.rate_hang + f.rate_drop:
            entry["status"] = "dropped"
            self.requests.append(entry)
            request.transport.close()
            return web.Response(status=500)  # never reaches the client
        content, entry["fault"] = self.llm.answer(prompt, rng)
        with self._lock:
            shared = max((_common_prefix(prompt, p) for p in self._cached_prompts), default=0)
            self._cached_prompts.append(prompt)
        self.requests.append(entry)
        completion_tokens = max(1, len(content) // 4)
        prompt_tokens, finish = len(prompt) // 4, "stop"
        if (
            prompt.startswith("Brainstorm")
            and random.Random(f"{key}:ramble").random() < f.rate_brainstorm_ramble
        ):
            # a weak model repeating its list until max_tokens: cut mid-item, as the server does
            content, finish = content[: len(content) // 2], "length"
            completion_tokens = body.get("max_tokens") or completion_tokens
        runaway = random.Random(f"{key}:runaway")
        if '"queries"' in prompt and runaway.random() < f.rate_runaway_query:
            queries = json.loads(content)["queries"]
            finished = queries[: runaway.randrange(len(queries))]
            content = json.dumps({"queries": finished})[:-2] + (', "' if finished else '"')
            content += "https://www.example.com/" + "/".join(str(n) for n in range(400))
            content, finish = content[: 4 * (body.get("max_tokens") or 256)], "length"
            completion_tokens = body.get("max_tokens") or completion_tokens
        if self.context_length is not None:  # count as the context check does
            prompt_tokens = self.prompt_tokens(prompt)
            # llama-cpp-python stops the answer at the context's end, without saying so (or at max_tokens)
            room = min(self.context_length - prompt_tokens, body.get("max_tokens") or self.context_length)
            if self.context_errors == "llama-cpp-python" and completion_tokens > room:
                content, completion_tokens, finish = content[: 4 * room], room, "length"
        return web.json_response(
            {
                "id": f"chatcmpl-{key}-{nth}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": finish,
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                    "prompt_tokens_details": {"cached_tokens": min(prompt_tokens, shared // 4)},
                },
            }
        )

    def prompt_tokens(self, prompt: str) -> int:
        """The fake's token count of a prompt: a few more than the client's estimate, as a chat
        template adds."""
        return len(prompt) // 4 + 12

    def _refuse(self, body: dict, prompt: str) -> tuple[int, dict] | None:
        """(status, error object) where the emulated server refuses this body, else None."""
        for name in self.reject_params:
            if name in body:
                return 400, {
                    "message": f"Unrecognized request argument supplied: {name}",
                    "type": "invalid_request_error",
                    "param": name,
                    "code": None,
                }
        fmt = body.get("response_format")
        if isinstance(fmt, dict) and fmt.get("type") != "text":
            kind = fmt.get("type")
            if kind == "json_object" and "schema" in fmt:
                kind = "json_object_schema"
            if kind not in self.guided_support:
                return 500, _pydantic_refusal(fmt, kind, self.guided_support)
        return self._overflow(body, prompt)

    def _overflow(self, body: dict, prompt: str) -> tuple[int, dict] | None:
        asked = body.get("max_tokens") or body.get("max_completion_tokens") or 0
        if self.output_limit is not None and asked > self.output_limit:
            message = (
                f"max_tokens is too large: {asked}. This model supports at most {self.output_limit} "
                f"completion tokens, whereas you provided {asked}."
            )
            return 400, {
                "message": message,
                "type": "invalid_request_error",
                "param": "max_tokens",
                "code": "invalid_value",
            }
        ctx = self.context_length
        if ctx is None:
            return None
        n = self.prompt_tokens(prompt)
        if self.context_errors == "vllm" and n + asked > ctx:
            message = (
                f"This model's maximum context length is {ctx} tokens. However, you requested "
                f"{n + asked} tokens ({n} in the messages, {asked} in the completion). Please reduce "
                "the length of the messages or completion."
            )
            return 400, {"message": message, "type": "BadRequestError", "param": None, "code": 400}
        if self.context_errors == "llama-cpp-python" and n >= ctx:  # it shortens max_tokens by itself
            message = (
                f"This model's maximum context length is {ctx} tokens. However, you requested "
                f"{n + asked} tokens ({n} in the messages, {asked} in the completion). Please reduce "
                "the length of the messages or completion."
            )
            return 400, {
                "message": message,
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
        if self.context_errors == "llama.cpp" and n >= ctx:
            return 400, {
                "code": 400,
                "message": f"request ({n} tokens) exceeds the available context size ({ctx} tokens)",
                "type": "exceed_context_size_error",
                "n_prompt_tokens": n,
                "n_ctx": ctx,
            }
        return None

    async def _models(self, request):
        from aiohttp import web

        self.models_asked += 1
        entry: dict = {"id": "fake", "object": "model"}
        if self.models_style == "vllm" and self.context_length:
            entry["max_model_len"] = self.context_length
        elif self.models_style == "llama.cpp" and self.context_length:
            # llama-server reports the trained context here and the served one in /props
            entry["meta"] = {"vocab_type": 2, "n_vocab": 49152, "n_ctx_train": 4 * self.context_length}
        elif self.models_style == "llama-cpp-python":
            entry = {"id": "/models/fake.gguf", "object": "model", "owned_by": "me", "permissions": []}
        return web.json_response({"object": "list", "data": [entry]})

    async def _props(self, request):
        from aiohttp import web

        if self.models_style != "llama.cpp" or not self.context_length:
            return web.json_response({"error": {"message": "File Not Found", "code": 404}}, status=404)
        settings = {"n_ctx": self.context_length}
        return web.json_response({"default_generation_settings": settings, "total_slots": 1})

    def routes(self, app) -> None:
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/props", self._props)


def _pydantic_refusal(fmt: dict, kind: str, taken: tuple[str, ...]) -> dict:
    """llama-cpp-python's answer to a response_format it does not take: its request model failed to
    validate, which its error handler turns into a 500 carrying pydantic's text and a traceback."""
    if kind == "json_object_schema":
        item = (
            "{'type': 'extra_forbidden', 'loc': ('body', 'response_format', 'schema'), "
            "'msg': 'Extra inputs are not permitted', 'input': {...}}"
        )
    else:
        allowed = " or ".join(f"'{k}'" for k in ("text", *(t for t in taken if t != "json_object_schema")))
        item = (
            f"{{'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), 'msg': \"Input should "
            f"be {allowed}\", 'input': '{fmt.get('type')}', 'ctx': {{'expected': \"{allowed}\"}}}}"
        )
    message = (
        f'1 validation error:\n  {item}\n\n  File "/site-packages/llama_cpp/server/app.py", line 376, '
        "in create_chat_completion\n    POST /v1/chat/completions"
    )
    return {"message": message, "type": "internal_server_error", "param": None, "code": None}


def main() -> None:
    parser = argparse.ArgumentParser(description="fake OpenAI-compatible LLM server on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per call")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--rate-429", type=float, default=0.0)
    parser.add_argument("--retry-after", type=float, default=0.05)
    args = parser.parse_args()
    server = FakeOpenAI(
        args.latency, args.api_key, args.port, rate_429=args.rate_429, retry_after=args.retry_after
    )
    server.start()
    print(f"READY {server.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


def _common_prefix(a: str, b: str) -> int:
    """Characters `a` and `b` share from their start (a binary search of slice comparisons, which
    run in C: the fake serves the throughput bench at hundreds of requests a second)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        mid = (low + high + 1) // 2
        if a[:mid] == b[:mid]:
            low = mid
        else:
            high = mid - 1
    return low


if __name__ == "__main__":
    main()
