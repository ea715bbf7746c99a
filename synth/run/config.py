"""The `synth.generate` command line, as one dataclass: every option's help lives on its field."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from common.cli import opt
from synth.backends.build import choose_backend
from synth.backends.local_backend import LOCAL_SLOTS

BACKENDS = ("openai", "openai-batch", "vllm", "local")
MAX_EXAMPLE_QUERIES = 8  # Promptagator's few-shot count; more makes a weak model copy or run out of room
MAX_QUERIES_PER_CALL = 8  # a longer list runs a weak model out of distinct things to ask


def read_example_queries(path: Path) -> tuple[str, ...]:
    """The first MAX_EXAMPLE_QUERIES distinct queries of a text file (one per line) or a .jsonl (its
    'text' or 'query' field), as shown to the LLM. ValueError (one line) for a file with none."""
    import json

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"--example-queries: cannot read {path}: {err}") from None
    queries: list[str] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if path.suffix == ".jsonl":
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"--example-queries: {path}:{n}: not valid JSON ({err})") from None
            line = str(row.get("text") or row.get("query") or "") if isinstance(row, dict) else ""
        text = " ".join(line.split())
        if text and text not in queries:
            queries.append(text)
    if not queries:
        raise ValueError(f"--example-queries: {path} holds no query")
    return tuple(queries[:MAX_EXAMPLE_QUERIES])


GUIDED = ("auto", "on", "off")
# How a run is carried out past one plain run ("run"), and the flag that asks for it. `cfg.mode` holds the
# one chosen (--dry-run prints any mode's plan and makes no call).
MODE_FLAG = {"shard": "--shard", "pools-only": "--pools-only", "ray": "--ray"}
FLAGS_OF_MODE = {
    "pools": "shard",
    "shard_rows": "shard",
    "shards": "ray",
    "pools_cover": "pools-only",
}  # flag -> its mode


@dataclass
class GenerateConfig:
    backend: str | None = opt(
        None,
        f"LLM backend: one of {', '.join(BACKENDS)} (default: openai with "
        "--base-url, a key in --api-key-env or an API --model; else local, the embedded "
        "SmolLM2-135M-Instruct on this machine's CPU)",
    )
    model: str | None = opt(
        None,
        "generator model: an API model name, an HF id (vllm), or a .gguf file or dir "
        "(local) (default: gpt-4o-mini on the API, smollm2-135m-instruct locally)",
    )
    out: Path = opt(
        Path("data/synth"), "dataset dir to write (and resume): absent, empty, or a run dir of this command"
    )
    allow_nonempty: bool = opt(
        False,
        "also write into a non-empty --out that holds no synth output (a folder of your own); a file already "
        "there is never replaced: a name the run writes (README.md, data, stats.json, plots) stops it first",
    )
    num_examples: int = opt(1000, "rows to keep after validation and dedup")
    languages: str | None = opt(
        None,
        "ISO codes, optionally weighted: 'en,ko,de' or 'en:0.6,de:0.4'; default: the paper's 93-language mix",
    )
    task_types: str | None = opt(None, "only these task types (paper weights): 'retrieval,sts'")
    task_mix: str | None = opt(None, "task type weights: 'retrieval:0.5,classification:0.5'")
    seed: int = opt(0, "run seed: knobs of call i come from (seed, i)")
    examples_per_task: int = opt(3, "examples generated per brainstormed task (paper: ~3)")
    max_reasks: int = opt(2, "re-asks of a call whose answer fails validation, before it is rejected")
    brainstorm_share: float = opt(
        0.1,
        "most brainstorm calls (re-asks included) per example call of the same task type, in (0, 1]; "
        "past it, or after brainstorms that add nothing, tasks are reused",
    )
    max_calls: int | None = opt(None, "bound on LLM calls over the whole run (default 3*num_examples+100)")
    max_cost: float | None = opt(None, "stop cleanly once this many USD are spent (exit status 3)")
    concurrency: int | None = opt(
        None,
        "calls in flight at once (default 64 for openai, 20000 for openai-batch, 512 for vllm, "
        "4 for local: its decoding slots)",
    )
    rpm: int | None = opt(None, "requests-per-minute limit (openai)")
    tpm: int | None = opt(None, "tokens-per-minute limit, estimated (openai)")
    timeout: float = opt(300.0, "seconds before one HTTP call times out (openai)")
    max_retries: int = opt(8, "retries of a call after 429/5xx/timeouts (openai)")
    temperature: float = opt(1.0, "sampling temperature (paper: 1.0)")
    top_p: float = opt(1.0, "nucleus sampling top_p (paper: 1.0)")
    max_tokens_cap: int = opt(8192, "upper bound on max_tokens of one call (the model's output limit)")
    base_url: str | None = opt(None, "OpenAI-compatible server, e.g. http://localhost:8000/v1 (vllm serve)")
    api_key_env: str = opt("OPENAI_API_KEY", "environment variable that holds the API key")
    guided: str = opt(
        "auto",
        "JSON-schema guided decoding: auto (vllm: on; openai: response_format json_schema, stepping down "
        "to json_object, then to none where the server refuses it; openai-batch: off), on (json_schema "
        "only: a server that refuses it stops the run), off",
    )
    batch_window: float = opt(
        5.0, "seconds without a new call before the waiting calls go out as one batch (openai-batch)"
    )
    batch_max_requests: int = opt(
        50_000,
        "most calls in one batch, 1..50000 (OpenAI's limit); lower it if batches fail on the "
        "enqueued-token limit (openai-batch)",
    )
    batch_poll_s: float = opt(
        30.0, "seconds between status checks of a running batch, growing to 4x (openai-batch)"
    )
    tensor_parallel_size: int = opt(1, "GPUs per model for --backend vllm")
    prices: Path | None = opt(
        None, 'JSON file {"model": [usd_in_per_1M, usd_out_per_1M]} overriding the price table'
    )
    price_in: float | None = opt(None, "USD per 1M prompt tokens (overrides the table)")
    price_out: float | None = opt(None, "USD per 1M completion tokens (overrides the table)")
    language_check: bool = opt(True, "re-ask/reject answers not in the asked language (py3langid)")
    corpus: Path | None = opt(
        None,
        "your documents (a folder of .txt/.md, a .jsonl/.parquet with 'text', a BEIR "
        "dir, or passages.jsonl): rows are grounded in their passages (task types "
        "grounded_query, multi_hop)",
    )
    chunk_tokens: int = opt(
        256, "with --corpus: token budget of one passage (documents are chunked on paragraphs)"
    )
    example_queries: Path | None = opt(
        None,
        "with --corpus: a file of real queries your users write (one per line, or .jsonl with 'text'); "
        f"up to {MAX_EXAMPLE_QUERIES} are shown to the LLM as the style its grounded queries should take",
    )
    llm_negatives: bool = opt(
        True,
        "ask the LLM for the optional hard negative of grounded queries; --no-llm-negatives when "
        "synth.mine will give every row mined negatives: the negative is most of what such a call decodes",
    )
    queries_per_call: int = opt(
        1,
        "with --corpus: queries a grounded_query call asks of its passage (1-8), each a row of its own: "
        "the passage is read once for all; needs --no-llm-negatives",
    )
    neighbour_model: str | None = opt(
        None,
        "with --corpus: sentence-transformers model whose embeddings pick the "
        "related passages of multi_hop questions; without it multi_hop is left out",
    )
    decontaminate: list[Path] | None = opt(
        None,
        "evaluation data (BEIR dirs, STS .tsv/.csv, .jsonl, .txt) whose 13-word n-grams rows must not share",
    )
    license: str = opt("other", "license written into the data card's metadata")
    push_to_hub: str | None = opt(
        None,
        "after a complete run, upload the dataset dir to this Hub dataset repo "
        "('org/name'; token from HF_TOKEN or `hf auth login`; .synth/ is never uploaded)",
    )
    private: bool = opt(
        False, "with --push-to-hub: create the repo private (an existing repo keeps its visibility)"
    )
    dry_run: bool = opt(False, "print the plan, token and cost estimate, and sample prompts; make no calls")
    progress: bool = opt(True, "show a progress bar")
    shard: str | None = opt(
        None,
        "run shard K of N ('2/8'): the calls whose index mod N is K, into its own --out; "
        "python -m synth.merge joins the shard dirs into one dataset",
    )
    pools: Path | None = opt(
        None,
        "with --shard: the dir of brainstormed task pools every shard reads (made once "
        "by --pools-only); not needed when no task type brainstorms",
    )
    pools_only: bool = opt(
        False,
        "brainstorm the task pools that sharded runs of --num-examples need, once, into "
        "--out (give that dir to each shard as --pools); makes no examples",
    )
    pools_cover: int | None = opt(
        None,
        "with --pools-only: brainstorm for the calls below this index (default: "
        "1.5 * num_examples + 64); raise it to extend pools a shard ran past",
    )
    shard_rows: int | None = opt(
        None,
        "with --shard: rows this shard keeps, deduped within it (default: "
        "ceil(1.05 * num_examples / N) + 8, a little over its share)",
    )
    ray: str | None = opt(
        None,
        "run --shards N shards as Ray tasks, then merge them into --out: 'auto' (the cluster "
        "this machine joined with `ray start`, else a local one) or a cluster address; needs "
        "pip install 'synthembed[ray]'",
    )
    shards: int | None = opt(None, "with --ray: how many shards (Ray tasks) to split the run into")
    ray_retries: int = opt(
        3, "with --ray: times a failed or lost shard task runs again (it resumes from its journal)"
    )

    def __post_init__(self) -> None:
        self.backend, self.model, self.backend_note = choose_backend(
            self.backend, self.model, self.base_url, self.api_key_env
        )
        if self.backend not in BACKENDS:
            raise ValueError(f"--backend: {self.backend!r} is not one of {', '.join(BACKENDS)}")
        if self.guided not in GUIDED:
            raise ValueError(f"--guided: {self.guided!r} is not one of {', '.join(GUIDED)}")
        for name in ("num_examples", "examples_per_task", "tensor_parallel_size", "max_tokens_cap"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("concurrency", "rpm", "tpm", "max_calls"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
        if self.max_reasks < 0 or self.max_retries < 0:
            raise ValueError("--max-reasks and --max-retries must be >= 0")
        if not 0 < self.brainstorm_share <= 1:
            raise ValueError(f"--brainstorm-share must be in (0, 1], got {self.brainstorm_share}")
        if self.timeout <= 0:
            raise ValueError(f"--timeout must be > 0 seconds, got {self.timeout}")
        if not 0 <= self.temperature <= 2 or not 0 < self.top_p <= 1:
            raise ValueError("--temperature must be in [0, 2] and --top-p in (0, 1]")
        if self.batch_window <= 0 or self.batch_poll_s <= 0:
            raise ValueError("--batch-window and --batch-poll-s must be > 0 seconds")
        if not 1 <= self.batch_max_requests <= 50_000:
            raise ValueError(f"--batch-max-requests must be in 1..50000, got {self.batch_max_requests}")
        if self.backend == "openai-batch" and (self.rpm or self.tpm):
            raise ValueError(
                "--rpm/--tpm pace live calls; the Batch API has none (lower --batch-max-requests instead)"
            )
        if self.backend in ("vllm", "local") and self.base_url:
            raise ValueError(
                f"--base-url is for --backend openai (an OpenAI-compatible server), not {self.backend}"
            )
        if not 1 <= self.queries_per_call <= MAX_QUERIES_PER_CALL:
            raise ValueError(
                f"--queries-per-call must be in 1..{MAX_QUERIES_PER_CALL}, got {self.queries_per_call}"
            )
        if self.queries_per_call > 1 and self.llm_negatives:
            raise ValueError(
                "--queries-per-call asks several queries and no hard negative: add --no-llm-negatives "
                "(synth.mine gives the rows their negatives)"
            )
        if self.example_queries is not None:
            if self.corpus is None:
                raise ValueError("--example-queries shapes grounded queries: it needs --corpus")
            self.example_query_texts = read_example_queries(self.example_queries)
        else:
            self.example_query_texts = ()
        self._check_scale_out()
        if self.queries_per_call > 1 and self.mode == "shard":
            # synth.merge accounts calls as answers; several answers to a call would break its tally
            raise ValueError("--queries-per-call above 1 is for single-machine runs, not --shard")
        if self.max_calls is None:
            rows = self.shard_rows if self.mode == "shard" else self.num_examples
            self.max_calls = 3 * rows + 100
        if self.concurrency is None:
            self.concurrency = {"vllm": 512, "openai-batch": 20_000, "local": LOCAL_SLOTS}.get(
                self.backend, 64
            )

    def _check_scale_out(self) -> None:
        """--shard, --pools-only and --ray are three ways to run (`mode`); each takes its own flags."""
        from synth.run.shards import parse_shard, shard_rows

        chosen = [m for m, flag in MODE_FLAG.items() if getattr(self, flag.lstrip("-").replace("-", "_"))]
        if len(chosen) > 1:
            raise ValueError(f"{' and '.join(MODE_FLAG[m] for m in chosen)} do not go together: pick one")
        self.mode = chosen[0] if chosen else "run"
        for name, mode in FLAGS_OF_MODE.items():
            if getattr(self, name) is not None and self.mode != mode:
                raise ValueError(f"--{name.replace('_', '-')} is for {MODE_FLAG[mode]} runs")
        if self.pools_cover is not None and self.pools_cover < 1:
            raise ValueError(f"--pools-cover must be at least 1, got {self.pools_cover}")
        if self.ray and not self.shards:
            raise ValueError("--ray needs --shards N (how many Ray tasks to split the run into)")
        if self.shards is not None and self.shards < 1:
            raise ValueError(f"--shards must be at least 1, got {self.shards}")
        if self.ray_retries < 0:
            raise ValueError(f"--ray-retries must be >= 0, got {self.ray_retries}")
        if self.mode in ("shard", "pools-only") and self.push_to_hub:
            raise ValueError(
                "--push-to-hub publishes a whole dataset: merge the shards (python -m synth.merge), "
                "then push the merged dir (python -m synth.publish)"
            )
        if self.mode == "shard":
            shard = parse_shard(self.shard)
            if self.shard_rows is None:
                self.shard_rows = shard_rows(self.num_examples, shard.n)
            elif self.shard_rows < 1:
                raise ValueError(f"--shard-rows must be at least 1, got {self.shard_rows}")
