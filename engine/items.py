"""Item input: a byte stream in JSONL, JSON, CSV or YAML -> items with their line numbers.

Readers stream (constant memory, except YAML which is read whole) and never stop at a bad
record: a line that is not valid JSON, a CSV row with the wrong number of cells, an array
element that does not parse, each becomes a record carrying its line number and the
problem, so that every input item yields exactly one output record.
"""

from __future__ import annotations

import codecs
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from .jsonio import (
    HALF_SURROGATE,
    NESTED_TOO_DEEPLY,
    deeper_than_allowed,
    is_utf8,
    nested,
)

FORMATS = ("jsonl", "json", "csv", "yaml")
MAX_RECORD_BYTES = 16 * 1024 * 1024  # one item may not be larger than this
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ItemRecord:
    """One input record: the parsed item, or the reason it could not be read."""

    line: int
    item: Any = None
    error: str | None = None
    text_values: bool = False  # CSV: every value is text, to be read as its declared type


# UTF-32 LE's mark starts as UTF-16 LE's does, so it is tried first
WIDE_MARKS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
              (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def wide_encoding(start: bytes) -> str | None:
    """'utf-16' or 'utf-32' where `start` is the byte order mark of one (Windows PowerShell 5
    writes text so with `>` and `Out-File`), else None."""
    return next((encoding for mark, encoding in WIDE_MARKS if start.startswith(mark)), None)


def as_utf8(stream: IO[bytes]) -> IO[bytes]:
    """`stream` itself, or where it starts with a UTF-16 or UTF-32 byte order mark (Windows
    PowerShell 5 writes text so with `>`), the same text as UTF-8, which every reader reads.

    A unit that is not UTF-16 (a lone surrogate, an odd byte at the end) becomes a byte that is
    not UTF-8, so that its item is rejected as it is in a UTF-8 file."""
    try:
        start = stream.peek(4)[:4] if isinstance(stream, io.BufferedReader) else _start_of(stream)
    except (OSError, ValueError):
        return stream  # reading it says what is wrong
    encoding = wide_encoding(start)
    return stream if encoding is None else io.BufferedReader(_Transcoded(stream, encoding), _CHUNK)


def _start_of(stream: IO[bytes]) -> bytes:
    if not stream.seekable():
        return b""
    at = stream.tell()
    start = stream.read(4)
    stream.seek(at)
    return start


def _unreadable_unit(error: UnicodeError) -> tuple[str, int]:
    assert isinstance(error, UnicodeDecodeError)
    return "\udcff", error.end  # surrogateescape's stand-in for the byte 0xFF, which is never UTF-8


codecs.register_error("rulebook.unreadable", _unreadable_unit)


class _Transcoded(io.RawIOBase):
    """The text of a UTF-16 or UTF-32 stream, as UTF-8 (see as_utf8)."""

    def __init__(self, stream: IO[bytes], encoding: str):
        self.stream = stream
        self.decoder = codecs.getincrementaldecoder(encoding)("rulebook.unreadable")
        self.pending = memoryview(b"")
        self.ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self.pending and not self.ended:
            chunk = self.stream.read(_CHUNK)
            self.ended = not chunk
            text = self.decoder.decode(chunk, final=self.ended)
            self.pending = memoryview(text.encode("utf-8", "surrogateescape"))
        count = min(len(buffer), len(self.pending))
        buffer[:count] = self.pending[:count]
        self.pending = self.pending[count:]
        return count


def format_for(path: str | None, requested: str | None = None) -> str:
    """The input format: as requested, else by file extension, else JSONL."""
    if requested:
        return requested
    if path and path != "-":
        extension = os.path.splitext(path)[1].lower()
        return {".json": "json", ".csv": "csv", ".yaml": "yaml", ".yml": "yaml", ".tsv": "csv"}.get(extension, "jsonl")
    return "jsonl"


def read_items(stream: IO[bytes], fmt: str, first_line: int = 1) -> Iterator[ItemRecord]:
    """The records of a binary stream in format `fmt` (JSONL may start at a later line)."""
    if fmt == "jsonl":
        return read_jsonl(stream, first_line)
    if fmt == "json":
        return read_json(stream)
    if fmt == "csv":
        return read_csv(stream)
    if fmt == "yaml":
        return read_yaml(stream)
    raise ValueError(f"unknown input format '{fmt}'")


# -- JSON lines ---------------------------------------------------------------------------------


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def read_jsonl(stream: IO[bytes], first_line: int = 1) -> Iterator[ItemRecord]:
    """One item per line; blank lines are skipped. Lines are numbered from `first_line`."""
    for number, raw in enumerate(stream, start=first_line):
        record = jsonl_record(raw, number)
        if record is not None:
            yield record


def jsonl_record(raw: bytes, number: int) -> ItemRecord | None:
    """The record of line `number` of a JSONL stream; None for a blank line."""
    from .jsonio import DecodeError, decode_item, problem

    if len(raw) > MAX_RECORD_BYTES:
        return ItemRecord(number, error=f"line is longer than {MAX_RECORD_BYTES // (1024 * 1024)} MiB")
    # a file's start, or where files were joined: on any line, so that a line reads the same
    # whichever block of --jobs it starts
    raw = raw.removeprefix(codecs.BOM_UTF8)
    if not raw.strip():
        return None
    try:
        return ItemRecord(number, decode_item(raw))
    except DecodeError as error:
        if not is_utf8(raw):
            return _not_utf8(number, _parsed_anyway(raw))
        return ItemRecord(number, error=problem(error, raw))


def _parsed_anyway(raw: bytes) -> Any:
    """A JSON line holding bytes that are not UTF-8, parsed with a stand-in for each (see
    _not_utf8); None where it is no JSON even so."""
    import json

    try:
        return json.loads(raw.decode("utf-8", "surrogateescape"), parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return None


NOT_UTF8 = "item is not valid UTF-8"


def _not_utf8(line: int, item: Any, stand_in: re.Pattern[str] | None = None, message: str = NOT_UTF8) -> ItemRecord:
    """The record of an item holding a byte that is not UTF-8: rejected, and keeping what its
    error record shows (its id), each such byte's stand-in (by default surrogateescape's)
    shown as U+FFFD, the character that stands for a byte that could not be read."""
    if not isinstance(item, dict):
        return ItemRecord(line, error=message)
    pattern = stand_in or _NOT_UTF8

    def shown(text: Any) -> Any:
        return pattern.sub("\ufffd", text) if isinstance(text, str) else text

    return ItemRecord(line, {shown(key): shown(value) for key, value in item.items()}, error=message)


def json_problem(error: Exception) -> str:
    """A parse error of the standard library's JSON decoder, without its position boilerplate."""
    message = str(error)
    position = re.search(r":?\s*line (\d+) column (\d+) \(char \d+\)", message)
    if position:
        message = message[: position.start()] + f" at column {position.group(2)}"
    return "invalid JSON: " + message.replace("Expecting", "expected").strip()


# -- JSON documents -------------------------------------------------------------------------------


def read_json(stream: IO[bytes]) -> Iterator[ItemRecord]:
    """A JSON array of items, read element by element; or one or more JSON objects; or several
    arrays one after the other (files joined with `cat`)."""
    # a byte that is not UTF-8 is read as a stand-in character, so that it rejects only the
    # item that holds it (see _TextBuffer.decode), or is invalid JSON where no item can
    reader = _TextBuffer(io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape"))
    import json

    decoder = json.JSONDecoder(parse_constant=_no_constant)
    if reader.skip_space() is None:
        return
    yield from _values(reader, decoder)


def _array_elements(reader: _TextBuffer, decoder: Any) -> Iterator[ItemRecord]:
    expect_value = True
    while True:
        char = reader.skip_space()
        if char is None:
            yield ItemRecord(reader.line, error="invalid JSON: the array is not closed with ']'")
            return
        if char == "]":
            reader.advance(1)
            return
        if not expect_value:
            if char != ",":
                line = reader.line
                reader.skip_value()
                yield ItemRecord(line, error=f"invalid JSON: expected ',' or ']' between items, found '{char}'")
                continue
            reader.advance(1)
            expect_value = True
            continue
        line = reader.line
        value, problem = reader.decode(decoder)
        if problem is not None:
            reader.skip_value()
            yield _not_utf8(line, value) if problem == NOT_UTF8 else ItemRecord(line, error=problem)
        else:
            yield ItemRecord(line, value)
        expect_value = False


def _values(reader: _TextBuffer, decoder: Any) -> Iterator[ItemRecord]:
    while True:
        char = reader.skip_space()
        if char is None:
            return
        if char == "[":
            reader.advance(1)
            yield from _array_elements(reader, decoder)
            continue
        line = reader.line
        value, problem = reader.decode(decoder)
        if problem is not None:
            reader.skip_line()
            yield _not_utf8(line, value) if problem == NOT_UTF8 else ItemRecord(line, error=problem)
        else:
            yield ItemRecord(line, value)


def _encodable(value: Any) -> bool:
    """Whether a parsed JSON value holds only real characters (no half of a surrogate pair)."""
    import json

    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    except (RecursionError, ValueError):
        pass  # nested deeply: written as deeply as it was read, see jsonio.nested
    return True


_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # the stand-ins of surrogateescape for bytes that are not UTF-8


class _TextBuffer:
    """A window over a text stream, read in chunks, that knows the current line number."""

    def __init__(self, text: IO[str]):
        self.text = text
        self.buffer = ""
        self.position = 0
        self.line = 1
        self.eof = False
        self.escaped = False  # whether a byte that is not UTF-8 has been read

    def fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.text.read(_CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.buffer = self.buffer[self.position:] + chunk
        self.position = 0
        if not self.escaped and not chunk.isascii():  # the usual text pays for no search
            self.escaped = _NOT_UTF8.search(chunk) is not None
        return True

    def advance(self, count: int) -> None:
        self.line += self.buffer.count("\n", self.position, self.position + count)
        self.position += count

    def peek(self) -> str | None:
        while self.position >= len(self.buffer):
            if not self.fill():
                return None
        return self.buffer[self.position]

    def skip_space(self) -> str | None:
        while True:
            char = self.peek()
            if char is None or not char.isspace():
                return char
            self.advance(1)

    def decode(self, decoder: Any) -> tuple[Any, str | None]:
        """Decode one value at the current position, reading more text until it is complete."""
        while True:
            try:
                try:
                    value, end = decoder.raw_decode(self.buffer, self.position)
                except RecursionError:
                    value, end = nested(lambda at: decoder.raw_decode(self.buffer, at), self.position)
            except RecursionError:
                return None, NESTED_TOO_DEEPLY
            except ValueError as error:
                if not self.eof and len(self.buffer) - self.position < MAX_RECORD_BYTES and self.fill():
                    continue
                return None, json_problem(error)
            # a number cut off at the end of the buffer would decode short: read on to be sure
            if end >= len(self.buffer) and not self.eof and self.fill():
                continue
            if deeper_than_allowed(value, self.buffer, self.position, end):
                return None, NESTED_TOO_DEEPLY
            if self.escaped and _NOT_UTF8.search(self.buffer, self.position, end):
                self.advance(end - self.position)
                return value, NOT_UTF8
            # JSON lines reject a lone surrogate while parsing; this parser lets it through
            lone = "\\u" in self.buffer[self.position:end] and not _encodable(value)
            self.advance(end - self.position)
            return (None, HALF_SURROGATE) if lone else (value, None)

    def skip_value(self) -> None:
        """Skip to the next ',' or ']' outside strings and brackets (after a bad element)."""
        depth = 0
        in_string = escaped = False
        while True:
            char = self.peek()
            if char is None:
                return
            if in_string:
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == '"':
                    in_string = False
            elif char == '"':
                in_string = True
            elif char in "[{":
                depth += 1
            elif char in "]}":
                if depth == 0:
                    return
                depth -= 1
            elif char == "," and depth == 0:
                return
            self.advance(1)

    def skip_line(self) -> None:
        while True:
            char = self.peek()
            if char is None:
                return
            self.advance(1)
            if char == "\n":
                return


# -- CSV ------------------------------------------------------------------------------------------


def read_csv(stream: IO[bytes]) -> Iterator[ItemRecord]:
    """A header row, then one item per row; cells stay text until the policy's types read them."""
    import csv

    # a cell may be as long as a whole item may be (a pasted log), not only csv's default 128 KiB
    csv.field_size_limit(max(csv.field_size_limit(), MAX_RECORD_BYTES))
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    reader = csv.reader(text, strict=True)  # strict: a quote never closed is an error, not the rest of the file as a cell
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as error:
        yield ItemRecord(1, error=f"invalid CSV header: {error}")
        return
    names = [name.strip() for name in header]
    if any(_has_surrogates(name) for name in names):
        yield ItemRecord(1, error="the CSV header is not valid UTF-8")
        return
    width = len(names)
    # a column named twice: which of its cells is the item's value? No row is decided on a guess
    twice = next((name for index, name in enumerate(names) if name and name in names[:index]), None)
    doubt = None
    if twice is not None:
        from .errors import listed

        columns = listed((index + 1 for index, name in enumerate(names) if name == twice), quoted=False)
        doubt = f"the CSV header names the column '{twice}' more than once (columns {columns}): rename or remove one"
    previous = reader.line_num
    while True:
        line = previous + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            previous = reader.line_num
            if "unexpected end of data" in str(error):
                yield ItemRecord(line, error=f"invalid CSV: a quoted cell of this row is never closed, so lines {line} "
                                             f"to {previous} were read as one row; close the quote or double it (\"\")")
            elif "field larger than field limit" in str(error):
                yield ItemRecord(line, error=f"a cell of this row is longer than {MAX_RECORD_BYTES // (1024 * 1024)} MiB")
            elif "expected after" in str(error):
                yield ItemRecord(line, error="invalid CSV: text after the closing quote of a quoted cell; quote the "
                                             'whole cell and double each quote within it ("")')
            else:
                yield ItemRecord(line, error=f"invalid CSV: {error}")
            continue
        previous = reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != width:
            yield ItemRecord(line, error=f"row has {len(row)} cells, but the header has {width}")
            continue
        item = {name: cell for name, cell in zip(names, row) if name}
        if any(_has_surrogates(cell) for cell in row):
            yield _not_utf8(line, item, message="row is not valid UTF-8")
            continue
        if doubt is not None:
            yield ItemRecord(line, item, error=doubt)
            continue
        yield ItemRecord(line, item, text_values=True)


def _has_surrogates(text: str) -> bool:
    return _NOT_UTF8.search(text) is not None


# -- YAML -----------------------------------------------------------------------------------------


def read_yaml(stream: IO[bytes]) -> Iterator[ItemRecord]:
    """A YAML list of items (or one mapping per document); read whole, with line numbers.

    A problem within an item (a key written twice, an unreadable value, a byte that is not
    UTF-8) rejects that item, in its place; one that stopped the parse (a syntax error) is
    reported at its line, after the items that end before it.
    """
    import bisect

    from .loader import MAX_DEPTH, MAX_NODES, parse_documents

    text, stand_in = _with_stand_ins(stream.read())
    if text is None:
        yield ItemRecord(1, error="input is not valid UTF-8")
        return
    documents, problems = parse_documents(text, "<items>", listed=True)
    entries: list[tuple[int, Any]] = []  # (line, item) in input order
    starts: list[int] = []  # the line each document starts at
    for document in documents:
        starts.append(document.span.line)
        if isinstance(document.data, list):
            entries.extend((document.value_span((index,)).line, item) for index, item in enumerate(document.data))
        elif document.data is not None:
            entries.append((document.span.line, document.data))
    lines = [line for line, _ in entries]
    found: dict[int, list[str]] = {}  # entry -> the problems within it
    alone = []
    for problem in problems:
        line = problem.span.line if problem.span else 1
        entry = bisect.bisect_right(lines, line) - 1
        if problem.message.startswith("entry is too large"):  # an item of a list, refused on its own
            found.setdefault(entry, []).append(f"item is too large or too deeply nested (in YAML an item may hold "
                                               f"{MAX_NODES:,} values, {MAX_DEPTH} levels deep)")
            continue
        # within an item: after its start, and in its own document (documents start in order)
        if problem.code not in _STOPPING and entry >= 0 and starts[bisect.bisect_right(starts, line) - 1] <= lines[entry]:
            found.setdefault(entry, []).append(problem.message + (f" (line {line})" if line != lines[entry] else ""))
        else:
            alone.append(ItemRecord(line, error=problem.message))
    unreadable = set()
    shown = re.compile(re.escape(stand_in)) if stand_in is not None else None
    if stand_in is not None:
        for index, (_, item) in enumerate(entries):
            if _holds(item, stand_in):
                found.setdefault(index, []).insert(0, NOT_UTF8)
                unreadable.add(index)
    records = [_not_utf8(line, item, shown, _joined(found[index])) if index in unreadable
               else ItemRecord(line, item, error=_joined(found[index])) if index in found else ItemRecord(line, item)
               for index, (line, item) in enumerate(entries)]
    yield from sorted(records + alone, key=lambda record: record.line)


_STOPPING = ("yaml-syntax", "yaml-too-large")  # problems that stand for all that follows them


def _with_stand_ins(raw: bytes) -> tuple[str | None, str | None]:
    """The text of a YAML file, each byte that is not UTF-8 replaced by a stand-in: a character
    of the private use area the text does not hold, so that the items holding one can be told
    (the file is parsed whole, and would otherwise be refused whole); and that character, or
    None where every byte is UTF-8. (None, None) if every stand-in is taken."""
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "surrogateescape")
    stand_in = next((chr(code) for code in range(0xE000, 0xF900) if chr(code) not in text), None)
    if stand_in is None:  # pragma: no cover - a file holding all 6,400 of them
        return None, None
    return _NOT_UTF8.sub(stand_in, text), stand_in


def _holds(value: Any, char: str) -> bool:
    """Whether a text in `value` (a key or a value, at any depth) holds `char`."""
    if isinstance(value, str):
        return char in value
    if isinstance(value, dict):
        return any(_holds(key, char) or _holds(inner, char) for key, inner in value.items())
    if isinstance(value, list):
        return any(_holds(inner, char) for inner in value)
    return False


def _joined(messages: list[str]) -> str:
    more = len(messages) - 1
    return messages[0] + (f" (and {more} more problem{'s' if more > 1 else ''} in this item)" if more else "")
