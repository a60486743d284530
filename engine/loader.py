"""Load stage: YAML text -> plain data plus a table of source spans by path.

PyYAML composes each document into nodes that carry their start marks; this module builds
the plain data (dicts, lists, strings, numbers, booleans, None) from those nodes itself, so
that it can record where every key and value came from, refuse duplicate keys instead of
merging them, and resolve only the scalar types a policy can use. Nothing here knows what
a policy is: later stages ask a `Document` for the span of a path.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.resolver import Resolver

from .errors import Diagnostic, Span
from .items import wide_encoding
from .jsonio import nested
from .resources import yaml_files_in

Path = tuple[str | int, ...]


# A document may not expand (through aliases) to more nodes than this, nor nest deeper.
MAX_NODES = 1_000_000
MAX_DEPTH = 200
# Lists and mappings nested more deeply than this stop the parse (a syntax error), as libyaml
# 0.2.6 and newer has it; what is deeper than MAX_DEPTH but within this is refused on its own.
MAX_NESTING = 1000
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_SCALAR_TAGS = {
    "tag:yaml.org,2002:str": _CONSTRUCTOR.construct_yaml_str,
    "tag:yaml.org,2002:int": _CONSTRUCTOR.construct_yaml_int,
    "tag:yaml.org,2002:float": _CONSTRUCTOR.construct_yaml_float,
    "tag:yaml.org,2002:bool": _CONSTRUCTOR.construct_yaml_bool,
    "tag:yaml.org,2002:null": _CONSTRUCTOR.construct_yaml_null,
}
_COLLECTION_TAGS = {"tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"}
_KIND_NAMES = {"int": "an integer", "float": "a number", "bool": "a boolean"}
# Timestamps stay text: a policy compares dates through declared inputs, not YAML magic.
_TEXT_TAGS = {"tag:yaml.org,2002:timestamp"}


@dataclass(frozen=True, slots=True)
class Node:
    """Where one value of a document came from."""

    span: Span  # the value
    key_span: Span | None  # the mapping key that holds it, if any
    style: str | None  # YAML scalar style: None (plain), "'", '"', "|", ">"; None for collections
    raw: str | None  # the scalar's text as written (before type resolution)


@dataclass(slots=True)
class Document:
    """One YAML document: its data and the span of every path in it."""

    file: str
    index: int
    data: Any
    nodes: dict[Path, Node] = field(repr=False)
    text: str = field(repr=False, default="")
    _lines: list[str] | None = field(repr=False, default=None, compare=False)

    @property
    def lines(self) -> list[str]:
        """The lines of the file's text (split once: every expression's locator reads them)."""
        if self._lines is None:
            self._lines = self.text.splitlines()
        return self._lines

    @property
    def span(self) -> Span:
        return self.nodes[()].span

    def node(self, path: Path) -> Node:
        """The recorded node of `path`, or of its nearest recorded ancestor."""
        while path not in self.nodes:
            path = path[:-1]
        return self.nodes[path]

    def value_span(self, path: Path) -> Span:
        """Where the value at `path` starts (or the nearest enclosing value)."""
        return self.node(path).span

    def key_span(self, path: Path) -> Span:
        """Where the key that holds `path` is written (the value itself for list items)."""
        node = self.node(path)
        return node.key_span or node.span


class _Builder:
    """Turns composed YAML nodes into plain data, recording spans and refusing duplicates."""

    def __init__(self, file: str):
        self.file = file
        self.nodes: dict[Path, Node] = {}
        self.problems: list[Diagnostic] = []
        self.count = 0

    def span(self, mark: yaml.Mark, end: yaml.Mark | None = None) -> Span:
        if end is not None and end.line == mark.line:
            return Span(self.file, mark.line + 1, mark.column + 1, end.line + 1, end.column + 1)
        return Span(self.file, mark.line + 1, mark.column + 1)

    def build(self, node: yaml.Node, path: Path, key_span: Span | None, depth: int = 0) -> Any:
        self.count += 1
        if self.count > MAX_NODES or depth > MAX_DEPTH:
            raise _TooLarge(self.span(node.start_mark))
        value_span = self.span(node.start_mark, node.end_mark)
        if isinstance(node, yaml.ScalarNode):
            self.nodes[path] = Node(value_span, key_span, node.style or None, node.value)
            return self.scalar(node, value_span)
        self.nodes[path] = Node(value_span, key_span, None, None)
        if node.tag not in _COLLECTION_TAGS:  # `!!python/tuple [...]`: nothing is built from it, but it is no policy
            self.problems.append(Diagnostic("yaml-tag", f"YAML tag '{node.tag}' is not supported", value_span,
                                            "a policy holds only text, numbers, booleans, lists and mappings"))
        if isinstance(node, yaml.SequenceNode):
            return [self.build(child, path + (i,), None, depth + 1) for i, child in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path, depth)
        raise AssertionError(f"unexpected YAML node {node!r}")  # pragma: no cover - PyYAML has three kinds

    def scalar(self, node: yaml.ScalarNode, span: Span) -> Any:
        construct = _SCALAR_TAGS.get(node.tag)
        if construct is not None:
            try:
                return construct(node)
            except (ValueError, KeyError):  # `!!int abc`, `!!bool maybe`, an integer of 5,000 digits
                kind = node.tag.rsplit(":", 1)[-1]
                shown = node.value if len(node.value) <= 40 else node.value[:37] + "..."
                self.problems.append(
                    Diagnostic("yaml-value", f"'{shown}' cannot be read as {_KIND_NAMES.get(kind, kind)}", span,
                               "an integer may have at most 4,300 digits" if kind == "int" and len(node.value) > 4300
                               else f"write it without the '!!{kind}' tag, or as {_KIND_NAMES.get(kind, kind)}")
                )
                return node.value
        if node.tag in _TEXT_TAGS:
            return node.value
        self.problems.append(
            Diagnostic(
                "yaml-tag",
                f"YAML tag '{node.tag}' is not supported",
                span,
                "a policy holds only text, numbers, booleans, lists and mappings",
            )
        )
        return node.value

    def mapping(self, node: yaml.MappingNode, path: Path, depth: int) -> dict[str, Any]:
        data: dict[str, Any] = {}
        first_seen: dict[str, Span] = {}
        for key_node, value_node in node.value:
            key_span = self.span(key_node.start_mark, key_node.end_mark)
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(Diagnostic("yaml-key", "a mapping key must be a plain value", key_span))
                continue
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.problems.append(
                    Diagnostic("yaml-merge", "merge keys ('<<') are not supported", key_span, "write the keys out")
                )
                continue
            # keys are taken as written: `no:` is the key "no", not the boolean false
            key = key_node.value
            if key in first_seen:
                self.problems.append(
                    Diagnostic(
                        "duplicate-key",
                        f"key '{key}' appears twice in this mapping",
                        key_span,
                        f"the first '{key}' is at line {first_seen[key].line}; YAML would silently keep only the last",
                    )
                )
                continue
            first_seen[key] = key_span
            data[key] = self.build(value_node, path + (key,), key_span, depth + 1)
        return data


def _expanded_size(node: yaml.Node, sizes: dict[int, int], depth: int) -> int:
    """How many values `node` stands for once every alias is written out, up to just past the
    limits. An alias is the node of its anchor, so each node is counted once and an alias bomb
    (nine aliases of nine aliases of ...) is refused before any of it is built."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    too_large = MAX_NODES + 1
    if depth > MAX_DEPTH:
        return too_large
    sizes[id(node)] = too_large  # while counting: an anchor within itself is endless
    size = 1
    if isinstance(node, (yaml.SequenceNode, yaml.MappingNode)):
        children = node.value if isinstance(node, yaml.SequenceNode) else [part for pair in node.value for part in pair]
        for child in children:
            size += _expanded_size(child, sizes, depth + 1)
            if size > MAX_NODES:
                size = too_large
                break
    sizes[id(node)] = size
    return size


