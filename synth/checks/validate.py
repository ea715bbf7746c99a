"""Schema and semantic checks of step-1 and step-2 answers.

Each check that fails raises `Reject` with a short machine-readable reason; the runner counts the
reasons in stats.json and keeps every rejected answer with its reason.

Step 1 (`validate_brainstorm`): each item of the list must read as an instruction sentence, or it
is set aside with a reason (`task_too_short`, `task_too_long`, `task_identifier`, `task_fragment`,
`task_not_text`, `copied_example`); a weak model's broken JSON otherwise turns into tasks such as
"regression" or `"query": "x"`, and a weak model copies the prompt's examples.

Step 2: an instruction the answer writes (grounded types) is checked the same way, and must take the
form its prompt sets (`task_form`: it starts with "Given"); any field repeating an example the
prompt showed (`synth.plan.task_spec.Field.example`) is rejected as `copied_example`.

Step 2 (`validate_example`), the length rule: every long field of an answer (declared in
`synth.plan.tasks` with a `Length`: the documents, classification's input, the S1-S3 of a triple) must have at least MIN_WORDS_FACTOR
(one half) of the words its prompt asked, and, where the prompt set a maximum, at most
MAX_WORDS_FACTOR times it plus MAX_WORDS_SLACK. Words are counted per field in its language
(characters / average word length for scripts written without spaces). Anything else is rejected as
`too_short` or `too_long`, naming the field. A search query (a query field with no declared length)
of `query_max_chars` characters or more is `too_long` too: a runaway string, or one the schema's
maxLength cut.

Optional fields (declared `optional`: a grounded query's hard negative) are checked like the rest,
but one that fails is dropped with its reason (`Fields.dropped`) and the answer stands on its
required fields: a weak model's three-word negative should not cost the query it paid for.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from synth.checks.langcheck import wrong_language
from synth.checks.parsing import ParseError, extract_json
from synth.checks.text import count_words, count_words_any, normalize
from synth.plan.languages import UNSPACED
from synth.plan.tasks import TASK_TYPES

# The length rule. LLMs count words badly and stop early, so the floor is half of what was asked: an
# answer that short (34 words for 100, say) did not try; a stricter one would pay for re-asks of
# usable examples. The ceiling is loose for the same reason, with slack so that "less than 10
# words" does not reject 31.
MIN_WORDS_FACTOR = 0.5
MAX_WORDS_FACTOR = 3.0
MAX_WORDS_SLACK = 5
QUERY_COPY_MIN_WORDS = 6  # shorter queries may appear in a relevant document by chance
# A short grounded query (a keyword query) in its passage's language must share a word of this many
# characters with it that is not one of the words any query may use: SmolLM2-135M's kept queries
# included "123", "test", "a query" and "Your search query" over Python's help topics. Longer queries
# may paraphrase the passage in other words entirely, as the prompt asks.
KEYWORD_QUERY_MAX_WORDS = 3
SHARED_WORD_MIN_CHARS = 4
STEM_CHARS = 5  # words match on their first five characters: "objects" finds "object"
ANY_QUERY_WORDS = frozenset(
    "about also answer answers because between collection could does document documents does find from "
    "have into like looking more most need passage passages question questions query retrieve sample "
    "search should some that their there these they this what when where which while with would your".split()
)

# A task definition reads as an instruction: "Given a claim, find evidence." has 5 words. Fewer is a
# name or a topic ("Product reviews"), not something an example can be written for.
TASK_MIN_WORDS = 4
# ... and one sentence: the longest instructions of the paper's kind run to about 25 words; a 60-word
# "instruction" is a weak model's summary of its passage, not something a retriever is told.
TASK_MAX_WORDS = 40
TASK_MIN_LETTER_SHARE = 0.5  # letters among the non-space characters of a task definition


class Reject(ValueError):
    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@cache
def schema_model(task_type: str) -> type[BaseModel]:
    spec = TASK_TYPES[task_type]
    return create_model(  # type: ignore[call-overload]
        f"{task_type}_example",
        __config__=ConfigDict(extra="ignore", strict=True),
        **{f.key: (str | None, None) if f.optional else (str, ...) for f in spec.fields},
    )


QUERIES_KEY = "queries"  # the key of an answer asked for several queries of one passage
# A query this long is a runaway string, not a search query: SciFact's longest of 807 expert claims
# has 249 characters (99% have at most 172). Backends whose guided decoding honours maxLength (the
# local engine) stop a query string here; whatever the backend, a query of this length is rejected.
QUERY_MAX_CHARS = 256


def query_max_chars(examples: Sequence[str] = ()) -> int:
    """The longest query allowed: QUERY_MAX_CHARS, or twice the user's longest example query.

    >>> query_max_chars(), query_max_chars(["x" * 300])
    (256, 600)
    """
    return max([QUERY_MAX_CHARS, *(2 * len(e) for e in examples)])


def json_schema(
    task_type: str, optional: bool = True, queries: int = 1, max_query_chars: int | None = None
) -> dict:
    """JSON schema of a step-2 answer, for backends that offer guided decoding (`optional`: whether
    the prompt asked for the optional fields; guided decoding then writes none; `queries` > 1: the
    answer is {"queries": [...]}, that many strings; `max_query_chars`: a maxLength on each query
    string, for engines that honour it; strict API schemas allow no length keywords)."""
    query: dict = {"type": "string"}
    if max_query_chars is not None:
        query["maxLength"] = max_query_chars
    if queries > 1:
        items = {"type": "array", "items": query, "minItems": queries, "maxItems": queries}
        return {
            "type": "object",
            "properties": {QUERIES_KEY: items},
            "required": [QUERIES_KEY],
            "additionalProperties": False,
        }
    spec = TASK_TYPES[task_type]
    keys = [f.key for f in spec.asked_fields(optional)]
    query_key = next((f.key for f in spec.fields if f.role == "query" and f.length is None), None)
    return {
        "type": "object",
        "properties": {k: query if k == query_key else {"type": "string"} for k in keys},
        # Strict structured outputs (OpenAI) require every property; an optional one may come empty.
        "required": keys,
        "additionalProperties": False,
    }


def parse_answer(text: str):
    try:
        return extract_json(text)
    except ParseError as err:
        raise Reject(err.reason, err.detail) from None


_LIST_PREFIX = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s*")
_JSON_KEY = re.compile(r'"\s*:')  # the end of a JSON key: `"query": "x"`, or `query": ` cut from one
_IDENTIFIER = re.compile(r"[\w.:/\\-]+")  # one token: snake_case, camelCase, dotted.name, a word
_PAIRS = ("()", "[]", "{}")


@dataclass
class BrainstormAnswer:
    """A step-1 answer: the task definitions kept, and the items set aside, each as
    {"task": item text, "reason": "task_...", "detail": why}."""

    tasks: list[str]
    rejected: list[dict[str, str]] = field(default_factory=list)


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def complete_list_items(text: str) -> list[str]:
    """The finished strings of a JSON list cut off mid-answer (at max_tokens): each closed string
    after the first '[' that a ',' or ']' follows; the unfinished last one is left out.

    >>> complete_list_items('{"tasks": ["Given a claim, find evidence.", "Given a title, find its ab')
    ['Given a claim, find evidence.']
    """
    start = text.find("[")
    if start < 0:
        return []
    items = []
    for match in _JSON_STRING.finditer(text, start):
        rest = text[match.end() :].lstrip()
        if rest[:1] in (",", "]"):
            items.append(json.loads(match.group()))
    return items


def validate_brainstorm(text: str) -> BrainstormAnswer:
    """A JSON list of task definitions (a dict holding one such list is accepted too); list bullets
    and numbers are stripped and blank items dropped. Raises `Reject` when the answer holds no list
    ("not_a_list"), an empty one ("empty_list"), or no item that reads as a task ("no_valid_task").

    >>> validate_brainstorm('["1. Given a claim, find evidence.", "regression"]').tasks
    ['Given a claim, find evidence.']
    """
    value = parse_answer(text)
    if isinstance(value, dict) and len(value) == 1:
        value = next(iter(value.values()))
    if not isinstance(value, list):
        raise Reject("not_a_list", f"expected a JSON list of task definitions, got {type(value).__name__}")
    answer = BrainstormAnswer([])
    for item in value:
        if not isinstance(item, str):
            answer.rejected.append(
                {"task": str(item)[:200], "reason": "task_not_text", "detail": f"a {type(item).__name__}"}
            )
            continue
        task = _LIST_PREFIX.sub("", item).strip()
        if not task:
            continue
        problem = task_problem(task)
        if problem is None and (example := copied_example(task, brainstorm_examples())) is not None:
            problem = ("copied_example", f"repeats the prompt's example {example[:60]!r}")
        if problem is None:
            answer.tasks.append(task)
        else:
            answer.rejected.append({"task": task, "reason": problem[0], "detail": problem[1]})
    if not answer.tasks:
        if not answer.rejected:
            raise Reject("empty_list", "no task definitions in the list")
        reasons = sorted({r["reason"] for r in answer.rejected})
        first = answer.rejected[0]
        raise Reject(
            "no_valid_task",
            f"{len(answer.rejected)} items, none an instruction ({', '.join(reasons)}); "
            f"first {first['task'][:60]!r}: {first['detail']}",
        )
    return answer


def task_problem(task: str) -> tuple[str, str] | None:
    """(reason, detail) when `task` does not read as an instruction sentence, else None.

    >>> task_problem("find_related_to")
    ('task_identifier', 'a bare identifier, not an instruction')
    """
    if _JSON_KEY.search(task) or '\\"' in task:
        return "task_fragment", "a piece of JSON (a key, or an escaped quote)"
    if task.count('"') % 2 or any(task.count(a) != task.count(b) for a, b in _PAIRS):
        return "task_fragment", "unbalanced quotes or brackets: cut from broken JSON"
    if task[0] in "{}[]:," or task[-1] in "{[:,":
        return "task_fragment", "starts or ends with JSON punctuation"
    chars = "".join(task.split())
    # Letters and the vowel signs of abugidas (Devanagari, Thai, ...), which are marks, not letters.
    letters = sum(unicodedata.category(c)[0] in "LM" for c in chars)
    if letters < TASK_MIN_LETTER_SHARE * len(chars):
        return "task_fragment", "mostly not letters"
    words = count_words_any(task)
    if words == 1 and _IDENTIFIER.fullmatch(task):  # one token, and not a run of Chinese or Thai
        return "task_identifier", "a bare identifier, not an instruction"
    if words < TASK_MIN_WORDS:
        return "task_too_short", f"{words:.0f} words; an instruction has at least {TASK_MIN_WORDS}"
    if words > TASK_MAX_WORDS:
        return (
            "task_too_long",
            f"{words:.0f} words; an instruction is one sentence of at most {TASK_MAX_WORDS}",
        )
    return None


@cache
def brainstorm_examples() -> tuple[str, ...]:
    """Every example task a step-1 prompt shows (declared in `synth.plan.tasks`). A brainstormed task is
    checked against all of them: one repeating another type's example is no more a new task."""
    return tuple(e for t in TASK_TYPES.values() for e in t.brainstorm_examples)


