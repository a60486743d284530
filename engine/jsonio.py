"""JSON in and out, through msgspec: plain values, and typed records for the fast lane.

Parsing and writing JSON is most of the cost of classifying a stream, so all of it goes
through one fast library, in one place: `decode` and `encode` for plain values (the same
bytes on every run: key order as given, shortest float form), `record_decoder` for items
decoded straight into typed records whose declared fields are checked while parsing.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

decode: Callable[[bytes | str], Any] = msgspec.json.Decoder().decode
encode: Callable[[Any], bytes] = msgspec.json.Encoder(decimal_format="number").encode
Raw: Any = msgspec.Raw  # JSON already encoded, which `encode` writes as it is
UNSET: Any = msgspec.UNSET  # a record field the item did not carry
Record = msgspec.Struct
"""Base of small result objects made by the million (decisions): built in C, and, declared with
`gc=False`, not tracked by the garbage collector; they must not take part in reference cycles."""
REQUIRED: Any = msgspec.NODEFAULT  # a record field the item must carry
# RecursionError: a value nested more deeply than the parser's recursion allows (see `nested`)
DecodeError = (ValueError, msgspec.DecodeError, RecursionError)
MAX_NESTING = 1000  # levels of lists and objects in an item, about
SHORTEST_TOO_DEEP = 2 * (MAX_NESTING + 1)  # characters: the brackets that open and close each level
NESTED_TOO_DEEPLY = f"nested too deeply: an item may hold lists and objects {MAX_NESTING:,} levels deep at most"


def nested(call: Callable[[Any], Any], value: Any, frames: int = 1, levels: int = MAX_NESTING) -> Any:
    """`call(value)` (a parse or an encoding) with room for more than `levels` levels of
    recursion of `frames` frames each, however deep the caller is; called after a plain call
    ran out of room, or where a call recurses in Python once a level (YAML's composer).

    The parsers recurse once a level within the interpreter's recursion limit, which counts
    the caller's frames too: left alone, how deep an item may be nested would depend on the
    path it takes through the engine (a worker process runs deeper than the main one), and so
    would whether it is decided or rejected. `decode_item` measures the depth itself instead.
    """
    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(limit + frames * levels + 100)
    try:
        return call(value)
    finally:
        sys.setrecursionlimit(limit)


def depth_within(value: Any, most: int = MAX_NESTING) -> bool:
    """Whether `value` holds lists and objects at most `most` levels deep (itself the first)."""
    level = [value]
    for _ in range(most):
        level = [inner for outer in level if isinstance(outer, (list, dict))
                 for inner in (outer.values() if isinstance(outer, dict) else outer)]
        if not level:
            return True
    return not any(isinstance(value, (list, dict)) for value in level)


def decode_item(text: bytes | str) -> Any:
    """`decode` for an item of the general path: an item nested up to MAX_NESTING levels deep
    is read wherever this is called from, one nested more deeply never (RecursionError)."""
    try:
        value = decode(text)
    except RecursionError:
        value = nested(decode, text)
    except msgspec.DecodeError as error:
        if "out of range" not in str(error):
            raise
        value = _decode_wide(text, error)
    if deeper_than_allowed(value, text):
        raise RecursionError
    return value


def deeper_than_allowed(value: Any, text: bytes | str, start: int = 0, end: int | None = None) -> bool:
    """Whether `value`, parsed from `text[start:end]`, holds lists and objects more than
    MAX_NESTING levels deep; measured only where `may_nest_too_deeply` says it can."""
    return may_nest_too_deeply(text, start, end) and not depth_within(value)


def may_nest_too_deeply(text: bytes | str, start: int = 0, end: int | None = None) -> bool:
    """Whether `text[start:end]` holds brackets enough to nest lists and objects more than
    MAX_NESTING levels deep: a count in C, and none for a text shorter than two brackets a
    level, so that the usual item pays next to nothing. (From Python 3.12 on the parsers'
    recursion is bounded by the interpreter's own C stack, not by the recursion limit `nested`
    sets: that they did not run out of room no longer says how deep a value is.)"""
    end = len(text) if end is None else end
    if end - start < SHORTEST_TOO_DEEP:
        return False
    square, curly = (b"[", b"{") if isinstance(text, bytes) else ("[", "{")
    return text.count(square, start, end) + text.count(curly, start, end) > MAX_NESTING


def _decode_wide(text: bytes | str, error: Exception) -> Any:
    """An item holding a number too large for a float (1e400) or for a 64-bit integer, read as
    Python reads JSON: the float as inf, the integer whole (as a float past 4,300 digits, which
    Python does not read as an integer). The fast lanes skip such a number where no declared
    field holds it, so the item is decided; where one does, the check rejects it."""
    import json

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not valid JSON")

    def integer(digits: str) -> Any:
        return int(digits) if len(digits) <= 4300 else float(digits)

    raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    if _LONE_SURROGATE.search(raw):
        raise error  # the fast parser's verdict on the line stands
    try:
        value = json.loads(text, parse_constant=constant, parse_int=integer)
    except RecursionError:
        value = nested(lambda line: json.loads(line, parse_constant=constant, parse_int=integer), text, frames=3)
    if not isinstance(value, dict):
        raise error
    return value


def is_utf8(raw: bytes) -> bool:
    """Whether `raw` is UTF-8 text (plain ASCII, the usual line, is told quickly)."""
    if raw.isascii():
        return True
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def encode_record(value: Any) -> bytes:
    """`encode` for an output record, which may hold an item's values as deep as `decode_item` reads."""
    try:
        return encode(value)
    except RecursionError:
        return nested(encode, value)


def encode_indented(value: Any) -> bytes:
    """`value` as JSON for people to read: as `encode` writes it, indented by two spaces."""
    return msgspec.json.format(encode(value), indent=2)


_BYTE = re.compile(r"\s*\(byte (\d+)\)")
HALF_SURROGATE = "invalid JSON: a \\u escape of half a UTF-16 surrogate pair, which is no character"
_LONE_SURROGATE = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])")