class _TooLarge(Exception):
    def __init__(self, span: Span):
        self.span = span


def parse_documents(text: str, file: str, listed: bool = False) -> tuple[list[Document], list[Diagnostic]]:
    """Parse every YAML document in `text`; problems come back as diagnostics, never raised.

    With `listed` (items), a document that is a list is built entry by entry: an entry too
    large or too deeply nested is None in it, with its problem, and the others are kept.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    documents: list[Document] = []
    problems: list[Diagnostic] = []
    loader = _LOADER(text)
    try:
        index = 0
        while loader.check_node():
            node = _composed(loader.get_node)
            builder = _Builder(file)
            try:
                if listed and isinstance(node, yaml.SequenceNode):
                    data = _entries(builder, node, node.value, problems)
                else:
                    data = _built(builder, node, (), None)
            except _TooLarge as too_large:
                problems.append(_too_large(too_large.span))
                index += 1
                continue
            problems.extend(builder.problems)
            documents.append(Document(file, index, data, builder.nodes, text))
            index += 1
    except yaml.MarkedYAMLError as error:
        problem = _syntax_diagnostic(error, file, text)
        recovered = _entries_before(text, index, error) if listed else None
        if recovered is not None:
            # the entries of the list that end before the error are items like any other; the
            # error stands for the rest of its document, from the first entry not read
            root, entries = recovered
            builder = _Builder(file)
            data = _entries(builder, root, entries, problems)
            problems.extend(builder.problems)
            documents.append(Document(file, index, data, builder.nodes, text))
            unread = _place(text, entries[-1].end_mark if entries else root.start_mark)
            problem = replace(problem, message=f"{problem.message} (no item from {unread} on is read)")
        problems.append(problem)
    except yaml.YAMLError as error:  # pragma: no cover - every PyYAML parse error carries a mark
        problems.append(Diagnostic("yaml-syntax", f"invalid YAML: {error}", Span(file, 1, 1)))
    finally:
        loader.dispose()
    return documents, problems


def _entries(builder: _Builder, root: yaml.SequenceNode, entries: list[yaml.Node],
             problems: list[Diagnostic]) -> list[Any]:
    """The items of a list document, each refused on its own when too large (None in its place)."""
    builder.nodes[()] = Node(builder.span(root.start_mark, root.end_mark), None, None, None)
    return [_built(builder, entry, (number,), problems) for number, entry in enumerate(entries)]


try:
    from yaml.cyaml import CParser as _EventParser
except ImportError:  # pragma: no cover - PyYAML built without libyaml

    class _EventParser(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):  # type: ignore[no-redef]
        def __init__(self, text: str):
            yaml.reader.Reader.__init__(self, text)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)


class _PythonComposer(_EventParser, Composer, Resolver):  # type: ignore[misc]
    """libyaml's events (or PyYAML's own parser's) composed in Python.

    It keeps the root of the document being composed, so that the entries of a list composed
    before a syntax error can still be read; and it stops at MAX_NESTING levels, as libyaml
    0.2.6 does, so that a document is read alike whichever parser there is. (An older libyaml
    composes in C, once a level, and a document nested deeply enough overflows its stack.)
    """

    check_node = Composer.check_node
    get_node = Composer.get_node

    def __init__(self, text: str):
        _EventParser.__init__(self, text)
        Composer.__init__(self)
        Resolver.__init__(self)
        self.root: yaml.Node | None = None
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self.root is None and parent is not None:
            self.root = parent
        if not self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent):  # libyaml matches the class exactly
            return Composer.compose_node(self, parent, index)
        if self.depth == MAX_NESTING:
            raise yaml.composer.ComposerError(None, None, "exceeded maximum nesting depth", self.peek_event().start_mark)
        self.depth += 1
        try:
            return Composer.compose_node(self, parent, index)
        finally:
            self.depth -= 1


def _composed(get_node: Callable[[], yaml.Node]) -> yaml.Node:
    """The next node, with room for MAX_NESTING levels of `_PythonComposer`'s recursion (three
    frames a level), however deep the caller is."""
    return nested(lambda _: get_node(), None, frames=3, levels=MAX_NESTING)


def _libyaml_limits_nesting() -> bool:
    try:
        from yaml import _yaml
    except ImportError:
        return False
    return tuple(_yaml.get_version()) >= (0, 2, 6)


# libyaml's own composer where it bounds nesting itself (fast); else the one above
_LOADER: Any = yaml.CSafeLoader if _libyaml_limits_nesting() else _PythonComposer


def _entries_before(text: str, index: int, error: yaml.MarkedYAMLError) -> tuple[yaml.SequenceNode, list[yaml.Node]] | None:
    """The root list of document `index` and its entries that end before `error`, which stopped
    its parse; None if that document is no list (or parses otherwise here)."""
    mark = error.problem_mark or error.context_mark
    if mark is None:  # pragma: no cover - libyaml marks every problem
        return None
    composer = _PythonComposer(text)
    try:
        for _ in range(index + 1):
            composer.root = None
            if not composer.check_node():
                return None
            _composed(composer.get_node)
        return None
    except yaml.YAMLError:
        root = composer.root
    finally:
        composer.dispose()
    if not isinstance(root, yaml.SequenceNode):
        return None
    # an entry that ends where the error is may be missing what the error swallowed
    entries = [entry for entry in root.value if (entry.end_mark.line, entry.end_mark.column) < (mark.line, mark.column)]
    return root, entries


def _place(text: str, mark: yaml.Mark) -> str:
    """'line N', or 'line N, column C' where something comes before the mark on its line."""
    lines = text.splitlines()
    if mark.line < len(lines) and lines[mark.line][: mark.column].strip():
        return f"line {mark.line + 1}, column {mark.column + 1}"
    return f"line {mark.line + 1}"


def _built(builder: _Builder, node: yaml.Node, path: Path, problems: list[Diagnostic] | None) -> Any:
    """The data of `node`, refused before anything is built when it stands for too many values.
    With `problems`, too large is told there and the data is None; else it is raised."""
    try:
        if _expanded_size(node, {}, len(path)) > MAX_NODES:
            builder.nodes.setdefault(path, Node(builder.span(node.start_mark, node.end_mark), None, None, None))
            raise _TooLarge(builder.span(node.start_mark))
        return builder.build(node, path, None, len(path))
    except _TooLarge as too_large:
        if problems is None:
            raise
        problems.append(_too_large(too_large.span, "entry"))
        return None


def _too_large(span: Span, what: str = "document") -> Diagnostic:
    return Diagnostic("yaml-too-large", f"{what} is too large or too deeply nested", span,
                      f"a document may hold at most {MAX_NODES:,} values, nested at most {MAX_DEPTH} deep; "
                      "an alias (*name) counts as all it stands for")


def _syntax_diagnostic(error: yaml.MarkedYAMLError, file: str, text: str) -> Diagnostic:
    mark = error.problem_mark or error.context_mark
    span = Span(file, mark.line + 1, mark.column + 1) if mark else Span(file, 1, 1)
    problem = (error.problem or "invalid YAML").strip()
    message = f"invalid YAML: {problem}"
    hint = None
    if error.context and error.context_mark is not None and error.context_mark.line != getattr(mark, "line", None):
        hint = f"{error.context.strip()} that starts at line {error.context_mark.line + 1}"
    lines = text.splitlines()
    if mark is not None and mark.line < len(lines) and "\t" in lines[mark.line][: mark.column + 1]:
        hint = "YAML does not allow tabs for indentation; use spaces"
    return Diagnostic("yaml-syntax", message, span, hint)


def read_file(path: str, display: str | None = None) -> tuple[list[Document], list[Diagnostic]]:
    """Read and parse one YAML file; unreadable files are reported as diagnostics."""
    name = display or path
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except UnicodeDecodeError:
        return [], [_not_utf8(path, name)]
    except OSError as error:
        return [], [Diagnostic("file-unreadable", f"cannot read file: {error.strerror or error}", Span(name, 1, 1))]
    return parse_documents(text, name)


def _not_utf8(path: str, name: str) -> Diagnostic:
    """The diagnostic for a policy file that is not UTF-8: where its first unreadable byte is,
    or that it is UTF-16 or UTF-32 as a whole."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        encoding = wide_encoding(data)
        if encoding is not None:
            return Diagnostic("file-encoding", f"file is {encoding.upper()}, not UTF-8", Span(name, 1, 1),
                              "save it as UTF-8 (in PowerShell: Set-Content -Encoding utf8, or "
                              "Out-File -Encoding utf8)")
        start = data.rfind(b"\n", 0, error.start) + 1
        column = len(data[start:error.start].decode("utf-8", "replace")) + 1
        return Diagnostic("file-encoding", f"file is not valid UTF-8 ({error.reason})",
                          Span(name, data.count(b"\n", 0, error.start) + 1, column),
                          "save the file as UTF-8, or write the character again")
    except OSError as error:
        return Diagnostic("file-unreadable", f"cannot read file: {error.strerror or error}", Span(name, 1, 1))
    return Diagnostic("file-encoding", "file is not valid UTF-8", Span(name, 1, 1))  # changed while read


