"""End-to-end behaviour of python -m train.lora on a tiny Mistral: learning, LoRA-only updates, export."""

from __future__ import annotations

import json

import pytest
import torch

from common.query_format import format_query
from tests.train.conftest import make_rows, small_config, write_dataset_dir
from train.inputs import tokenize
from train.modeling import embed

HELD_OUT = make_rows(48, seed=99)


def retrieval_accuracy(model, tok, rows, max_length: int = 24) -> float:
    """Share of held-out queries whose own positive is the nearest of all held-out positives."""
    model.eval()
    with torch.no_grad():
        q = embed(
            model,
            tokenize(tok, [format_query(r["instruction"], r["query"]) for r in rows], max_length),
            "last",
        )
        d = embed(model, tokenize(tok, [r["positive"] for r in rows], max_length), "last")
    return ((q @ d.T).argmax(dim=1) == torch.arange(len(rows))).float().mean().item()


@pytest.fixture(scope="session")
def trained(tmp_path_factory, model_dir):
    """One learning run shared by the tests below (about 15 s on 2 CPU cores)."""
    from train.lora import main

    root = tmp_path_factory.mktemp("trained")
    data = write_dataset_dir(root / "ds", make_rows(192, seed=1))
    cfg = small_config(
        model_dir,
        data,
        root / "model",
        lr=3e-3,
        max_steps=60,
        batch_size=16,
        lora_dropout=0.0,
        gradient_checkpointing=False,
        save_steps=25,
    )
    summary = main(cfg)
    return summary, root / "model"


