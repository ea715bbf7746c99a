"""A fake LLM behind a real OpenAI-compatible HTTP server on 127.0.0.1, for tests and benchmarks.

It answers brainstorm prompts with a JSON list of task definitions and generate prompts with a JSON
object holding the keys the prompt names, sized to the word counts the prompt asks for. Answers are
deterministic per call: the randomness is seeded by the X-Synthembed-Call header (or the prompt). Faults are injected at configurable rates: 429 with Retry-After,
500, hangs past the client timeout, malformed / fenced / prose-wrapped JSON, missing keys, exact and
near-duplicate answers. HTTP faults hit only the first request of a call, so retries succeed.

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
from collections import Counter
from dataclasses import dataclass, field

from synth.languages import LANGUAGES
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


@dataclass
class Faults:
    rate_429: float = 0.0
    retry_after: float = 0.05
    rate_500: float = 0.0
    rate_hang: float = 0.0
    hang_s: float = 5.0
    rate_malformed: float = 0.0
    rate_fenced: float = 0.0
    rate_prose: float = 0.0
    rate_missing_key: float = 0.0
    rate_exact_dup: float = 0.0
    rate_near_dup: float = 0.0
    rate_wrong_language: float = 0.0  # answer in English (German if English was asked)
    brainstorm_extra: list[str] = field(default_factory=list)  # put into every brainstorm answer


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
        subjects = ["recipes", "court rulings", "bird songs", "tax forms", "chess openings", "rare diseases",
                    "train timetables", "poems", "patents", "bug reports", "song lyrics", "lab protocols"]  # fmt: skip
        tasks = [
            f"Given a {rng.choice(['question', 'claim', 'title', 'complaint', 'keyword'])} about "
            f"{rng.choice(subjects)} ({self.words(rng, 2)}), retrieve {rng.choice(['documents', 'passages', 'answers'])} "
            f"that {rng.choice(['answer', 'support', 'refute', 'explain'])} it."
            for _ in range(20)
        ]
        return json.dumps(self.faults.brainstorm_extra + tasks)

    def example(self, prompt: str, rng: random.Random) -> dict:
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
        f = self.faults
        fault = None
        shape = (tuple(k for k in ALL_KEYS if f'"{k}"' in prompt), tuple(_WRITTEN_IN.findall(prompt)),
                 tuple(_AT_LEAST.findall(prompt)), tuple(_LESS_THAN.findall(prompt)), tuple(_UNIT.findall(prompt)))  # fmt: skip
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

    def __init__(self, latency: float = 0.0, api_key: str | None = None, port: int = 0, **faults):
        super().__init__(port)
        self.latency = latency
        self.api_key = api_key
        self.llm = FakeLLM(Faults(**faults))
        self.requests: list[dict] = []  # every request: call key, prompt, status
        self.seen: Counter[str] = Counter()
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

        if self.api_key is not None and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response({"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error",
                                                "code": "invalid_api_key"}}, status=401)  # fmt: skip
        body = await request.json()
        prompt = body["messages"][-1]["content"]
        key = request.headers.get("X-Synthembed-Call") or hashlib.sha256(prompt.encode()).hexdigest()[:16]
        nth = self._record(key, prompt)
        # The answer depends on the call alone, so a retried or resumed call gets the same answer;
        # HTTP faults hit only a call's first request, so retries get through.
        rng = random.Random(key)
        entry = {"key": key, "prompt": prompt, "nth": nth, "status": 200, "t": time.monotonic(),
                 "response_format": body.get("response_format"), "max_tokens": body.get("max_tokens")}  # fmt: skip
        f = self.llm.faults
        fault = random.Random(f"{key}:fault").random() if nth == 0 else 1.0
        if self.latency:
            await asyncio.sleep(self.latency)
        if fault < f.rate_429:
            entry["status"] = 429
            self.requests.append(entry)
            return web.json_response({"error": {"message": "Rate limit reached", "type": "rate_limit_exceeded"}},
                                     status=429, headers={"Retry-After": str(f.retry_after)})  # fmt: skip
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
        content, entry["fault"] = self.llm.answer(prompt, rng)
        self.requests.append(entry)
        completion_tokens = max(1, len(content) // 4)
        return web.json_response({
            "id": f"chatcmpl-{key}-{nth}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": len(prompt) // 4, "completion_tokens": completion_tokens,
                      "total_tokens": len(prompt) // 4 + completion_tokens},
        })  # fmt: skip

    async def _models(self, request):
        from aiohttp import web

        return web.json_response({"object": "list", "data": [{"id": "fake", "object": "model"}]})

    def routes(self, app) -> None:
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)


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


if __name__ == "__main__":
    main()