def problem(error: Exception, text: bytes) -> str:
    """A JSON parse error of one line as a short message with its (1-based) column."""
    message = str(error)
    if isinstance(error, UnicodeDecodeError):
        return "line is not valid UTF-8"
    if isinstance(error, RecursionError):
        return NESTED_TOO_DEEPLY
    stripped = text.strip()
    if stripped[:1] not in (b"{", b"["):
        return 'line is not JSON: expected an object such as {"id": ...}'
    if "surrogate" in message or ("truncated" in message and _LONE_SURROGATE.search(text)):
        return HALF_SURROGATE
    if "truncated" in message:
        return "invalid JSON: the line ends before the object is complete"
    message = re.sub(r" - at `\$[^`]*`", "", message.replace("JSON is malformed: ", ""))
    position = _BYTE.search(message)
    if position:
        offset = int(position.group(1))
        if message.startswith("trailing characters"):
            offset -= 1  # the parser has read the first of them already
            if text[:offset].rstrip(b" \t").endswith(b"\r"):  # JSON reads the CR as space
                return ("invalid JSON: objects separated by a carriage return alone (CR); JSON lines end with "
                        "LF or CR LF: convert the file's line endings")
        column = len(text[:offset].decode("utf-8", errors="replace")) + 1
        message = message[: position.start()] + f" at column {column}"
    return f"invalid JSON: {message}"


# -- typed records ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordField:
    """One field of a typed record: where it sits in the JSON object, what it must hold."""

    key: str  # the JSON key
    attribute: str  # the record's attribute
    # string, integer, number, boolean, date, datetime (its text: the reader parses it), list
    # (of `element`s, or of anything), object (a mapping of anything), record (a nested record
    # of `fields`), any (taken as it is), never (the object must not carry the key, except as
    # null), or whole (an integer also written as a whole float: see lax_record_decoder)
    kind: str
    enum: tuple[Any, ...] | None = None  # text values, or whole numbers within the bounds for an integer
    minimum: Any = None
    maximum: Any = None
    default: Any = REQUIRED  # a value, UNSET (optional) or REQUIRED
    element: RecordField | None = None
    fields: tuple[RecordField, ...] = ()
    nullable: bool = False  # null is read as None (which the checker counts as absent)


_INT64 = {"ge": -(2**63), "le": 2**63 - 1}  # what a plain JSON parse of the line accepts too


def record_decoder(fields: Sequence[RecordField]) -> Callable[[bytes], Any]:
    """A decoder of one JSON object into a record with the fields' attributes; it raises for
    anything that does not fit the declared kinds exactly (a wrong type, a value outside the
    enum or bounds, null where not nullable, a missing field without a default, a key marked
    never). Keys the object carries beyond these are skipped unread. A nested record the
    object lacks is made of its fields' defaults."""
    return msgspec.json.Decoder(_record_type("Item", fields)).decode


def lax_record_decoder(fields: Sequence[RecordField], keep: str) -> Callable[[bytes], Any] | None:
    """A second decoder for lines the first rejects, which the checker accepts as they are
    written by some exporters: a whole float for an integer (`3.0`, converted to 3), null for
    a field with a default (the default) and null for a nested mapping that may be absent (read
    as absent: the record of its defaults). The field at attribute `keep` (the item's id)
    stays as it is. None where no field differs."""
    lax = _lax_fields(fields, keep)
    if lax == tuple(fields):
        return None
    decode = msgspec.json.Decoder(_record_type("Item", lax)).decode
    settle = _settler(lax)

    def decode_lax(line: bytes) -> Any:
        record = decode(line)
        settle(record)
        return record

    return decode_lax


