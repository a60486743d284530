"""Item input: every format yields one record per item, with its line number, bad or not."""

from __future__ import annotations

import io
import json

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.items import as_utf8, format_for, read_items


def records(data: str | bytes, fmt: str) -> list[tuple[int, object, str | None]]:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return [(r.line, r.item, r.error) for r in read_items(io.BytesIO(raw), fmt)]


def test_jsonl_lines_blank_lines_and_bad_lines() -> None:
    got = records('{"id": 1}\n\n  \nnot json\n{"id": 3}\n[1]\n', "jsonl")
    assert [(line, item) for line, item, _ in got] == [(1, {"id": 1}), (4, None), (5, {"id": 3}), (6, [1])]
    assert got[1][2] == 'line is not JSON: expected an object such as {"id": ...}'
    assert records('{"id": 1,\n', "jsonl")[0][2] == "invalid JSON: the line ends before the object is complete"


def test_a_byte_order_mark_is_skipped_at_the_start_of_any_json_line() -> None:
    # files saved with one and then joined carry one at the start of each; a line reads the same
    # wherever it is (a block of --jobs may start at any line)
    got = records(b'\xef\xbb\xbf{"id": 1}\n{"id": 2}\n\xef\xbb\xbf{"id": 3}\n\xef\xbb\xbf\n', "jsonl")
    assert got == [(1, {"id": 1}, None), (2, {"id": 2}, None), (3, {"id": 3}, None)]
    assert [r.item for r in read_items(io.BytesIO(b'\xef\xbb\xbf{"id": 3}\n'), "jsonl", first_line=7)] == [{"id": 3}]


def test_a_jsonl_error_names_the_column_where_the_problem_starts() -> None:
    assert records('{"id": 1} x\n{"id": 1 x}\n', "jsonl")[0][2] == "invalid JSON: trailing characters at column 11"
    assert records('{"id": 1 x}\n', "jsonl")[0][2] == "invalid JSON: expected ',' or '}' at column 10"
    # lines ended by CR alone are one line to JSON lines: the error says why
    (got,) = records('{"id": 1}\r{"id": 2}\r', "jsonl")
    assert got[2] == ("invalid JSON: objects separated by a carriage return alone (CR); JSON lines end with LF or "
                      "CR LF: convert the file's line endings")
    assert [item for _, item, _ in records('{"id": 1}\r\n{"id": 2}\r\n', "jsonl")] == [{"id": 1}, {"id": 2}]


def test_a_number_too_large_for_a_float_is_read_as_python_reads_json() -> None:
    # the fast lanes skip it where no declared field holds it: the general path must read it too
    got = records('{"id": 1, "x": 1e400, "n": -1e999, "big": ' + "9" * 5000 + "}\n", "jsonl")
    assert got[0][2] is None and got[0][1]["x"] == float("inf") and got[0][1]["n"] == float("-inf")
    assert got[0][1]["big"] == float("inf")  # more digits than Python reads as an integer
    assert records('{"id": 1, "x": 1e400, "s": "\\ud800"}\n', "jsonl")[0][2].startswith("invalid JSON")


def test_jsonl_invalid_utf8_and_nan_are_errors() -> None:
    got = records(b'{"id": "\xff"}\n{"x": NaN}\n{"id": "a\xff", x}\n', "jsonl")
    assert [line for line, _, error in got if error] == [1, 2, 3]
    assert got[0][2] == got[2][2] == "item is not valid UTF-8"


def test_an_item_rejected_for_a_byte_that_is_not_utf8_keeps_its_id() -> None:
    # so its error record names it; the byte shows as U+FFFD, which stands for a byte not read
    expected = [(1, {"id": "a", "note": "caf\ufffd"}), (2, {"id": "b\ufffd"})]
    for text, fmt in [(b'{"id": "a", "note": "caf\xe9"}\n{"id": "b\xe9"}\n', "jsonl"),
                      (b'[{"id": "a", "note": "caf\xe9"},\n {"id": "b\xe9"}]', "json"),
                      (b'- {id: a, note: caf\xe9}\n- {id: b\xe9}\n', "yaml"),
                      (b'id,note\na,caf\xe9\nb\xe9,\n', "csv")]:
        got = records(text, fmt)
        if fmt == "csv":
            expected = [(2, {"id": "a", "note": "caf\ufffd"}), (3, {"id": "b\ufffd", "note": ""})]
        assert [(line, item) for line, item, _ in got] == expected, fmt
        assert {error for _, _, error in got} == {"row is not valid UTF-8" if fmt == "csv" else "item is not valid UTF-8"}


