from synth.dedup import Deduper, shingle_hashes
from synth.text import normalize

EN = ("Tidal forces arise because the gravitational pull of the moon is stronger on the near side of "
      "the earth than on the far side, stretching the oceans into two bulges that the planet rotates through.")  # fmt: skip
ZH = "潮汐是由月球和太阳的引力作用引起的海水周期性涨落现象，每天大约发生两次高潮和两次低潮，对沿海生态有重要影响。"
TH = "น้ำขึ้นน้ำลงเกิดจากแรงโน้มถ่วงของดวงจันทร์และดวงอาทิตย์ที่กระทำต่อโลกทำให้ระดับน้ำทะเลเปลี่ยนแปลงเป็นประจำทุกวัน"


def test_normalize_ignores_case_punctuation_and_space():
    assert normalize("Hello,  WORLD!!") == normalize("hello world") == "hello world"


def test_exact_duplicates_after_normalisation():
    d = Deduper()
    assert d.check([EN]) is None
    assert d.check(["  " + EN.upper().replace(",", ";") + "  "]) == "exact"


def test_near_duplicates_in_spaced_and_unspaced_scripts():
    for text, edited in [(EN, EN.replace("stronger", "greater")), (ZH, ZH.replace("两次", "二次", 1)),
                         (TH, TH.replace("ทุกวัน", "ทุกๆวัน"))]:  # fmt: skip
        d = Deduper()
        assert d.check([text]) is None
        assert d.check([edited]) == "near", text[:10]


def test_different_texts_are_kept():
    d = Deduper()
    assert d.check([EN]) is None
    assert d.check([ZH]) is None
    assert (
        d.check(["Photosynthesis turns light, water and carbon dioxide into sugar and oxygen inside leaves."])
        is None
    )


def test_a_row_is_kept_or_dropped_whole():
    d = Deduper()
    assert d.check(["query one is here", EN]) is None
    assert d.check(["a brand new query", EN]) == "exact"
    assert d.check(["a brand new query", ZH]) is None  # the rejected row left nothing behind


def test_unspaced_scripts_use_shorter_shingles():
    assert len(shingle_hashes(normalize(ZH))) > len(normalize(ZH)) - 5


def test_fast_minhash_equals_datasketch_update_batch():
    d = Deduper()
    reference = d.signer.template.copy()
    reference.update_batch(shingle_hashes(normalize(EN)))
    assert (d.minhash(normalize(EN)).hashvalues == reference.hashvalues).all()
