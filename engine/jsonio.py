"""JSON in and out, through msgspec: plain values, and typed records for the fast lane.

Parsing and writing JSON is most of the cost of classifying a stream, so all of it goes
through one fast library, in one place: `decode` and `encode` for plain values (the same
bytes on every run: key order as given, shortest float form), `record_decoder` for items
decoded straight into typed records whose declared fields are checked while parsing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

decode: Callable[[bytes | str], Any] = msgspec.json.Decoder().decode
encode: Callable[[Any], bytes] = msgspec.json.Encoder(decimal_format="number").encode
UNSET: Any = msgspec.UNSET  # a record field the item did not carry
Record = msgspec.Struct
"""Base of small result objects made by the million (decisions): built in C, and, declared with
`gc=False`, not tracked by the garbage collector; they must not take part in reference cycles."""
REQUIRED: Any = msgspec.NODEFAULT  # a record field the item must carry
DecodeError = (ValueError, msgspec.DecodeError)


def encode_indented(value: Any) -> bytes:
    """`value` as JSON for people to read: as `encode` writes it, indented by two spaces."""
    return msgspec.json.format(encode(value), indent=2)


_BYTE = re.compile(r"\s*\(byte (\d+)\)")


def problem(error: Exception, text: bytes) -> str:
    """A JSON parse error of one line as a short message with its (1-based) column."""
    message = str(error)
    if isinstance(error, UnicodeDecodeError):
        return "line is not valid UTF-8"
    stripped = text.strip()
    if stripped[:1] not in (b"{", b"["):
        return 'line is not JSON: expected an object such as {"id": ...}'
    if "truncated" in message:
        return "invalid JSON: the line ends before the object is complete"
    message = message.replace("JSON is malformed: ", "")
    position = _BYTE.search(message)
    if position:
        offset = int(position.group(1))
        column = len(text[:offset].decode("utf-8", errors="replace")) + 1
        message = message[: position.start()] + f" at column {column}"
    return f"invalid JSON: {message}"


# -- typed records ------------------------------------------------------------------------------

FieldSpec = tuple[str, str, Sequence[Any] | None, Any, Any, Any]
"""(JSON key, kind, enum values, minimum, maximum, default); kind is one of string, integer,
number, boolean, any; default is a value, UNSET (optional) or REQUIRED."""

_INT64 = {"ge": -(2**63), "le": 2**63 - 1}  # what a plain JSON parse of the line accepts too


def record_decoder(fields: Sequence[FieldSpec]) -> Callable[[bytes], Any]:
    """A decoder of one JSON object into a record with attributes `f0`, `f1`, ... in the
    order of `fields`; it raises for anything that does not fit the declared kinds exactly
    (a wrong type, a value outside the enum or bounds, null, a missing field without a
    default). Fields the object carries beyond these are skipped unread."""
    from typing import Annotated, Literal, Union

    definitions = []
    for index, (key, kind, enum, minimum, maximum, default) in enumerate(fields):
        bounds: dict[str, Any] = {}
        if minimum is not None:
            bounds["ge"] = minimum
        if maximum is not None:
            bounds["le"] = maximum
        if kind == "string":
            annotation: Any = Literal[tuple(enum)] if enum else str  # type: ignore[misc]
        elif kind == "integer":
            annotation = Annotated[int, msgspec.Meta(**{**_INT64, **bounds})]
        elif kind == "number":
            whole = Annotated[int, msgspec.Meta(**{**_INT64, **bounds})]
            annotation = Union[whole, Annotated[float, msgspec.Meta(**bounds)] if bounds else float]
        elif kind == "boolean":
            annotation = bool
        else:
            annotation = Any
        definitions.append((f"f{index}", annotation, msgspec.field(default=default, name=key)))
    record = msgspec.defstruct("Item", definitions, gc=False, kw_only=True)
    return msgspec.json.Decoder(record).decode