def test_a_byte_that_is_not_utf8_rejects_only_the_json_item_that_holds_it() -> None:
    got = records(b'[{"id": "a"},\n {"id": "\xff"}, {"id": "c", "n\xc3": 1},\n {"id": "d\xc3\xa9"}]\n', "json")
    assert [(line, item, error) for line, item, error in got] == [
        (1, {"id": "a"}, None), (2, {"id": "\ufffd"}, "item is not valid UTF-8"),
        (2, {"id": "c", "n\ufffd": 1}, "item is not valid UTF-8"),
        (3, {"id": "d\u00e9"}, None)]
    got = records(b'\xef\xbb\xbf{"id": "a"}\n{"id": "b"} \xff\n{"id": "c"}\n', "json")  # objects one after another
    assert [(line, item) for line, item, _ in got] == [(1, {"id": "a"}), (2, {"id": "b"}), (2, None), (3, {"id": "c"})]
    # in YAML too, and where the byte is in a comment no item holds it
    got = records(b"- id: a\n- id: b\n  name: caf\xe9  # \xff\n- id: c  # caf\xe9\n", "yaml")
    assert [(line, error) for line, _, error in got] == [(1, None), (2, "item is not valid UTF-8"), (4, None)]
    assert got[1][1]["id"] == "b" and got[2][1] == {"id": "c"}


@settings(max_examples=200, deadline=None)
@given(items=st.lists(st.fixed_dictionaries({"id": st.integers(0, 99), "name": st.text("abé", min_size=1, max_size=4)}),
                      min_size=1, max_size=6), spoilt=st.sets(st.integers(0, 5), max_size=3), one_a_line=st.booleans())
def test_each_json_item_holding_a_byte_that_is_not_utf8_is_rejected_alone(
        items: list[dict[str, object]], spoilt: set[int], one_a_line: bool) -> None:
    # the items whose names hold a stray byte (Latin-1 where UTF-8 is due) are rejected, each in
    # its place; every other item is read as written
    parts = [json.dumps(item, ensure_ascii=False).encode() for item in items]
    parts = [part.replace(b'"name": "', b'"name": "\xe9', 1) if number in spoilt else part
             for number, part in enumerate(parts)]
    text = b"[" + (b",\n" if one_a_line else b", ").join(parts) + b"]\n"
    got = records(text, "json")
    assert [(item, error) for _, item, error in got] == [
        ({**item, "name": "\ufffd" + item["name"]}, "item is not valid UTF-8") if number in spoilt else (item, None)
        for number, item in enumerate(items)]
    # the same items as a YAML list, block or flow style
    entries = [yaml.safe_dump([item], sort_keys=False, allow_unicode=True, default_flow_style=one_a_line).encode()
               for item in items]
    entries = [entry.replace(b"name: ", b"name: \xe9", 1) if number in spoilt else entry
               for number, entry in enumerate(entries)]
    text = b"".join(entries) if not one_a_line else b"[" + b", ".join(entry.strip()[1:-1] for entry in entries) + b"]\n"
    got = records(text, "yaml")
    assert [error for _, _, error in got] == ["item is not valid UTF-8" if number in spoilt else None
                                              for number in range(len(items))]
    assert [item for number, (_, item, _) in enumerate(got) if number not in spoilt] == [
        item for number, item in enumerate(items) if number not in spoilt]


WIDE = ["utf-16", "utf-16-be", "utf-32", "utf-32-be"]  # Python's "utf-16" and "utf-32" write the machine's order


def wide(text: str, encoding: str) -> bytes:
    """`text` in `encoding`, byte order mark first (as Windows PowerShell 5 writes with `>`)."""
    mark = "\ufeff" if encoding.endswith("-be") else ""
    return (mark + text).encode(encoding, "surrogatepass")


@pytest.mark.parametrize("encoding", WIDE)
@pytest.mark.parametrize(("fmt", "text"), [
    ("jsonl", '{"id": "caf\u00e9", "n": 1}\r\n\r\n{"id": "\U0001f600"}\r\nnot json\r\n'),
    ("json", '[{"id": 1},\n {"id": "\u00e9"}]\n'),
    ("csv", "id,name\r\n1,caf\u00e9\r\n2,\"two\r\nlines\"\r\n"),
    ("yaml", "- id: 1\n  name: caf\u00e9\n- {id: 2}\n")])
def test_utf16_and_utf32_text_is_read_as_the_same_text_in_utf8(encoding: str, fmt: str, text: str) -> None:
    expected = records(text, fmt)
    assert [r for r in expected if r[2] is None]
    got = [(r.line, r.item, r.error) for r in read_items(as_utf8(io.BytesIO(wide(text, encoding))), fmt)]
    assert got == expected
    with open(__file__, "rb") as handle:  # a file (buffered) is read from its start too
        assert as_utf8(handle) is handle and handle.tell() == 0


