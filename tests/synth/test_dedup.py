import random

import numpy as np
import pytest

import synth.checks.minhash as minhash
from synth.checks.dedup import Deduper, Fingerprints, Signer
from synth.checks.minhash import MIN_SHINGLES, NUM_BINS, normalize_many, shingle_size
from synth.checks.text import normalize

EN = (
    "Tidal forces arise because the gravitational pull of the moon is stronger on the near side of "
    "the earth than on the far side, stretching the oceans into two bulges that the planet rotates through."
)
ZH = "潮汐是由月球和太阳的引力作用引起的海水周期性涨落现象，每天大约发生两次高潮和两次低潮，对沿海生态有重要影响。"
TH = "น้ำขึ้นน้ำลงเกิดจากแรงโน้มถ่วงของดวงจันทร์และดวงอาทิตย์ที่กระทำต่อโลกทำให้ระดับน้ำทะเลเปลี่ยนแปลงเป็นประจำทุกวัน"
PHOTO = "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen inside leaves."
WORDS = [
    "tide",
    "moon",
    "orbit",
    "salt",
    "wave",
    "coast",
    "storm",
    "reef",
    "delta",
    "basin",
    "shelf",
    "drift",
]


def test_normalize_ignores_case_punctuation_and_space():
    assert normalize("Hello,  WORLD!!") == normalize("hello world") == "hello world"


def test_normalize_many_equals_normalize_per_text():
    spaces = [chr(i) for i in range(0x110000) if chr(i).isspace()]
    texts = [
        EN,
        ZH,
        TH,
        "",
        "  ",
        "!!",
        " a  b ",
        "\u0301starts with a combining mark",
        "ends in e\u0301",
        "Ｆｕｌｌ　ｗｉｄｔｈ",
        "tab\there\nnew\u2028line",
        "x" + "".join(spaces) + "y",
        *(f"{s}edge{s}" for s in spaces),
    ]
    assert normalize_many(texts) == [normalize(t) for t in texts]
    assert normalize_many(["a\x00b", "C, d"]) == ["a\x00b", "c d"]  # a NUL inside a text: one at a time


def test_exact_duplicates_after_normalisation():
    d = Deduper()
    assert d.check([EN]) is None
    assert d.check(["  " + EN.upper().replace(",", ";") + "  "]) == "exact"


def test_near_duplicates_in_spaced_and_unspaced_scripts():
    pairs = [
        (EN, EN.replace("stronger", "greater")),
        (ZH, ZH.replace("两次", "二次", 1)),
        (TH, TH.replace("ทุกวัน", "ทุกๆวัน")),
    ]
    for text, edited in pairs:
        d = Deduper()
        assert d.check([text]) is None
        assert d.check([edited]) == "near", text[:10]
    batch = [[t] for pair in pairs for t in pair]
    assert Deduper().check_many(batch) == [None, "near"] * 3


def test_different_texts_are_kept():
    d = Deduper()
    assert d.check([EN]) is None
    assert d.check([ZH]) is None
    assert d.check([PHOTO]) is None


def test_a_row_is_kept_or_dropped_whole():
    d = Deduper()
    assert d.check(["query one is here", EN]) is None
    assert d.check(["a brand new query", EN]) == "exact"
    assert d.check(["a brand new query", ZH]) is None  # the rejected row left nothing behind
    near = EN.replace("stronger", "greater")
    assert d.check(["another query", PHOTO, near]) == "near"
    assert d.check([PHOTO.replace("leaves", "needles")]) is None  # the near-rejected row left nothing


def test_a_short_text_gets_exact_dedup_only():
    short = "tides rise"  # "tidesrise": 5 five-grams
    assert Signer().fingerprint(short)[1] is None
    d = Deduper()
    assert d.check([short]) is None
    assert d.check(["tides rose"]) is None  # one letter off: a near duplicate, were it long enough
    assert d.check(["Tides, rise!"]) == "exact"
    assert Deduper().check_many([[short], ["tides rose"], ["Tides, rise!"]]) == [None, None, "exact"]


def test_unspaced_scripts_use_shorter_shingles():
    assert shingle_size(normalize(EN).replace(" ", "")) == 5
    assert shingle_size(normalize(ZH)) == shingle_size(normalize(TH)) == 3


