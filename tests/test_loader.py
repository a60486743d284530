"""Load stage: YAML text -> data and spans; duplicate keys and unsafe tags are refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine import loader
from engine.errors import Diagnostic, Span
from engine.loader import discover, parse_documents

ROOT = Path(__file__).resolve().parent.parent
# libyaml's composer where it bounds nesting itself (0.2.6 on), and the one composing its events
# in Python that stands in for it otherwise: a document must read alike with either
COMPOSERS = pytest.mark.parametrize("composer", [loader._LOADER, loader._PythonComposer], ids=["chosen", "python"])


def test_values_and_spans_are_recorded_by_path() -> None:
    text = "rulebook: 1\nrules:\n  - id: r1\n    when: x > 1\n"
    (document,), problems = parse_documents(text, "p.yaml")
    assert problems == []
    assert document.data == {"rulebook": 1, "rules": [{"id": "r1", "when": "x > 1"}]}
    span = document.value_span(("rules", 0, "when"))
    assert (span.file, span.line, span.column) == ("p.yaml", 4, 11)
    key = document.key_span(("rules", 0, "when"))
    assert (key.line, key.column) == (4, 5)
    # an unrecorded path falls back to its nearest recorded ancestor
    assert document.value_span(("rules", 0, "when", "deeper")) == span


def test_duplicate_key_is_an_error_not_a_merge() -> None:
    text = "a: 1\nb: 2\na: 3\n"
    (document,), problems = parse_documents(text, "p.yaml")
    assert [p.code for p in problems] == ["duplicate-key"]
    problem = problems[0]
    assert (problem.span.line, problem.span.column) == (3, 1)
    assert "line 1" in problem.hint
    assert document.data == {"a": 1, "b": 2}  # the first one is kept, never silently replaced


def test_duplicate_keys_in_nested_mappings_are_found() -> None:
    text = "rules:\n  - id: a\n    when: x\n    when: y\n"
    _, problems = parse_documents(text, "p.yaml")
    assert [(p.code, p.span.line, p.span.column) for p in problems] == [("duplicate-key", 4, 5)]


def test_yaml_syntax_error_has_its_position() -> None:
    _, problems = parse_documents("a: [1, 2\nb: 3\n", "p.yaml")
    assert [p.code for p in problems] == ["yaml-syntax"]
    assert problems[0].span.line == 2
    assert problems[0].message.startswith("invalid YAML:")


def test_tabs_get_a_hint() -> None:
    _, problems = parse_documents("a:\n\tb: 1\n", "p.yaml")
    assert problems and problems[0].code == "yaml-syntax"
    assert "tab" in (problems[0].hint or "") or "tab" in problems[0].message


def test_unsafe_tags_are_refused() -> None:
    _, problems = parse_documents("a: !!python/object:os.system ls\n", "p.yaml")
    assert problems and problems[0].code in ("yaml-tag", "yaml-syntax")


def test_python_tags_on_lists_and_mappings_are_refused_too() -> None:
    text = "enum: !!python/object/apply:os.system [low, high]\nrules: !!python/tuple []\nok: !!seq [1]\n"
    (document,), problems = parse_documents(text, "p.yaml")
    assert [(p.code, p.span.line, p.span.column) for p in problems] == [("yaml-tag", 1, 7), ("yaml-tag", 2, 8)]
    assert problems[0].message == "YAML tag 'tag:yaml.org,2002:python/object/apply:os.system' is not supported"
    assert document.data == {"enum": ["low", "high"], "rules": [], "ok": [1]}  # plain data, nothing run


def test_a_value_its_tag_cannot_read_is_an_error_at_the_value() -> None:
    text = "a: !!int abc\nb: !!bool maybe\nc: 1" + "0" * 5000 + "\nd: !!float 1.5\n"
    (document,), problems = parse_documents(text, "p.yaml")
    assert [(p.code, p.span.line, p.span.column, p.message[:20]) for p in problems] == [
        ("yaml-value", 1, 4, "'abc' cannot be read"), ("yaml-value", 2, 4, "'maybe' cannot be re"),
        ("yaml-value", 3, 4, "'1000000000000000000")]
    assert problems[0].hint == "write it without the '!!int' tag, or as an integer"
    assert problems[2].hint == "an integer may have at most 4,300 digits"
    assert document.data["d"] == 1.5


def test_keys_are_taken_as_written() -> None:
    (document,), problems = parse_documents("no: 1\nyes: 2\n1: 3\n", "p.yaml")
    assert problems == []
    assert document.data == {"no": 1, "yes": 2, "1": 3}


def test_timestamps_stay_text() -> None:
    (document,), _ = parse_documents("when: 2026-11-22\n", "p.yaml")
    assert document.data == {"when": "2026-11-22"}


def test_raw_text_of_unquoted_numbers_is_kept() -> None:
    (document,), _ = parse_documents("version: 2026.10\n", "p.yaml")
    assert document.data["version"] == 2026.1
    assert document.nodes[("version",)].raw == "2026.10"


def test_alias_bombs_are_bounded() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    _, problems = parse_documents("\n".join(lines) + "\n", "bomb.yaml")
    assert [p.code for p in problems] == ["yaml-too-large"]


def test_several_documents_in_one_file() -> None:
    documents, problems = parse_documents("a: 1\n---\nb: 2\n", "p.yaml")
    assert problems == []
    assert [d.data for d in documents] == [{"a": 1}, {"b": 2}]
    assert documents[1].span.line == 3


def test_byte_order_mark_is_ignored() -> None:
    (document,), problems = parse_documents("\ufeffa: 1\n", "p.yaml")
    assert problems == [] and document.data == {"a": 1}


def test_a_byte_that_is_not_utf8_is_reported_where_it_is(tmp_path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes("rulebook: 1\r\nname: caf\u00e9 \u00e9\xe9\r\n".encode("latin-1"))
    assert loader.read_file(str(path), "p.yaml") == ([], [Diagnostic(
        "file-encoding", "file is not valid UTF-8 (invalid continuation byte)", Span("p.yaml", 2, 10),
        "save the file as UTF-8, or write the character again")])
    # the excerpt shows the line, the byte as U+FFFD
    assert loader.shown_text(str(path)) == "rulebook: 1\nname: caf\ufffd \ufffd\ufffd\n"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_a_policy_in_utf16_or_utf32_is_asked_for_in_utf8(tmp_path, encoding: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes("rulebook: 1\r\nname: caf\u00e9\r\n".encode(encoding))
    (problem,) = loader.read_file(str(path), "p.yaml")[1]
    assert (problem.code, problem.message, problem.span) == (
        "file-encoding", f"file is {encoding.upper()}, not UTF-8", Span("p.yaml", 1, 1))
    assert problem.hint and problem.hint.startswith("save it as UTF-8")
    assert loader.shown_text(str(path)) == "rulebook: 1\nname: caf\u00e9\n"


def test_discover_searches_folders_in_order_and_skips_hidden(tmp_path) -> None:
    (tmp_path / "b.yaml").write_text("x: 1\n")
    (tmp_path / "a.yml").write_text("x: 1\n")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "ci.yaml").write_text("x: 1\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.yaml").write_text("x: 1\n")
    files, problems = discover([str(tmp_path)])
    assert problems == []
    assert [f.replace(str(tmp_path), "") for f in files] == ["/a.yml", "/b.yaml", "/sub/c.yaml"]


def test_discover_reports_missing_paths(tmp_path) -> None:
    files, problems = discover([str(tmp_path / "nope.yaml")])
    assert files == [] and [p.code for p in problems] == ["file-missing"]


def test_discover_reads_a_file_named_twice_once(tmp_path) -> None:
    # `-p a.yaml -p a.yaml`, or a file and its folder: one policy, not a policy defined twice
    (tmp_path / "a.yaml").write_text("x: 1\n")
    (tmp_path / "b.yaml").write_text("x: 1\n")
    files, _ = discover([str(tmp_path / "a.yaml"), str(tmp_path), f"{tmp_path}/./a.yaml"])
    assert [f.replace(str(tmp_path), "") for f in files] == ["/a.yaml", "/b.yaml"]


def test_an_alias_bomb_and_an_anchor_within_itself_are_refused_before_anything_is_built() -> None:
    # nine aliases of nine aliases ... eight deep: 43 million values written out from 80 lines
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 9)]
    for text in ("\n".join(lines) + "\n", "a: &x [1, *x]\n"):
        documents, problems = parse_documents(text, "p.yaml")
        assert documents == [] and [p.code for p in problems] == ["yaml-too-large"]
        assert problems[0].hint.endswith("an alias (*name) counts as all it stands for")
    (document,), problems = parse_documents("a: &x [1, 2]\nb: *x\nc: *x\n", "p.yaml")
    assert problems == [] and document.data == {"a": [1, 2], "b": [1, 2], "c": [1, 2]}


# (text, listed) -> what is read: documents' data and each problem's code, message and place
DEEP = {
    "flow, 100,000 levels": ("[" * 100_000, False),
    "flow, 1,001 levels": ("a: " + "[" * 1000 + "]" * 1000 + "\n", False),
    "flow, 1,000 levels": ("a: " + "[" * 999 + "]" * 999 + "\n", False),
    "block, 1,001 levels": ("".join("  " * i + "k:\n" for i in range(1001)) + "  " * 1001 + "x\n", False),
    "an item 1,500 levels deep": ("- id: A\n- " + "- " * 1500 + "x\n- id: C\n", True),
    "an item 500 levels deep": ("- id: A\n- " + "- " * 500 + "x\n- id: C\n", True),
    "an item 100,000 levels deep": ("- id: A\n- " + "{a: " * 100_000 + "\n", True),
}


def _read(text: str, listed: bool) -> tuple[list, list]:
    documents, problems = parse_documents(text, "p.yaml", listed)
    return [d.data for d in documents], [(p.code, p.message, p.span.line, p.span.column) for p in problems]


@COMPOSERS
def test_nesting_beyond_the_limit_stops_the_parse_and_deep_entries_are_refused_alone(composer, monkeypatch) -> None:
    # an older libyaml composed in C, once a level: 100,000 levels overflowed its stack (a crash)
    monkeypatch.setattr(loader, "_LOADER", composer)
    stop = "invalid YAML: exceeded maximum nesting depth"
    assert _read(*DEEP["flow, 100,000 levels"])[1] == [("yaml-syntax", stop, 1, 1001)]
    assert _read(*DEEP["flow, 1,001 levels"]) == ([], [("yaml-syntax", stop, 1, 1003)])
    assert _read(*DEEP["flow, 1,000 levels"])[1][0][:2] == ("yaml-too-large", "document is too large or too deeply nested")
    # libyaml 0.2.6 counts a block's levels in its scanner, and stops a level sooner than this
    data, ((code, message, line, _),) = _read(*DEEP["block, 1,001 levels"])
    assert data == [] and (code, message) == ("yaml-syntax", stop) and line in (1000, 1001)
    # in a list of items: deeper than the limit stops there; within it, only that item is refused
    data, ((code, message, line, column),) = _read(*DEEP["an item 1,500 levels deep"])
    assert data == [[{"id": "A"}]] and (code, message, line) == ("yaml-syntax", f"{stop} (no item from line 2 on is read)", 2)
    assert column in (1999, 2001)
    assert _read(*DEEP["an item 500 levels deep"]) == (
        [[{"id": "A"}, None, {"id": "C"}]], [("yaml-too-large", "entry is too large or too deeply nested", 2, 3)])
    data, problems = _read(*DEEP["an item 100,000 levels deep"])
    assert data == [[{"id": "A"}]] and problems[0][1].endswith("(no item from line 2 on is read)")


def test_both_composers_read_the_shipped_policies_and_examples_alike(monkeypatch) -> None:
    files = sorted(str(path) for folder in ("policies", "examples") for path in (ROOT / folder).rglob("*.yaml"))
    assert len(files) >= 5
    read = []
    for composer in (loader._LOADER, loader._PythonComposer):
        monkeypatch.setattr(loader, "_LOADER", composer)
        read.append([loader.read_file(file) for file in files])
    assert read[0] == read[1]


def test_without_libyaml_deep_documents_are_read_as_with_it() -> None:
    # PyYAML built without libyaml parses in Python: the same limit holds, and nothing crashes
    script = (
        "import json, sys\n"
        "sys.modules['yaml._yaml'] = None\n"
        "from engine import loader\n"
        "from tests.test_loader import DEEP, _read\n"
        "assert loader._LOADER is loader._PythonComposer\n"
        "print(json.dumps({name: _read(*case) for name, case in DEEP.items() if len(case[0]) < 10_000}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    without = json.loads(done.stdout)
    assert len(without) == 4  # the 100,000 levels take PyYAML's own scanner seconds
    for name, (data, problems) in without.items():
        case = DEEP[name]
        expected_data, expected_problems = json.loads(json.dumps(_read(*case)))
        # the places differ by a column or a line: PyYAML's parser marks a block a character sooner
        assert data == expected_data and [p[:2] for p in problems] == [p[:2] for p in expected_problems], name