@pytest.mark.parametrize("encoding", WIDE)
def test_a_unit_that_is_not_utf16_rejects_only_its_item(encoding: str) -> None:
    # a lone surrogate in one line, an odd byte at the end: as a stray byte in a UTF-8 file
    data = wide('{"id": 1}\n{"id": "a\ud800"}\n{"id": 3}\n', encoding) + b"x"
    got = [(r.line, r.item, r.error) for r in read_items(as_utf8(io.BytesIO(data)), "jsonl")]
    assert got == [(1, {"id": 1}, None), (2, {"id": "a\ufffd"}, "item is not valid UTF-8"), (3, {"id": 3}, None),
                   (4, None, "item is not valid UTF-8")]


def test_a_stream_without_a_wide_byte_order_mark_is_read_as_it_is() -> None:
    for data in [b"", b"\xff", b'\xef\xbb\xbf{"id": 1}\n', b'{"id": 1}\n']:
        stream = io.BytesIO(data)
        stream.seek(min(1, len(data)))  # from where it stands
        assert as_utf8(stream) is stream and stream.tell() == min(1, len(data))


def test_json_array_elements_with_their_lines() -> None:
    text = '[\n  {"id": 1},\n  {"id": 2,\n   "x": 3},\n  {"id": 3}\n]\n'
    assert [(line, item) for line, item, _ in records(text, "json")] == [(2, {"id": 1}), (3, {"id": 2, "x": 3}), (5, {"id": 3})]


def test_json_array_goes_on_after_a_bad_element() -> None:
    text = '[\n {"id": 1},\n {"id": 2, oops},\n {"id": 3}\n]'
    got = records(text, "json")
    assert [(line, item is not None, error is not None) for line, item, error in got] == [
        (2, True, False), (3, False, True), (4, True, False)]


def test_json_array_that_is_not_closed() -> None:
    got = records('[{"id": 1}, {"id": 2}', "json")
    assert [item for _, item, _ in got[:2]] == [{"id": 1}, {"id": 2}]
    assert got[-1][2] == "invalid JSON: the array is not closed with ']'"


def test_json_single_object_and_concatenated_objects() -> None:
    assert [(l, i) for l, i, _ in records('{\n  "id": 1\n}\n', "json")] == [(1, {"id": 1})]
    assert [(l, i) for l, i, _ in records('{"id": 1}\n{"id": 2}\n', "json")] == [(1, {"id": 1}), (2, {"id": 2})]


def test_json_array_larger_than_the_read_buffer() -> None:
    big = "[" + ",\n".join('{"id": %d, "pad": "%s"}' % (i, "x" * 500) for i in range(5000)) + "]"
    got = records(big, "json")
    assert len(got) == 5000 and all(error is None for _, _, error in got)
    assert got[-1][0] == 5000 and got[-1][1]["id"] == 4999


def test_csv_rows_lines_and_ragged_rows() -> None:
    text = 'id,type,note\nA,incident,"two\nlines"\n\nB,request\nC,problem,x\n'
    got = records(text, "csv")
    assert [(line, item) for line, item, _ in got] == [
        (2, {"id": "A", "type": "incident", "note": "two\nlines"}),
        (5, None),
        (6, {"id": "C", "type": "problem", "note": "x"}),
    ]
    assert got[1][2] == "row has 2 cells, but the header has 3"


def test_a_csv_cell_may_be_as_long_as_an_item() -> None:
    # a pasted log in a description: csv's own limit is 128 KiB a cell
    long = "x" * (1 << 20)
    assert records(f"id,notes\na,{long}\nb,short\n", "csv") == [(2, {"id": "a", "notes": long}, None),
                                                                (3, {"id": "b", "notes": "short"}, None)]
    got = records("id,notes\na," + "x" * (16 * 1024 * 1024 + 1) + "\nb,short\n", "csv")
    assert got == [(2, None, "a cell of this row is longer than 16 MiB"), (3, {"id": "b", "notes": "short"}, None)]


def test_csv_with_byte_order_mark_and_bad_bytes() -> None:
    got = records(b"\xef\xbb\xbfid,x\n1,\xff\n2,ok\n", "csv")
    assert got[0][2] == "row is not valid UTF-8" and got[1][1] == {"id": "2", "x": "ok"}
    assert got[0][1] == {"id": "1", "x": "\ufffd"}  # for its id