def _reference_signature(text: str) -> np.ndarray | None:
    """The signature as the module docstring defines it, one window and one bin at a time."""
    compact = normalize(text).replace(" ", "")
    n = shingle_size(compact)
    if len(compact) - n + 1 < MIN_SHINGLES:
        return None
    mask = 0xFFFFFFFF
    bins: dict[int, int] = {}
    for i in range(len(compact) - n + 1):
        h = sum(ord(c) * int(m) for c, m in zip(compact[i : i + n], minhash._CHAR_MULT, strict=False)) & mask
        for shift, mult in minhash._MIX:
            h = ((h ^ (h >> shift)) * int(mult)) & mask
        b = h >> (32 - (NUM_BINS.bit_length() - 1))
        bins[b] = min(bins.get(b, h), h)
    return np.array(
        [
            bins[next(p for p in minhash._PROBES[b] if p in bins)] if b not in bins else bins[b]
            for b in range(NUM_BINS)
        ],
        dtype=np.uint32,
    )


def _corpus(n: int, seed: int = 0) -> list[str]:
    """Texts of many lengths and scripts, with exact and near copies of earlier ones."""
    rng = random.Random(seed)
    texts: list[str] = []
    for _ in range(n):
        roll = rng.random()
        if texts and roll < 0.15:
            texts.append(rng.choice(texts).upper() + "!")
        elif texts and roll < 0.3:
            words = rng.choice(texts).split(" ")
            words[rng.randrange(len(words))] = rng.choice(WORDS)
            texts.append(" ".join(words))
        elif roll < 0.4:
            start = rng.randrange(len(ZH) - 20)
            texts.append(" ".join([ZH[start : start + rng.randint(3, 30)], TH[: rng.randint(5, 60)]]))
        else:
            texts.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 40))))
    return texts


def test_batched_signing_equals_the_reference_one_text_at_a_time(monkeypatch):
    texts = [EN, ZH, TH, PHOTO, "short", "", *_corpus(60)]
    monkeypatch.setattr(minhash, "_CHUNK_CHARS", 300)  # many chunks, texts of both shingle sizes in each
    batch = Signer().fingerprint_many(texts)
    for i, text in enumerate(texts):
        expected = _reference_signature(text)
        key, signature = batch[i]
        assert key == Signer().fingerprint(text)[0]
        assert (signature is None) == (expected is None), text
        assert signature is None or (signature == expected).all(), text


def test_agreeing_bins_estimate_jaccard_similarity():
    rng = random.Random(1)
    errors = []
    for _ in range(60):
        words = [rng.choice(WORDS) + rng.choice(WORDS) for _ in range(rng.randint(8, 60))]
        edited = list(words)
        for _ in range(rng.randint(0, len(words) // 3)):
            edited[rng.randrange(len(edited))] = rng.choice(WORDS)
        a, b = " ".join(words), " ".join(edited)
        grams = [{t[i : i + 5] for i in range(len(t) - 4)} for t in (a.replace(" ", ""), b.replace(" ", ""))]
        true = len(grams[0] & grams[1]) / len(grams[0] | grams[1])
        errors.append((Signer().fingerprint(a)[1] == Signer().fingerprint(b)[1]).mean() - true)
    assert abs(np.mean(errors)) < 0.02  # unbiased
    assert np.std(errors) < 0.06  # MinHash with 128 permutations: ~0.04 at these similarities


def test_check_many_gives_the_verdicts_of_check_row_by_row(monkeypatch):
    texts = _corpus(400)
    rng = random.Random(2)
    rows, at = [], 0
    while at < len(texts):
        size = rng.choice([0, 1, 1, 2, 2, 3])
        rows.append(texts[at : at + size])
        at += size
    one_by_one = Deduper()
    expected = [one_by_one.check(row) for row in rows]
    assert {"exact", "near", None} <= set(expected)

    assert Deduper().check_many(rows) == expected
    monkeypatch.setattr(Deduper, "CHUNK_ROWS", 7)  # many chunks: lookups in merged runs of the index
    assert Deduper().check_many(rows) == expected
    fingerprints = Signer().fingerprint_many([t for row in rows for t in row])
    assert Deduper().check_many(rows, fingerprints) == expected
    per_text = Deduper()  # fingerprints computed elsewhere, one text at a time, as synth.run.answers does
    assert [per_text.check(row, [Signer().fingerprint(t) for t in row]) for row in rows] == expected

    mixed = Deduper()  # the same index fed both ways
    half = len(rows) // 2
    assert [mixed.check(row) for row in rows[:half]] + mixed.check_many(rows[half:]) == expected


def test_fingerprints_round_trip_through_per_text_tuples():
    batch = Signer().fingerprint_many([EN, "short"])
    again = Fingerprints.of([batch[0], batch[1]])
    assert again.keys == batch.keys and (again.signed == batch.signed).all()
    assert (again.signatures[0] == batch.signatures[0]).all()


def test_bad_arguments_are_one_clear_error():
    with pytest.raises(ValueError, match="threshold must be in"):
        Deduper(threshold=1.5)
    with pytest.raises(ValueError, match="1 fingerprints for 2 texts"):
        Deduper().check_many([[EN, ZH]], Signer().fingerprint_many([EN]))
