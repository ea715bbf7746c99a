"""eval reads what train's export writes, and embeds it as sentence-transformers does.

A tiny Mistral base plus a random LoRA adapter goes through ``train.export.export``; the exported
dir must give the same query and document vectors through our encoder and through
``SentenceTransformer(DIR)`` with its recorded query prompt (the design's loading contract).
"""

from __future__ import annotations

import inspect
import json
import random

import numpy as np
import pytest
import torch

from eval import retrieval, sts
from eval.encoder import Encoder
from eval.offline import evaluate_sts
from eval.sts import STS_INSTRUCTION
from eval.sts_file import load_sts
from tests.eval.conftest import sentence
from tests.tiny_models import build_mistral, build_tokenizer

INSTR = "find the passage about the text"


def _export(root, query_format: str = "instruct"):
    from train.backbone import add_lora, load_backbone
    from train.export import export

    base = root / "base"
    build_mistral().save_pretrained(base)
    build_tokenizer().save_pretrained(base)
    lora = dict(r=4, alpha=8, dropout=0.0, target="q_proj,v_proj")
    names = add_lora(load_backbone(str(base), dtype=torch.float32), **lora).state_dict()
    torch.manual_seed(5)  # a non-zero adapter, so the merge matters
    adapter = {"backbone." + k: torch.randn_like(v) * 0.1 for k, v in names.items() if "lora_" in k}
    # What the model card renders from (training flags and run totals).
    training = dict(
        batch_size=2,
        data=["x"],
        final_loss=1.0,
        lora_alpha=8,
        lora_dropout=0.0,
        lora_r=4,
        lora_target="q_proj,v_proj",
        lr=1e-4,
        rope_theta=None,
        rows=1,
        seconds=1,
        steps=1,
        temperature=0.02,
        tokens=1,
        warmup_steps=0,
    )
    kwargs = dict(
        adapter=adapter,
        tokenizer=build_tokenizer(),
        base_model=str(base),
        dtype=torch.float32,
        rope_theta=None,
        lora=lora,
        pooling="last",
        normalize=True,
        max_length=512,
        query_instruction=INSTR,
        training=training,
    )
    if "card" in inspect.signature(export).parameters:  # an earlier export() took the card values apart
        kwargs["card"] = {
            **training,
            "base_model": "tiny",
            "license": "mit",
            "max_length": 512,
            "pooling": "last",
            "repo_or_path": "x",
            "title": "t",
            "normalize": True,
        }
    if query_format != "instruct":
        kwargs["query_format"] = query_format
    return export(root / "out", **kwargs)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return _export(tmp_path_factory.mktemp("export"))


@pytest.fixture(scope="module")
def exported_plain(tmp_path_factory):
    """The same export, recorded as trained without instructions (train --query-format plain)."""
    return _export(tmp_path_factory.mktemp("export-plain"), "plain")


def test_exported_dir_embeds_like_sentence_transformers(exported):
    from sentence_transformers import SentenceTransformer

    from common.query_format import format_query

    rng = random.Random(0)
    texts = [sentence(rng, 1, 25) for _ in range(12)]
    ours = Encoder.load(str(exported), batch_size=5, show_progress=False)
    assert (ours.spec.kind, ours.spec.pooling, ours.spec.default_instruction) == ("synthembed", "last", INSTR)
    st = SentenceTransformer(str(exported), device="cpu")
    np.testing.assert_allclose(ours.encode(texts), st.encode(texts), atol=1e-5)
    np.testing.assert_allclose(
        ours.encode(texts, instruction=INSTR), st.encode(texts, prompt=format_query(INSTR, "")), atol=1e-5
    )


def test_retrieval_defaults_to_the_exported_instruction(exported, beir_dir, tmp_path):
    cfg = retrieval.Config(
        model=str(exported), data=beir_dir, out=str(tmp_path), cache_dir="", progress=False
    )
    assert retrieval.main(cfg)["instruction"] == INSTR


def _sts(model, sts_file, tmp_path, capsys, **kw):
    cfg = sts.Config(model=str(model), data=sts_file, out=str(tmp_path), cache_dir="", progress=False, **kw)
    result = sts.main(cfg)
    return result, capsys.readouterr().out


def test_a_model_trained_without_instructions_is_evaluated_without_them(
    exported, exported_plain, sts_file, beir_dir, tmp_path, capsys, caplog
):
    """Issue 8.13: eval.sts put "Retrieve semantically similar text." on a model trained without
    instructions. Now the model dir says so and every evaluator uses none, and prints that."""
    enc = Encoder.load(str(exported_plain), show_progress=False)
    assert (enc.spec.query_template, enc.spec.default_instruction, enc.takes_instructions) == (
        None,
        None,
        False,
    )
    assert Encoder.load(str(exported), show_progress=False).takes_instructions  # trained with them

    result, out = _sts(exported_plain, sts_file, tmp_path / "a", capsys)
    assert result["instruction"] is None and "instruction=none" in out
    plain_scores = result["scores"]
    # The same sentences without any instruction give exactly these scores ...
    data = load_sts(sts_file)
    assert evaluate_sts(enc, data, None) == plain_scores
    # ... and an instruction would have changed them: it is really left off, not just unrecorded.
    forced, out = _sts(exported_plain, sts_file, tmp_path / "b", capsys, use_instructions="yes")
    assert forced["instruction"] == STS_INSTRUCTION and f"instruction={STS_INSTRUCTION!r}" in out
    assert forced["scores"]["spearman"] != plain_scores["spearman"]

    with caplog.at_level("WARNING", logger="eval.options"):
        explicit, _ = _sts(exported_plain, sts_file, tmp_path / "c", capsys, instruction="find the passage")
    assert explicit["instruction"] is None and "--instruction ignored" in caplog.text

    with_instr, out = _sts(exported, sts_file, tmp_path / "d", capsys)
    assert with_instr["instruction"] == STS_INSTRUCTION and f"instruction={STS_INSTRUCTION!r}" in out
    never, _ = _sts(exported, sts_file, tmp_path / "e", capsys, use_instructions="no")
    assert never["instruction"] is None

    cfg = retrieval.Config(
        model=str(exported_plain), data=beir_dir, out=str(tmp_path / "r"), cache_dir="", progress=False
    )
    assert retrieval.main(cfg)["instruction"] is None and "instruction=none" in capsys.readouterr().out


def test_mteb_reports_the_instruction_of_each_task(exported, exported_plain, beir_dir, tmp_path):
    from eval import mteb as eval_mteb

    (tmp_path / "i.json").write_text(json.dumps({"Local-beir": INSTR}))
    for model, expected in ((exported, INSTR), (exported_plain, None)):
        out = tmp_path / model.parent.name
        cfg = eval_mteb.Config(
            model=str(model),
            tasks=str(beir_dir),
            out=out,
            instructions=tmp_path / "i.json",
            cache_dir="",
            progress=False,
        )
        (row,) = eval_mteb.main(cfg)["tasks"]
        assert row["instruction"] == expected
        md = (out / "summary.md").read_text()
        assert "| Task | Type | Main score | Score | Instruction |" in md
        assert md.splitlines()[4].endswith(f"| {expected or 'none'} |")
