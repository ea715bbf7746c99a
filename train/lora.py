"""``python -m train.lora``: LoRA contrastive training of an LLM embedder, then export.

parse (flags -> TrainConfig) -> build (data, tokenizer, model, engine) -> run (Trainer) -> save
(export + card, optional push). Everything that can be checked without a model (flags, data files,
tokenizer EOS, 4-bit prerequisites, the DeepSpeed JSON) is checked first, and reported as one line.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from common.outdir import disk_error
from train.config import TEACHER_LOSSES, TrainConfig, parse_args, preflight, read_deepspeed_config
from train.errors import ConfigError, NonFiniteLoss
from train.m3_config import parse_heads, parse_weights

log = logging.getLogger("train.lora")


def row_lengths(examples, tokenizer, cfg: TrainConfig) -> list[tuple[int, int]]:
    """--group-by-length's key per row: (positive's tokens, query's tokens), as the collator pads them."""
    from train.inputs import query_text
    from train.length_groups import token_lengths

    pos = token_lengths(tokenizer, [e.positive for e in examples], cfg.max_length)
    queries = [query_text(e.instruction, e.query, cfg.query_format) for e in examples]
    return list(zip(pos, token_lengths(tokenizer, queries, cfg.max_length), strict=True))


def log_padding(sampler, tokenizer, cfg: TrainConfig, world_size: int) -> None:
    """One line: the padded-token share of epoch 0 without and with --group-by-length."""
    import copy

    from train.length_groups import epoch_padding

    plain = copy.copy(sampler)
    plain.lengths, plain._cache = None, {}
    before = epoch_padding(plain, tokenizer, cfg.max_length, world_size)
    after = epoch_padding(sampler, tokenizer, cfg.max_length, world_size)
    log.info(
        "--group-by-length: padding is %.1f%% of epoch 0's tokens (queries %.1f%%, documents %.1f%%), "
        "%.1f%% without grouping (queries %.1f%%, documents %.1f%%)",
        100 * after["all"],
        100 * after["queries"],
        100 * after["documents"],
        100 * before["all"],
        100 * before["queries"],
        100 * before["documents"],
    )


