"""The flags of BGE-M3's three heads (``--heads``, the fusion and loss weights), checked without torch.

``train.config`` calls :func:`heads_errors` from ``TrainConfig.__post_init__``, so a bad value is one
line before any model loads. The defaults are M3's (Chen et al. 2024, "BGE M3-Embedding", and
FlagEmbedding's ``EncoderOnlyEmbedderM3Model``):

    score weights  w = (dense 1, sparse 0.3, colbert 1)   s_inter = w1 s_dense + w2 s_lex + w3 s_mul
    loss weights   λ = (dense 1, sparse 0.1, colbert 1)   the sparse head starts random, so its loss
                                                          is weighted down (M3's "small w_lex")

    "1,0.3,1" -> (1.0, 0.3, 1.0);  "1,0.3" -> ConfigError (three numbers: dense, sparse, colbert)
"""

from __future__ import annotations

HEADS = ("dense", "sparse", "colbert")  # literal copy of train.heads.HEADS (a test keeps them equal)
M3_SCORE_WEIGHTS = "1,0.3,1"
M3_LOSS_WEIGHTS = "1,0.1,1"


def parse_heads(text: str) -> tuple[str, ...]:
    """``"dense,sparse"`` -> ("dense", "sparse") in HEADS order; ValueError names what is wrong."""
    names = [h.strip() for h in text.split(",") if h.strip()]
    unknown = [h for h in names if h not in HEADS]
    if unknown:
        raise ValueError(f"--heads {text!r}: {unknown[0]!r} is not one of {', '.join(HEADS)}")
    if "dense" not in names:
        raise ValueError(f"--heads {text!r}: must include dense (the exported sentence-transformers model)")
    return tuple(h for h in HEADS if h in names)


def parse_weights(text: str, flag: str) -> tuple[float, float, float]:
    """Three comma-separated numbers >= 0 (dense, sparse, colbert)."""
    try:
        values = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise ValueError(f"{flag} {text!r}: expected three numbers, e.g. {M3_SCORE_WEIGHTS}") from None
    if len(values) != 3 or min(values) < 0:
        raise ValueError(f"{flag} {text!r}: expected three numbers >= 0 (dense, sparse, colbert)")
    return values  # type: ignore[return-value]


def heads_errors(heads: str, score_weights: str, loss_weights: str, distill_start: int) -> list[str]:
    """Every problem with the head flags, as one-line messages ([] when fine)."""
    errors = []
    for check in (
        lambda: parse_heads(heads),
        lambda: parse_weights(score_weights, "--head-score-weights"),
        lambda: parse_weights(loss_weights, "--head-loss-weights"),
    ):
        try:
            check()
        except ValueError as e:
            errors.append(str(e))
    if distill_start < -1:
        errors.append(f"--self-distill-start-step must be >= -1 (-1 = off), got {distill_start}")
    return errors