def test_yaml_list_of_items() -> None:
    text = "- id: 1\n  type: incident\n- id: 2\n  type: request\n"
    assert [(line, item["id"]) for line, item, _ in records(text, "yaml")] == [(1, 1), (3, 2)]


def test_format_from_extension() -> None:
    assert [format_for(p) for p in ("a.jsonl", "a.json", "a.csv", "a.yml", "a.ndjson", "-", None)] == [
        "jsonl", "json", "csv", "yaml", "jsonl", "jsonl", "jsonl"]
    assert format_for("a.txt", "csv") == "csv"


def nested_line(depth: int) -> str:
    """An item whose field `x` is `depth` lists deep: the item is nested `depth + 1` levels."""
    return '{"id": "deep", "x": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_an_item_nested_too_deeply_is_an_error_and_the_stream_goes_on(fmt: str) -> None:
    lines = ['{"id": 1}', nested_line(999), nested_line(1000), nested_line(50_000), '{"id": 5}']
    text = "\n".join(lines) if fmt == "jsonl" else "[" + ",\n".join(lines) + "]"
    got = records(text, fmt)
    assert [(line, error is None) for line, _, error in got] == [(1, True), (2, True), (3, False), (4, False), (5, True)]
    assert got[2][2] == "nested too deeply: an item may hold lists and objects 1,000 levels deep at most"


def test_how_deeply_an_item_may_be_nested_does_not_depend_on_the_callers_stack() -> None:
    # a worker process reads items from deeper in its stack than the main process does
    def read_at(depth: int, text: str) -> list[tuple[int, object, str | None]]:
        return read_at(depth - 1, text) if depth else records(text, "jsonl")

    text = "\n".join(nested_line(depth) for depth in (970, 985, 999, 1000)) + "\n"
    outcomes = {tuple(error is None for _, _, error in read_at(depth, text)) for depth in (0, 30, 200)}
    assert outcomes == {(True, True, True, False)}


def test_half_a_surrogate_pair_is_an_error_in_json_lines_and_json_documents() -> None:
    line = '{"id": "A-\\ud800", "x": 1}'
    for fmt, text in (("jsonl", line), ("json", f"[{line}, {{\"id\": 2}}]")):
        got = records(text, fmt)
        assert got[0][2] == "invalid JSON: a \\u escape of half a UTF-16 surrogate pair, which is no character", fmt
    assert records('["\\ud83d\\ude00", {"id": "\\udc00"}]', "json")[0][1] == "\U0001F600"  # a whole pair
    assert records('[{"id": "\\udc00"}]', "json")[0][2] is not None


def test_json_arrays_one_after_another_and_text_after_an_array() -> None:
    got = records('[{"id": 1}]\n[{"id": 2},\n {"id": 3}]\n', "json")
    assert [(line, item) for line, item, _ in got] == [(1, {"id": 1}), (2, {"id": 2}), (3, {"id": 3})]
    got = records('[{"id": 1}] trailing\n', "json")
    assert [item for _, item, _ in got] == [{"id": 1}, None] and got[1][2].startswith("invalid JSON")


def test_a_csv_quote_never_closed_is_an_error_naming_the_lines_it_swallowed() -> None:
    got = records('id,type\nA,"incident\nB,request\nC,problem\n', "csv")
    swallowed = 'invalid CSV: a quoted cell of this row is never closed, so lines 2 to 4 were read as one row; close the quote or double it ("")'
    assert got == [(2, None, swallowed)]
    got = records('id,type\nA,"inc"ident\nB,request\n', "csv")
    assert [line for line, _, error in got if error] == [2] and got[1][1] == {"id": "B", "type": "request"}


def test_a_yaml_item_with_a_problem_is_one_error_record_in_its_place() -> None:
    text = "- id: A\n  type: incident\n- id: B\n  type: idea\n  type: change\n- id: C\n  count: !!int many\n- id: D\n"
    got = records(text, "yaml")
    assert [(line, error) for line, _, error in got] == [
        (1, None),
        (3, "key 'type' appears twice in this mapping (line 5)"),
        (6, "'many' cannot be read as an integer (line 7)"),
        (8, None),
    ]
    assert got[1][1]["id"] == "B"  # the rejection names the item