def main(cfg: TrainConfig):
    """Train and export as ``cfg`` says; returns the trainer's Summary. Raises ConfigError on bad input."""
    from train.data import load_examples

    # -- build: everything checkable without the model (or torch) first ----------------------
    preflight(cfg)
    init = None
    if cfg.init_from is not None:
        from train.init_from import resolve

        init = resolve(cfg)
    model_name = init.base if init else cfg.model  # what the backbone (and tokenizer) load from
    examples = load_examples(cfg.data, need_teacher=cfg.loss if cfg.loss in TEACHER_LOSSES else None)
    # Heavy imports only now: `--help`, flag and data errors answer in well under a second.
    import torch
    import torch.distributed as dist

    from train.backbone import (
        add_lora,
        choose_dtype,
        load_backbone,
        load_tokenizer,
        name_deepspeed_accelerator,
    )
    from train.checkpoint import adapter_state, resume_point, save_checkpoint
    from train.collator import Collator
    from train.distributed import world
    from train.engine import make_engine, setup_process_group
    from train.export import check_tokenizer_exports, export
    from train.init_from import load_adapter
    from train.memory import decide, enable
    from train.metrics import MetricsLog
    from train.modeling import Encoder
    from train.negatives import log_negatives
    from train.sampler import NoDuplicateBatchSampler
    from train.trainer import Trainer, plan_steps, warmup_warning

    name_deepspeed_accelerator()
    tokenizer = load_tokenizer(model_name)
    try:
        check_tokenizer_exports(tokenizer)
    except (RuntimeError, ValueError) as e:
        raise ConfigError(f"--model {model_name}: {e}") from None
    device = setup_process_group(use_deepspeed=cfg.deepspeed is not None)
    rank, size = world()
    if cfg.batch_size % size:
        raise ConfigError(f"--batch-size {cfg.batch_size} is not divisible by the {size} processes")
    ckpt = resume_point(cfg.output, cfg.resume)  # collective: all ranks resume from one step, or none do
    lengths = row_lengths(examples, tokenizer, cfg) if cfg.group_by_length else None
    sampler = NoDuplicateBatchSampler(
        examples,
        cfg.batch_size,
        cfg.seed,
        negatives_per_query=cfg.negatives_per_query,
        query_format=cfg.query_format,
        lengths=lengths,
    )
    total = plan_steps(sampler, cfg.epochs, cfg.max_steps, size)  # ConfigError when no batch fills
    if (warning := warmup_warning(cfg.warmup_steps, total, cfg.lr)) and rank == 0:
        log.warning(warning)
    if rank == 0:
        log_negatives(examples, cfg.negatives_per_query)
        if lengths is not None:
            log_padding(sampler, tokenizer, cfg, size)
    torch.manual_seed(cfg.seed)  # LoRA init and dropout
    dtype = choose_dtype()
    lora = {"r": cfg.lora_r, "alpha": cfg.lora_alpha, "dropout": cfg.lora_dropout, "target": cfg.lora_target}
    backbone = load_backbone(
        model_name,
        dtype=dtype,
        rope_theta=cfg.rope_theta,
        load_in_4bit=cfg.load_in_4bit,
        # QLoRA bases are the large models; peft's k-bit preparation sets checkpointing up at load
        gradient_checkpointing=cfg.load_in_4bit and cfg.gradient_checkpointing != "off",
    )
    width = backbone.config.hidden_size
    if cfg.dims and max(cfg.dims) > width:
        raise ConfigError(
            f"--matryoshka-dims {cfg.matryoshka_dims}: the model's embeddings have {width} values"
        )
    heads = parse_heads(cfg.heads)
    step_loss = None
    if len(heads) > 1:  # BGE-M3: dense + sparse and/or multi-vector heads, trained in full beside LoRA
        from train.heads import MultiHeadEncoder
        from train.heads_io import build_heads
        from train.m3_step import M3StepLoss

        m3_heads = build_heads(backbone, tokenizer, heads)
        encoder = MultiHeadEncoder(add_lora(backbone, **lora), cfg.pooling, cfg.normalize, m3_heads)
        step_loss = M3StepLoss(
            heads,
            cfg.temperature,
            parse_weights(cfg.head_score_weights, "--head-score-weights"),
            parse_weights(cfg.head_loss_weights, "--head-loss-weights"),
            cfg.self_distill_start_step,
        )
    else:
        encoder = Encoder(add_lora(backbone, **lora), cfg.pooling, cfg.normalize)

    if init is not None:
        load_adapter(encoder, init)
    if not cfg.load_in_4bit:  # a 4-bit model is already placed by its device_map
        encoder.to(device)
        per_forward = cfg.grad_cache_chunk or cfg.batch_size // size * (2 + cfg.negatives_per_query)
        checkpointing, why = decide(
            cfg.gradient_checkpointing,
            encoder,
            token_id=tokenizer.eos_token_id,
            max_length=cfg.max_length,
            sequences=per_forward,
            device=device,
        )
        if checkpointing:
            enable(encoder.backbone)
    else:
        checkpointing, why = cfg.gradient_checkpointing != "off", "--load-in-4bit: on unless 'off'"
    if size > 1:  # one decision for all: free memory differs between ranks and nodes
        flag = torch.tensor([int(checkpointing)], device=device if dist.get_backend() == "nccl" else "cpu")
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        if bool(flag) and not checkpointing:
            enable(encoder.backbone)
            why += "; on, as another process needs it"
        checkpointing = bool(flag)
    if rank == 0:
        log.info(why)
    engine = make_engine(
        encoder,
        device=device,
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        warmup_steps=cfg.warmup_steps,
        total_steps=total,
        max_grad_norm=cfg.max_grad_norm,
        global_batch=cfg.batch_size,
        bf16=dtype == torch.bfloat16,
        deepspeed=read_deepspeed_config(cfg.deepspeed) if cfg.deepspeed else None,
    )
    trainer = Trainer(
        engine=engine,
        collator=Collator(tokenizer, cfg.max_length, cfg.query_format),
        examples=examples,
        sampler=sampler,
        total_steps=total,
        output=cfg.output,
        device=device,
        temperature=cfg.temperature,
        grad_cache_chunk=cfg.grad_cache_chunk,
        loss=cfg.loss,
        teacher_temperature=cfg.teacher_temperature,
        kd_alpha=cfg.kd_alpha,
        matryoshka_dims=cfg.dims,
        matryoshka_weights=cfg.dim_weights,
        save_steps=cfg.save_steps,
        log_steps=cfg.log_steps,
        config=cfg.to_dict(),
        step_loss=step_loss,
    )
    metrics = MetricsLog(cfg.output, resume=cfg.resume)
    if ckpt is not None:
        trainer.resume_from(ckpt)
        metrics.truncate_after(trainer.step)

    # -- run ---------------------------------------------------------------------------------
    log.info(
        "%d rows, %d steps of %d (%d per process x %d), %s",
        len(examples),
        total,
        cfg.batch_size,
        cfg.batch_size // size,
        size,
        dtype,
    )
    summary = trainer.train(metrics)
    metrics.close()
    if summary.steps == 0:  # plan_steps rules this out; an untouched base must never pass for a trained model
        raise ConfigError(f"no optimizer step ran on the {len(examples)} rows of --data; nothing exported")
    if cfg.save_steps and summary.steps % cfg.save_steps and summary.steps > 0:
        save_checkpoint(engine, cfg.output, summary.steps, trainer.client_state(), cfg.to_dict())

    # -- save --------------------------------------------------------------------------------
    adapter = adapter_state(encoder)  # collective under ZeRO-3: every rank takes part
    if step_loss is not None:
        from train.heads_io import split_state

        adapter, head_tensors = split_state(adapter)
    if rank == 0:
        training = {
            **cfg.to_dict(),
            "steps": summary.steps,
            "final_loss": summary.final_loss,
            "tokens": summary.tokens,
            "seconds": summary.seconds,
            "rows": len(examples),
            "gradient_checkpointing_used": checkpointing,
            "init_from": init.record() if init else None,
        }
        export(
            cfg.output,
            adapter=adapter,
            tokenizer=tokenizer,
            base_model=model_name,
            dtype=dtype,
            rope_theta=cfg.rope_theta,
            lora=lora,
            pooling=cfg.pooling,
            normalize=cfg.normalize,
            max_length=cfg.max_length,
            query_format=cfg.query_format,
            query_instruction=cfg.query_instruction,
            matryoshka_dims=cfg.dims,
            training=training,
            repo_id=cfg.push_to_hub,
        )
        if step_loss is not None:
            from train.heads_io import save_heads

            save_heads(cfg.output, m3_heads, head_tensors, step_loss.score_weights.values())
        if cfg.push_to_hub:
            from train.hub import push

            push(cfg.output, cfg.push_to_hub)
        print(summary.line(), file=sys.stderr)
    if dist.is_initialized():
        dist.barrier()
    return summary


def cli(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    cfg = None
    try:
        cfg = parse_args(argv)
        main(cfg)
    except (ConfigError, NonFiniteLoss) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2 if isinstance(e, ConfigError) else 1
    except OSError as e:  # a full or read-only disk met while training or saving: one line, not a stack
        line = disk_error(
            e, cfg.output if cfg else Path("."), "rerun with --resume to go on from the last checkpoint"
        )
        if line is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        return 1
    finally:
        dist = sys.modules.get("torch.distributed")
        if dist is not None and dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(cli())