def test_loss_falls_and_held_out_retrieval_improves(trained, model_dir):
    from transformers import AutoModel, AutoTokenizer

    summary, out = trained
    losses = [json.loads(line)["loss"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(losses) == 60 and summary.steps == 60
    assert sum(losses[-10:]) / 10 < 0.6 * sum(losses[:10]) / 10, losses
    tok = AutoTokenizer.from_pretrained(out)
    before = retrieval_accuracy(AutoModel.from_pretrained(model_dir), tok, HELD_OUT)
    after = retrieval_accuracy(AutoModel.from_pretrained(out), tok, HELD_OUT)
    assert after >= before + 0.2, (before, after)  # measured: 0.0 -> 0.333 (chance is 1/48)


def test_metrics_lines_and_tensorboard(trained):
    _, out = trained
    first = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    assert {"step", "loss", "lr", "tokens_per_s", "memory_gb"} <= first.keys() and first["tokens_per_s"] > 0
    assert list((out / "runs").glob("events.out.tfevents.*"))


def test_export_layout_and_metadata(trained):
    _, out = trained
    assert not any(
        (out / f).exists() for f in ("adapter_config.json", "adapter_model.safetensors")
    )  # merged root is clean
    assert (out / "adapter" / "adapter_config.json").exists() and (
        out / "adapter" / "adapter_model.safetensors"
    ).exists()
    meta = json.loads((out / "synthembed.json").read_text())
    assert (
        meta["format_version"] == 1
        and meta["pooling"] == "last"
        and meta["add_eos"] is True
        and meta["normalize"] is True
    )
    assert meta["query_template"] == "Instruct: {instruction}\nQuery: {query}" and meta["max_length"] == 24
    assert meta["training"]["steps"] == 60 and meta["training"]["lr"] == 3e-3
    pool = json.loads((out / "1_Pooling" / "config.json").read_text())
    assert pool["pooling_mode_lasttoken"] is True and pool["pooling_mode_mean_tokens"] is False
    prompts = json.loads((out / "config_sentence_transformers.json").read_text())["prompts"]
    assert prompts["query"].startswith("Instruct: ") and prompts["query"].endswith("\nQuery: ")
    card = (out / "README.md").read_text()
    assert (
        "base_model:" in card and "| steps | 60 |" in card and str(meta["training"]["final_loss"])[:4] in card
    )
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "step-0000025",
        "step-0000050",
        "step-0000060",
    ]


def test_sentence_transformers_gives_the_trainers_embeddings(trained, model_dir):
    """ST on the exported dir == our embed() on base + adapter (the trainer's model) == on the merged weights."""
    from peft import PeftModel
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel, AutoTokenizer

    _, out = trained
    meta = json.loads((out / "synthembed.json").read_text())
    tok = AutoTokenizer.from_pretrained(out)
    long_doc = " ".join(["w1"] * 60 + ["topic3"])  # longer than max_length: truncation must keep the EOS
    docs = [HELD_OUT[0]["positive"], HELD_OUT[1]["positive"], long_doc]
    queries = [HELD_OUT[0]["query"], HELD_OUT[1]["query"]]
    instruction = meta["query_instruction"]

    trainer_model = PeftModel.from_pretrained(AutoModel.from_pretrained(model_dir), out / "adapter").eval()
    with torch.no_grad():
        ours_d = embed(trainer_model, tokenize(tok, docs, 24), "last")
        ours_q = embed(
            trainer_model, tokenize(tok, [format_query(instruction, q) for q in queries], 24), "last"
        )
        merged_d = embed(AutoModel.from_pretrained(out).eval(), tokenize(tok, docs, 24), "last")
    torch.testing.assert_close(merged_d, ours_d, atol=1e-5, rtol=1e-4)

    st = SentenceTransformer(str(out), device="cpu")
    st_d = torch.as_tensor(st.encode(docs))
    st_q = torch.as_tensor(st.encode(queries, prompt_name="query"))
    torch.testing.assert_close(st_d, ours_d, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(st_q, ours_q, atol=1e-5, rtol=1e-4)


def test_lora_weights_change_and_base_weights_do_not(tokenizer, tmp_path, dataset_dir):
    from tests.tiny_models import build_mistral
    from train.backbone import add_lora
    from train.collator import Collator
    from train.data import load_examples
    from train.engine import PlainEngine
    from train.metrics import MetricsLog
    from train.modeling import Encoder
    from train.sampler import NoDuplicateBatchSampler
    from train.trainer import Trainer

    enc = Encoder(add_lora(build_mistral(), r=4, alpha=8, dropout=0.1, target="all-linear"), "last")
    before = {n: p.detach().clone() for n, p in enc.named_parameters()}
    opt = torch.optim.AdamW([p for p in enc.parameters() if p.requires_grad], lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    examples = load_examples([str(dataset_dir)])
    trainer = Trainer(
        engine=PlainEngine(enc, opt, sched, torch.device("cpu")),
        collator=Collator(tokenizer, 24),
        examples=examples,
        sampler=NoDuplicateBatchSampler(examples, 8, seed=0),
        total_steps=3,
        output=tmp_path,
        device=torch.device("cpu"),
        temperature=0.02,
    )
    trainer.train(MetricsLog(tmp_path, resume=False))
    after = dict(enc.named_parameters())
    lora = [n for n in before if "lora_" in n]
    base = [n for n in before if "lora_" not in n]
    assert lora and base
    assert all(not torch.equal(before[n], after[n]) for n in lora if "lora_B" in n)
    assert all(torch.equal(before[n], after[n]) for n in base)
    assert not any(after[n].requires_grad for n in base)


def test_resume_after_interrupt_matches_uninterrupted_run(model_dir, dataset_dir, tmp_path, monkeypatch):
    """Crash in step 5 (checkpoint at 3), --resume: same losses and same adapter as one clean run.

    LoRA dropout stays on, so this also proves the RNG state is restored."""
    from safetensors.torch import load_file

    from train.lora import main
    from train.trainer import Trainer

    kw = dict(max_steps=6, save_steps=3, batch_size=8, lora_dropout=0.1)
    main(small_config(model_dir, dataset_dir, tmp_path / "clean", **kw))

    real_step = Trainer.train_step

    def crashing(self, batch):
        if self.step == 4:
            raise KeyboardInterrupt("simulated kill")
        return real_step(self, batch)

    monkeypatch.setattr(Trainer, "train_step", crashing)
    with pytest.raises(KeyboardInterrupt):
        main(small_config(model_dir, dataset_dir, tmp_path / "crash", **kw))
    monkeypatch.setattr(Trainer, "train_step", real_step)
    steps = [json.loads(x)["step"] for x in (tmp_path / "crash" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]  # step 4 ran after the checkpoint at 3 and is replayed on resume
    summary = main(small_config(model_dir, dataset_dir, tmp_path / "crash", resume=True, **kw))

    assert summary.steps == 6
    clean = [json.loads(x) for x in (tmp_path / "clean" / "metrics.jsonl").read_text().splitlines()]
    resumed = [json.loads(x) for x in (tmp_path / "crash" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in resumed] == [1, 2, 3, 4, 5, 6]
    assert [r["loss"] for r in resumed] == pytest.approx([r["loss"] for r in clean], abs=1e-6)
    assert [r["lr"] for r in resumed] == pytest.approx([r["lr"] for r in clean])
    a = load_file(tmp_path / "clean" / "adapter" / "adapter_model.safetensors")
    b = load_file(tmp_path / "crash" / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=1e-5)


def test_resume_without_checkpoint_starts_fresh(model_dir, dataset_dir, tmp_path):
    from train.lora import main

    assert main(small_config(model_dir, dataset_dir, tmp_path / "o", resume=True, max_steps=1)).steps == 1


def test_plain_query_format_trains_without_instructions_and_the_model_dir_says_so(
    model_dir, dataset_dir, tmp_path
):
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    from train.collator import Collator
    from train.data import load_examples
    from train.lora import main

    out = tmp_path / "plain"
    main(small_config(model_dir, dataset_dir, out, query_format="plain", max_steps=1))
    meta = json.loads((out / "synthembed.json").read_text())
    assert (
        meta["instructions"],
        meta["query_format"],
        meta["query_template"],
        meta["query_instruction"],
    ) == (
        False,
        "plain",
        None,
        None,
    )
    assert json.loads((out / "config_sentence_transformers.json").read_text())["prompts"]["query"] == ""
    assert "The query format is `{query}`" in (out / "README.md").read_text()
    st = SentenceTransformer(str(out), device="cpu")
    q = HELD_OUT[0]["query"]
    assert (st.encode([q], prompt_name="query") == st.encode([q])).all()

    ex = load_examples([str(dataset_dir)])[0]
    tok = AutoTokenizer.from_pretrained(out)
    ids = Collator(tok, 24, "plain")([ex]).queries["input_ids"][0].tolist()
    assert tok.decode(ids, skip_special_tokens=True).split() == ex.query.split()  # no "Instruct: ..."