def test_a_yaml_syntax_error_keeps_the_items_before_it() -> None:
    # the items whose entries end before the error are decided; the error stands for the rest
    text = "- id: A\n  type: incident\n- id: B\n- id: C\n  type: [incident\n- id: D\n"
    got = records(text, "yaml")
    assert [(line, item) for line, item, _ in got] == [(1, {"id": "A", "type": "incident"}), (3, {"id": "B"}), (6, None)]
    assert got[2][2] == "invalid YAML: did not find expected ',' or ']' (no item from line 4 on is read)"
    # an entry that ends where the error starts may lack what the error swallowed: not read
    got = records("- id: A\n- id: B\n  type: change\n risk: high\n", "yaml")
    assert [(line, item) for line, item, _ in got] == [(1, {"id": "A"}), (4, None)]
    assert got[1][2].endswith("(no item from line 2 on is read)")
    # a flow list on one line: the place is told by column; the items of the documents before it are kept as they were
    got = records("- id: Z\n---\n[{id: A}, {id: B}, {id: [}, {id: D}]\n", "yaml")
    assert [item for _, item, _ in got] == [{"id": "Z"}, {"id": "A"}, {"id": "B"}, None]
    assert got[3][2].endswith("(no item from line 3, column 18 on is read)")
    # nested deeper than Python's stack composes: the items before it are still kept
    got = records("- id: A\n- " + "- " * 1500 + "x\n- id: C\n", "yaml")
    assert [(line, item) for line, item, _ in got] == [(1, {"id": "A"}), (2, None)]
    assert got[1][2].endswith("(no item from line 2 on is read)")
    # one mapping a document: the document with the error is the error record
    got = records("id: A\n---\nid: [B\n", "yaml")
    assert [(line, item) for line, item, _ in got] == [(1, {"id": "A"}), (4, None)]
    assert got[1][2] == "invalid YAML: did not find expected ',' or ']'"


yaml_items = st.lists(st.fixed_dictionaries({
    "id": st.integers(0, 999), "name": st.text("ab :-#'\"[]{}", max_size=6),
    "tags": st.lists(st.integers(0, 9), max_size=3), "flag": st.booleans()}), min_size=1, max_size=6)


@settings(max_examples=300, deadline=None)
@given(items=yaml_items, flow=st.booleans(), place=st.floats(0, 1, exclude_max=True), column=st.integers(0, 12),
       mark=st.sampled_from(["[", "{", "]", "}", ": x: y", "\t", "'", '"', "- [", " bad: x", "`", "&a *a", "*b"]))
def test_after_a_yaml_syntax_error_the_items_before_it_are_read_as_written(
        items: list[dict[str, object]], flow: bool, place: float, column: int, mark: str) -> None:
    # whatever breaks the text at a line, the items that end before that line are decided as
    # they were written, and none is read after the error
    lines = yaml.safe_dump(items, sort_keys=False, default_flow_style=flow).splitlines(keepends=True)
    broken = int(place * len(lines))
    lines[broken] = lines[broken][:column] + mark + lines[broken][column:]
    got = records("".join(lines), "yaml")
    assert [line for line, _, _ in got] == sorted(line for line, _, _ in got)
    stopped = [line for line, _, error in got if error and error.startswith("invalid YAML")]
    if not stopped or flow:
        return  # the text still reads as YAML (as written, it says something else), or one line holds all
    starts = [number + 1 for number, line in enumerate(lines) if line.startswith("- ")]
    whole = [item for item, following in zip(items, starts[1:]) if following <= broken]  # end before the line
    decided = [(line, item) for line, item, error in got if error is None]
    assert decided[:len(whole)] == list(zip(starts, whole))
    assert all(line <= stopped[0] for line, _ in decided)


def test_a_yaml_integer_longer_than_python_reads_is_an_error() -> None:
    got = records("- id: A\n  count: 1" + "0" * 5000 + "\n- id: B\n", "yaml")
    assert got[0][2].startswith("'1000") and got[0][2].endswith("cannot be read as an integer (line 2)")
    assert got[1][1] == {"id": "B"}


def test_a_csv_column_named_twice_rejects_every_row() -> None:
    # which of the two cells is the item's value? (a YAML item with a key written twice is rejected too)
    got = records("id,cost,note,cost\nA,1,x,300000\nB,2,y,3\n", "csv")
    doubt = "the CSV header names the column 'cost' more than once (columns 2 and 4): rename or remove one"
    assert [(line, error) for line, _, error in got] == [(2, doubt), (3, doubt)]
    assert got[0][1]["id"] == "A"  # the rejection names the item


def test_a_yaml_item_too_deeply_nested_is_rejected_alone() -> None:
    deep = "x"
    for _ in range(300):
        deep = "[" + deep + "]"
    text = f"- id: A\n- id: B\n  x: {deep}\n- id: C\n---\nid: D\n"
    got = records(text, "yaml")
    assert [(line, error is None) for line, _, error in got] == [(1, True), (2, False), (4, True), (6, True)]
    assert got[1][2] == "item is too large or too deeply nested (in YAML an item may hold 1,000,000 values, 200 levels deep)"
