"""Item check: an untrusted item -> the values of the declared inputs, or precise problems.

Every declared input is looked up (dots reach into nested objects), converted to its type
(dates parsed, whole floats made integers), checked against its enum and bounds, or given
its default when absent. Fields the policy does not declare are ignored. Problems are
collected for the whole item, so an error record names everything wrong with it at once.
This is the careful path; the generated fast path in `compile.py` accepts exactly the items
this module accepts unchanged and hands every other item here.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Iterable
from typing import Any

from .errors import did_you_mean
from .jsonio import Record
from .model import InputSpec
from .sandbox import parse_date, parse_datetime, type_word_of
from .schema import json_equal


class _Absent:
    __slots__ = ()

    def __repr__(self) -> str:
        return "absent"


ABSENT: Any = _Absent()

TRUE_WORDS = frozenset({"true", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "no", "n", "0"})


class ValueProblem(ValueError):
    """Why one value does not fit its declared input."""


class CheckedItem(Record, frozen=True, gc=False):
    """The declared inputs of one item: values (defaults applied), and which the item carried."""

    values: dict[str, Any]  # missing inputs are absent
    present: frozenset[str]  # inputs the item itself carried (has() looks here)
    defaulted: frozenset[str]  # inputs whose value is the declared default


def lookup(item: Any, path: tuple[str, ...]) -> Any:
    """The value at `path` in an item, or ABSENT; null counts as absent.

    A nested path also matches a flat key written with dots (`"service.criticality"`), the
    way CSV headers and some exports name nested fields.
    """
    value = item
    for part in path:
        if not isinstance(value, dict) or part not in value:
            value = ABSENT
            break
        value = value[part]
    if value is ABSENT and len(path) > 1 and isinstance(item, dict):
        value = item.get(".".join(path), ABSENT)
    return ABSENT if value is None else value


def check_item(item: dict[str, Any], inputs: Iterable[InputSpec]) -> CheckedItem:
    """The checked inputs of `item`; raises `ValueProblem` naming every problem found."""
    values: dict[str, Any] = {}
    present: set[str] = set()
    defaulted: set[str] = set()
    problems: list[str] = []
    for spec in inputs:
        raw = lookup(item, spec.path)
        if raw is ABSENT:
            if spec.has_default:
                values[spec.name] = spec.default
                defaulted.add(spec.name)
            elif spec.required:
                problems.append(f"'{spec.name}' is required but missing")
            continue
        present.add(spec.name)
        try:
            values[spec.name] = convert(raw, spec)
        except ValueProblem as problem:
            problems.append(f"'{spec.name}' {problem}")
    if problems:
        raise ValueProblem("; ".join(problems))
    return CheckedItem(values, frozenset(present), frozenset(defaulted))


def convert(value: Any, spec: InputSpec) -> Any:
    """`value` as the declared input `spec` holds it; raises `ValueProblem` if it does not fit."""
    kind = spec.type
    if kind == "string":
        if not isinstance(value, str):
            raise ValueProblem(f"must be text, not {shown(value)}")
    elif kind == "integer":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueProblem(f"must be a whole number, not {shown(value)}{_quoted_hint(value, kind)}")
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueProblem(f"must be a whole number, not {value!r}")
            value = int(value)
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueProblem(f"must be a number, not {shown(value)}{_quoted_hint(value, kind)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueProblem(f"must be a finite number, not {value!r}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise ValueProblem(f"must be true or false, not {shown(value)}{_quoted_hint(value, kind)}")
    elif kind == "date":
        value = _moment(value, parse_date, "a date", "2026-11-22", datetime_ok=False)
    elif kind == "datetime":
        value = _moment(value, parse_datetime, "a date-time", "2026-11-22T09:30:00Z", datetime_ok=True)
    elif kind == "array":
        if not isinstance(value, list):
            raise ValueProblem(f"must be a list, not {shown(value)}")
        if spec.items is not None:
            converted = []
            for index, element in enumerate(value):
                if element is None:
                    raise ValueProblem(f"item {index + 1} is empty")
                try:
                    converted.append(convert(element, spec.items))
                except ValueProblem as problem:
                    raise ValueProblem(f"item {index + 1} {problem}") from None
            value = converted
    elif kind == "object":
        if not isinstance(value, dict):
            raise ValueProblem(f"must be a mapping, not {shown(value)}")
    if spec.enum is not None and not any(json_equal(value, option) for option in spec.enum):
        options = ", ".join(shown(option) for option in spec.enum)
        hint = did_you_mean(value, spec.enum) if isinstance(value, str) else None
        raise ValueProblem(f"is {shown(value)}, not one of {options}" + (f" ({hint})" if hint else ""))
    if spec.minimum is not None and value < spec.minimum:
        raise ValueProblem(f"must be at least {spec.minimum}, not {number_text(value)}")
    if spec.maximum is not None and value > spec.maximum:
        raise ValueProblem(f"must be at most {spec.maximum}, not {number_text(value)}")
    return value


def _moment(value: Any, parse: Any, word: str, example: str, datetime_ok: bool) -> Any:
    if isinstance(value, _dt.datetime):
        if datetime_ok:
            return value if value.tzinfo is not None else value.replace(tzinfo=_dt.timezone.utc)
        raise ValueProblem(f"must be {word}, not a date-time")
    if isinstance(value, _dt.date):
        if not datetime_ok:
            return value
        return _dt.datetime(value.year, value.month, value.day, tzinfo=_dt.timezone.utc)
    if isinstance(value, str):
        parsed = parse(value)
        if parsed is not None:
            return parsed
    raise ValueProblem(f"must be {word} like '{example}', not {shown(value)}")


def convert_text(value: str, spec: InputSpec) -> Any:
    """A CSV cell as the type its input declares; an empty cell is absent.

    Cells that cannot be read as the type are returned unchanged, so the item check reports
    them with the same message as any other wrong value.
    """
    text = value.strip()
    if text == "":
        return ABSENT
    kind = spec.type
    try:
        if kind == "integer":
            number = float(text) if any(c in text for c in ".eE") else int(text)
            if isinstance(number, float) and not math.isfinite(number):
                return value  # 1e400: reported as written, not as inf
            return int(number) if isinstance(number, float) and number.is_integer() else number
        if kind == "number":
            number = float(text)
            if not math.isfinite(number):
                return value
            return int(text) if text.lstrip("+-").isdigit() else number
    except ValueError:
        return value
    if kind == "boolean":
        lowered = text.lower()
        if lowered in TRUE_WORDS:
            return True
        if lowered in FALSE_WORDS:
            return False
        return value
    if kind in ("array", "object"):
        if text.startswith(("[", "{")):
            import json

            try:
                return json.loads(text)
            except ValueError:
                return value
        if kind == "array":
            parts = [part.strip() for part in text.split(";")]
            element = spec.items
            if element is not None and element.type not in ("string", "date", "datetime"):
                return [convert_text(part, element) for part in parts]
            return parts
    if kind == "string":
        return value
    return text


def _quoted_hint(value: Any, kind: str) -> str:
    """A hint for a value that would fit if it were written without quotes."""
    if not isinstance(value, str):
        return ""
    text = value.strip().lower()
    if kind == "boolean" and text in ("true", "false"):
        return " (write true or false without quotes)"
    if kind in ("integer", "number"):
        try:
            return " (write numbers without quotes)" if math.isfinite(float(text)) else ""
        except ValueError:
            return ""
    return ""


def shown(value: Any) -> str:
    """A value as messages quote it: 'text', 42, true; other values by their kind."""
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return repr(shown)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return number_text(value)
    return type_word_of(value)


def number_text(value: float) -> str:
    """A number as Python writes it; an integer too long for Python to write (past 4,300
    digits, which an item given through the API may hold) by its size instead."""
    try:
        return repr(value)
    except ValueError:
        return f"a whole number of about {int(abs(value).bit_length() * math.log10(2)):,} digits"


def read_text_item(row: dict[str, Any], inputs: Iterable[InputSpec]) -> dict[str, Any]:
    """A CSV row with each declared input read as its type; empty cells become absent."""
    item = dict(row)
    for spec in inputs:
        if spec.name in row and isinstance(row[spec.name], str):
            value = convert_text(row[spec.name], spec)
            if value is ABSENT:
                del item[spec.name]
            else:
                item[spec.name] = value
    return item