def copied_example(text: str, examples) -> str | None:
    """The example `text` repeats (the same words, a long example inside it, or a long piece of the
    example, as a weak model cuts the example short), or None.

    >>> copied_example("Given a claim, find evidence!", ["given a claim find evidence"])
    'given a claim find evidence'
    >>> copied_example("Given a question about tenancy law", ["Given a question about tenancy law, retrieve it."])
    'Given a question about tenancy law, retrieve it.'
    """
    t = normalize(text)
    long_text = len(t.split()) >= QUERY_COPY_MIN_WORDS
    for example in examples:
        e = normalize(example)
        if t == e or (len(e.split()) >= QUERY_COPY_MIN_WORDS and e in t) or (long_text and t in e):
            return example
    return None


class Fields(dict):
    """A valid answer's fields {key: text}; `dropped`: {key: reject reason} of the optional fields
    (declared `optional` in `synth.plan.tasks`) that failed their own checks and were left out."""

    def __init__(self, fields: dict[str, str], dropped: dict[str, str] | None = None):
        super().__init__(fields)
        self.dropped: dict[str, str] = dropped or {}


def validate_example(
    task_type: str,
    text: str,
    knobs: dict,
    passages: tuple[str, ...] = (),
    max_query_chars: int = QUERY_MAX_CHARS,
) -> Fields:
    """The answer's fields for `task_type`, or `Reject`. `passages`: the corpus passages a grounded
    prompt read (they are the positives, and a query must not copy them).

    An optional field (a grounded query's hard negative) that fails a check of its own (its length,
    its type, repeating the passage or the query) is dropped with the reason, and the answer stands
    on its required fields: the row keeps `negative` null and trains on mined or in-batch negatives.
    """
    return _validate_object(task_type, parse_answer(text), knobs, passages, max_query_chars)