def shown_text(path: str) -> str:
    """The text of a file as excerpts show it: in its own encoding where it has a UTF-16 or
    UTF-32 byte order mark, else as UTF-8 with each unreadable byte shown as U+FFFD."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return ""
    encoding = wide_encoding(data)
    text = data.decode(encoding or "utf-8", "replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")  # as files read as text are (universal newlines)


def discover(paths: list[str] | tuple[str, ...]) -> tuple[list[str], list[Diagnostic]]:
    """The YAML files named by `paths`: files as given, folders searched recursively in name order.

    Hidden files and folders (a leading '.') are skipped, so a policy repository's `.github/`
    does not count as policy. Each file is named in one spelling however it was reached
    (`./p.yaml` is `p.yaml`), so that a file named by a test file too is reported once.
    """
    files: list[str] = []
    problems: list[Diagnostic] = []
    for path in paths:
        if os.path.isdir(path):
            found = yaml_files_in(path)
            if not found:
                problems.append(
                    Diagnostic("no-policy", f"folder '{path}' holds no .yaml or .yml files", Span(path, 1, 1))
                )
            files.extend(found)
        elif os.path.exists(path):
            files.append(path)
        else:
            problems.append(Diagnostic("file-missing", f"no such file or folder '{path}'", Span(path, 1, 1)))
    # a file named twice, or named and inside a folder named too, is one file: read once
    unique: list[str] = []
    seen: set[str] = set()
    for file in files:
        real = os.path.realpath(file)
        if real not in seen:
            seen.add(real)
            unique.append(os.path.normpath(file))
    return unique, problems