def _lax_fields(fields: Sequence[RecordField], keep: str) -> tuple[RecordField, ...]:
    from dataclasses import replace

    lax = []
    for field in fields:
        if _declared_default(field) is not None:  # null reads as the default
            field = replace(field, nullable=True)
        if field.kind == "integer" and field.attribute != keep:
            field = replace(field, kind="whole")
        elif field.kind == "list" and field.element is not None and field.element.kind == "integer":
            field = replace(field, element=replace(field.element, kind="whole"))
        elif field.kind == "record":
            field = replace(field, fields=_lax_fields(field.fields, keep), nullable=field.default is not REQUIRED)
        lax.append(field)
    return tuple(lax)


def _declared_default(field: RecordField) -> Any:
    """The default a policy declares for the field's input, None if it declares none (a
    nested record's default is the record of its fields' defaults, not declared)."""
    if field.kind == "record" or field.default is REQUIRED or field.default is UNSET:
        return None
    return field.default


def _whole(value: Any, field: RecordField) -> int:
    """A whole number read as the checker reads it (a whole float is converted; bounds and
    enum are checked on the converted value); ValueError for anything else."""
    if type(value) is float:
        if not value.is_integer():
            raise ValueError(f"{value!r} is not a whole number")
        value = int(value)
    if (field.minimum is not None and value < field.minimum) or (field.maximum is not None and value > field.maximum):
        raise ValueError(f"{value!r} is out of bounds")
    if field.enum is not None and value not in field.enum:
        raise ValueError(f"{value!r} is not one of the enum")
    return value  # type: ignore[no-any-return]


def _settler(fields: Sequence[RecordField]) -> Callable[[Any], None]:
    """Settles a lax record in place: the default where a field with one was null, whole
    floats converted, records of defaults where nested mappings were null."""
    steps: list[Callable[[Any], None]] = []
    for field in fields:
        attribute = field.attribute
        if field.kind == "record":
            empty, inner = _record_type(attribute, field.fields), _settler(field.fields)

            def nested(record: Any, attribute: str = attribute, empty: Any = empty, inner: Any = inner) -> None:
                value = getattr(record, attribute)
                if value is None:
                    setattr(record, attribute, empty())
                elif value is not UNSET:
                    inner(value)
            steps.append(nested)
            continue
        default = _declared_default(field)
        whole = field if field.kind == "whole" else None
        element = field.element if field.kind == "list" and field.element is not None and field.element.kind == "whole" else None
        if default is None and whole is None and element is None:
            continue

        def scalar(record: Any, attribute: str = attribute, default: Any = default, whole: Any = whole,
                   element: Any = element) -> None:
            value = getattr(record, attribute)
            if value is None:
                if default is not None:
                    setattr(record, attribute, default)
            elif whole is not None:
                setattr(record, attribute, _whole(value, whole))
            elif element is not None:
                value[:] = [_whole(item, element) for item in value]
        steps.append(scalar)

    def settle(record: Any) -> None:
        for step in steps:
            step(record)

    return settle


def _record_type(name: str, fields: Sequence[RecordField]) -> Any:
    definitions = []
    for field in fields:
        annotation = _annotation(field)
        default = field.default
        if field.kind == "record" and default is not REQUIRED:
            spec = msgspec.field(default_factory=_value_annotation(field), name=field.key)
        elif isinstance(default, (list, dict)):  # the declared default itself, as the checker gives it
            spec = msgspec.field(default_factory=lambda value=default: value, name=field.key)
        else:
            spec = msgspec.field(default=default, name=field.key)
        definitions.append((field.attribute, annotation, spec))
    return msgspec.defstruct(name, definitions, gc=False, kw_only=True)


def _annotation(field: RecordField) -> Any:
    annotation = _value_annotation(field)
    return annotation | None if field.nullable else annotation


def _value_annotation(field: RecordField) -> Any:
    from typing import Annotated, Literal, Union

    bounds: dict[str, Any] = {}
    if field.minimum is not None:
        bounds["ge"] = field.minimum
    if field.maximum is not None:
        bounds["le"] = field.maximum
    kind = field.kind
    if kind == "string":
        return Literal[field.enum] if field.enum else str  # type: ignore[misc]
    if kind == "integer":
        if field.enum:  # only options within the bounds (msgspec bounds no literal)
            return Literal[field.enum]  # type: ignore[misc]
        return Annotated[int, msgspec.Meta(**{**_INT64, **bounds})]
    if kind == "number":
        whole = Annotated[int, msgspec.Meta(**{**_INT64, **bounds})]
        return Union[whole, Annotated[float, msgspec.Meta(**bounds)] if bounds else float]
    if kind == "whole":  # bounds and enum are checked once converted (see _whole)
        return Annotated[int, msgspec.Meta(**_INT64)] | float
    if kind == "boolean":
        return bool
    if kind == "date":
        return _dt.date
    if kind == "datetime":
        return str
    if kind == "list":
        return list if field.element is None else list[_annotation(field.element)]  # type: ignore[misc]
    if kind == "object":
        return dict
    if kind == "record":
        return _record_type(field.attribute, field.fields)
    if kind == "never":
        return None
    return Any