def validate_queries(
    task_type: str,
    text: str,
    knobs: dict,
    passages: tuple[str, ...],
    queries: int,
    max_query_chars: int = QUERY_MAX_CHARS,
) -> list[Fields | Reject]:
    """An answer asked for `queries` queries of one passage ({"queries": [...]}), one result per query
    given (at most `queries`): each is checked alone, as the one query of a `task_type` answer would
    be, so a bad query costs its own row and not the others'. A list number ("1. ") is stripped; a
    query repeating an earlier one of the same answer is `repeated_query`. Raises `Reject` when the
    answer holds no list of queries.

    >>> validate_queries("grounded_query", '{"queries": ["vitamin D fractures", "2. vitamin D fractures"]}',
    ...                  {"language": "en"}, ("Vitamin D lowers the risk of fractures.",), 2)
    [{'query': 'vitamin D fractures'}, Reject('repeated_query: the same query as an earlier one of this answer')]
    """
    value = parse_answer(text)
    if isinstance(value, dict):
        value = value.get(QUERIES_KEY)
    if not isinstance(value, list):
        raise Reject("not_a_list", f'expected {{"{QUERIES_KEY}": [...]}}, a list of {queries} queries')
    if not value:
        raise Reject("empty_field", QUERIES_KEY)
    key = TASK_TYPES[task_type].field("query").key
    results: list[Fields | Reject] = []
    seen: set[str] = set()
    for item in value[:queries]:
        if isinstance(item, str):
            item = _LIST_PREFIX.sub("", item).strip()  # a weak model numbers its items ("1. What is ...")
            if (norm := normalize(item)) in seen:
                results.append(Reject("repeated_query", "the same query as an earlier one of this answer"))
                continue
        try:
            results.append(_validate_object(task_type, {key: item}, knobs, passages, max_query_chars))
            seen.add(norm)
        except Reject as r:
            results.append(r)
    return results


