import pytest

from common.jsonl import JsonlError, read_jsonl


def test_lines_are_numbered_blank_ones_skipped_and_bad_ones_named(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"a": 1}\n\n{"b": 2}\n[1]\n')
    rows = read_jsonl(path)
    assert next(rows) == (1, {"a": 1}) and next(rows) == (3, {"b": 2})
    with pytest.raises(JsonlError, match=r"rows.jsonl:4: expected a JSON object, got list"):
        next(rows)


def test_text_that_is_not_utf8_is_one_error_not_a_traceback(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes('{"text": "café"}\n'.encode("latin-1"))
    with pytest.raises(JsonlError, match=r"latin1.jsonl:1: not UTF-8 text") as err:
        list(read_jsonl(path))
    assert err.value.problem == "not_utf8"


@pytest.mark.parametrize(
    "line,detail",
    [
        ('{"a": "x\ty"}', "not valid JSON (Invalid control character '\\t' at column 9)"),
        ('{"a": 1} x', "not valid JSON (Extra data at column 10)"),
        ('{"a": "open', "not valid JSON (Unterminated string starting at column 7)"),
    ],
)
def test_bad_json_gives_the_column_and_the_whole_reason(tmp_path, line, detail):
    path = tmp_path / "x.jsonl"
    path.write_text('{"ok": 1}\n' + line + "\n")
    with pytest.raises(JsonlError) as err:
        list(read_jsonl(path))
    assert str(err.value) == f"{path}:2: {detail}"