def _validate_object(
    task_type: str, value, knobs: dict, passages: tuple[str, ...], max_query_chars: int = QUERY_MAX_CHARS
) -> Fields:
    if not isinstance(value, dict):
        raise Reject("not_an_object", f"expected a JSON object, got {type(value).__name__}")
    spec = TASK_TYPES[task_type]
    missing = [k for k in spec.required_keys if k not in value]
    if missing:
        raise Reject("missing_keys", f"missing {', '.join(missing)}")
    optional = {f.key for f in spec.fields if f.optional}
    dropped = {
        k: "wrong_type" for k in optional if value.get(k) is not None and not isinstance(value[k], str)
    }
    try:
        obj = schema_model(task_type).model_validate({k: v for k, v in value.items() if k not in dropped})
    except ValidationError as err:
        bad = ", ".join(str(e["loc"][0]) for e in err.errors())
        raise Reject("wrong_type", f"not a string: {bad}") from None
    obj = {k: (v or "").strip() for k, v in obj.model_dump().items()}
    empty = [k for k, v in obj.items() if not v and k not in optional]
    if empty:
        raise Reject("empty_field", ", ".join(empty))
    obj = {k: v for k, v in obj.items() if v}  # an optional field left empty is absent
    passage_words = count_words_any(passages[0]) if passages else 0
    for key in sorted(optional & obj.keys()):
        try:
            _check_field(spec, key, obj, knobs, passages, passage_words, max_query_chars)
        except Reject as r:
            dropped[key] = r.reason
            del obj[key]
    for key in spec.required_keys:
        _check_field(spec, key, obj, knobs, passages, passage_words, max_query_chars)
    return Fields(obj, dropped)


def _check_field(
    spec,
    key: str,
    obj: dict[str, str],
    knobs: dict,
    passages: tuple[str, ...],
    passage_words: int,
    max_query_chars: int = QUERY_MAX_CHARS,
) -> None:
    """Every check of field `key` of an answer: its form, its length, and the texts it must differ
    from (a check between two fields belongs to both)."""
    f = next(f for f in spec.fields if f.key == key)
    text = obj[key]
    # A query with no declared length (a search query, not an sts sentence nor a long_long text) at
    # the schema's maxLength was cut there.
    if f.role == "query" and f.length is None and len(text) >= max_query_chars:
        raise Reject("too_long", f"{key}: {len(text)} characters, the limit is {max_query_chars - 1}")
    if f.role == "instruction" and (problem := task_problem(text)) is not None:
        raise Reject(problem[0], f"{key}: {problem[1]}")
    if (example := copied_example(text, spec.examples().values())) is not None:
        raise Reject("copied_example", f"{key} repeats the prompt's example {example[:60]!r}")
    if f.starts_with and not normalize(text).startswith(normalize(f.starts_with) + " "):
        raise Reject("task_form", f'{key}: does not start with "{f.starts_with}", as the prompt asks')
    if f.role == "negative" and passages and any(normalize(text) == normalize(p) for p in passages):
        raise Reject("positive_equals_negative", f"{key} repeats the passage")
    for a, b, reason in spec.distinct:
        if key in (a, b) and a in obj and b in obj and normalize(obj[a]) == normalize(obj[b]):
            raise Reject(reason, f"{a} and {b} are the same text")
    if spec.query_not_in_documents and f.role in ("query", "positive", "negative"):
        # A document answers for its own text, the query for the passages its prompt showed.
        query = obj[spec.field("query").key]
        against = passages if f.role == "query" else (text,)
        q = normalize(query)
        if count_words(query, knobs["language"]) >= QUERY_COPY_MIN_WORDS and any(
            q in normalize(d) for d in against
        ):
            where = "a passage" if f.role == "query" else key
            raise Reject("query_copied", f"the query appears verbatim in {where}")
    if (
        f.role == "query"
        and passages
        and count_words(text, knobs["language"]) <= KEYWORD_QUERY_MAX_WORDS
        and not shares_a_word(text, passages, knobs["language"])
    ):
        raise Reject("query_off_passage", f"{key} shares no word with its passage")
    if f.length is not None:
        _check_length(spec, key, text, knobs, passage_words)


def shares_a_word(query: str, passages: tuple[str, ...], language: str) -> bool:
    """Whether the query has a word of SHARED_WORD_MIN_CHARS+ characters, not in ANY_QUERY_WORDS, that
    a passage has too. True where the rule cannot judge: a language written without spaces, or a
    passage in another language than the query's (a cross-lingual query shares no words by design).

    >>> shares_a_word("how do objects compare", ("By default, object implements __eq__() by using is",), "en")
    True
    >>> shares_a_word("Your search query", ("By default, object implements __eq__() by using is",), "en")
    False
    """
    if language in UNSPACED or any(wrong_language(p, language) for p in passages):
        return True
    stems = {
        w[:STEM_CHARS]
        for w in normalize(query).split()
        if len(w) >= SHARED_WORD_MIN_CHARS and w not in ANY_QUERY_WORDS
    }
    return any(w[:STEM_CHARS] in stems for p in passages for w in normalize(p).split())


def _check_length(spec, key: str, text: str, knobs: dict, passage_words: int) -> None:
    """The length rule of the module docstring, on one long field."""
    low, high = spec.lengths(knobs, passage_words)[key]
    words = count_words(text, spec.field_languages(knobs).get(key, knobs["language"]))
    if words < low * MIN_WORDS_FACTOR:
        need = f"{low * MIN_WORDS_FACTOR:g}"
        raise Reject("too_short", f"{key}: {words:.0f} words, asked at least {low} (needs {need})")
    if high is not None and words > high * MAX_WORDS_FACTOR + MAX_WORDS_SLACK:
        limit = high * MAX_WORDS_FACTOR + MAX_WORDS_SLACK
        raise Reject("too_long", f"{key}: {words:.0f} words, asked at most {high} (allows {limit:g})")
