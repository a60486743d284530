"""The sandbox every expression runs in: the unknown value, limits, and bounded operations.

Both ways of running a checked expression (the three-valued interpreter and the generated
fast code, see `compile.py`) call these helpers, so they compute the same way and neither
can do unbounded work: powers, repetition and joining of text are checked against the fixed
limits below, which nothing in an item or a policy can change, and regular expressions are
matched in linear time (`Pattern`).
"""

from __future__ import annotations

import ast
import datetime as _dt
import math
import operator
from collections.abc import Callable
from typing import Any

# -- limits --------------------------------------------------------------------------------

MAX_STRING_LENGTH = 100_000  # characters (or list items) an expression may build
MAX_POWER_BITS = 4096  # bits of an integer power's result
MAX_EXPONENT = 1000  # magnitude of a float power's exponent


class LimitError(ArithmeticError):
    """An expression tried to do more work than the sandbox allows."""


class _Unknown:
    """The third truth value: a condition that reads a missing field is unknown."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "unknown"

    def __bool__(self) -> bool:
        raise TypeError("unknown has no truth value")

    def __reduce__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


class Missing(LookupError):
    """A value an expression needs is not there (raised only on the fast path)."""


# -- runtime helpers (used by the interpreter and by generated code) -------------------------


def safe_pow(base: Any, exponent: Any) -> Any:
    """`base ** exponent`, refusing results too large to compute cheaply and complex results."""
    if isinstance(base, int) and isinstance(exponent, int) and not isinstance(exponent, bool):
        if exponent > 0 and abs(base) > 1 and abs(base).bit_length() * exponent > MAX_POWER_BITS:
            raise LimitError(f"power {base} ** {exponent} is too large")
        if exponent < 0 and base == 0:
            raise ZeroDivisionError("zero to a negative power")
        return base**exponent
    if abs(exponent) > MAX_EXPONENT and abs(base) != 1:
        raise LimitError(f"power exponent {exponent} is too large")
    if base < 0 and not float(exponent).is_integer():
        raise ValueError("a negative number to a fractional power is not a real number")
    if base == 0 and exponent < 0:
        raise ZeroDivisionError("zero to a negative power")
    result = float(base) ** exponent
    if math.isinf(result):
        raise OverflowError("power result is too large")
    return result


def safe_mul(left: Any, right: Any) -> Any:
    """`left * right`, refusing to build text or lists longer than the limit."""
    if isinstance(left, (str, list)) and isinstance(right, int) and not isinstance(right, bool):
        _within_limit("repetition", left, len(left) * right)
    elif isinstance(right, (str, list)) and isinstance(left, int) and not isinstance(left, bool):
        _within_limit("repetition", right, len(right) * left)
    elif isinstance(left, (str, list)) or isinstance(right, (str, list)):
        raise TypeError(f"cannot multiply {type_word_of(left)} by {type_word_of(right)}")
    return left * right


def safe_add(left: Any, right: Any) -> Any:
    """`left + right`, refusing to build text or lists longer than the limit."""
    if isinstance(left, (str, list)) and isinstance(right, (str, list)):
        _within_limit("joining", left, len(left) + len(right))
    return left + right


def _within_limit(operation: str, value: str | list[Any], size: int) -> None:
    if size > MAX_STRING_LENGTH:
        unit = "characters" if isinstance(value, str) else "items"
        raise LimitError(f"{operation} would build {size:,} {unit} (limit {MAX_STRING_LENGTH:,})")


def number_only(value: Any) -> Any:
    """`value` if it is a number; arithmetic on anything else is a type error."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, got {type_word_of(value)}")
    return value


def text_only(value: Any) -> str:
    """`value` if it is text; text functions on anything else are a type error."""
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type_word_of(value)}")
    return value


def index_value(container: Any, key: Any) -> Any:
    """`container[key]` for data values; a missing element is missing data, not an error."""
    if isinstance(container, list) or isinstance(container, str):
        if isinstance(key, bool) or not isinstance(key, int):
            raise TypeError(f"a list index must be a whole number, not {type_word_of(key)}")
        if -len(container) <= key < len(container):
            return container[key]
        raise Missing(key)
    if isinstance(container, dict):
        if not isinstance(key, str):
            raise TypeError(f"a mapping key must be text, not {type_word_of(key)}")
        if key in container and container[key] is not None:
            return container[key]
        raise Missing(key)
    raise TypeError(f"cannot index {type_word_of(container)}")


def field_value(container: Any, path: tuple[str, ...]) -> Any:
    """A field below an object input (`service.tier`); absent fields are missing data."""
    for name in path:
        if not isinstance(container, dict):
            raise TypeError(f"cannot read field '{name}' of {type_word_of(container)}")
        if name not in container or container[name] is None:
            raise Missing(name)
        container = container[name]
    return container


def days_between(start: Any, end: Any, name: str = "days_between") -> Any:
    """Days from `start` to `end` (negative when `end` is earlier); fractional for date-times."""
    start, end = _as_moment(start, name), _as_moment(end, name)
    if isinstance(start, _dt.datetime) or isinstance(end, _dt.datetime):
        start, end = _as_datetime(start), _as_datetime(end)
        return (end - start).total_seconds() / 86400
    return (end - start).days


def days_since(moment: Any, as_of: _dt.date) -> Any:
    """Days from `moment` to the run's as-of date: days_between(moment, as_of)."""
    return days_between(moment, as_of, "days_since")


def today() -> _dt.date:
    """Today's date in UTC: the as-of date of a run that names none."""
    return _dt.datetime.now(_dt.UTC).date()


def _as_moment(value: Any, name: str) -> _dt.date:
    if isinstance(value, _dt.date):
        return value
    if isinstance(value, str):
        parsed = parse_moment(value)
        if parsed is not None:
            return parsed
    raise TypeError(f"{name} needs dates, got {type_word_of(value)}")


def parse_moment(text: str) -> _dt.date | None:
    """A date (`2026-12-02`), or a date-time where the text has a time; None if neither."""
    return parse_datetime(text) if ("T" in text or " " in text.strip()) else parse_date(text)


def _as_datetime(value: _dt.date) -> _dt.datetime:
    if isinstance(value, _dt.datetime):
        return value
    return _dt.datetime(value.year, value.month, value.day, tzinfo=_dt.timezone.utc)


def parse_date(text: str) -> _dt.date | None:
    """An ISO date (`2026-11-22`), or None."""
    try:
        if len(text) != 10:
            return None
        return _dt.date.fromisoformat(text)
    except ValueError:
        return None


def parse_datetime(text: str) -> _dt.datetime | None:
    """An ISO date-time; without an offset it is taken as UTC. A bare date is midnight UTC."""
    candidate = text.strip()
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    try:
        value = _dt.datetime.fromisoformat(candidate)
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    return value


def datetime_value(text: str) -> _dt.datetime:
    """The date-time `text` is, as the input checker reads it; ValueError if it is none."""
    value = parse_datetime(text)
    if value is None:
        raise ValueError(f"not a date-time: {text!r}")
    return value


class Pattern:
    """A regular expression of a policy (`matches()`), found in a text in time linear in the
    text's length, whatever the pattern (RE2): items are untrusted, and a backtracking engine
    takes exponential time over `(a+)+$` and 'aaaa...!', a few dozen characters long.

    RE2 syntax: no back-references or look-arounds; `\\d`, `\\w`, `\\s` and `\\b` are ASCII,
    `\\p{L}` and `\\p{Nd}` the letters and digits of every script; `$` is the end of the text.
    Raises PatternError for a pattern RE2 does not take. Pickled as its text.
    """

    __slots__ = ("search", "text")

    def __init__(self, text: str):
        import re2

        if _any_byte(text):
            raise PatternError(r"\C (any one byte) is not allowed: it can match half a character")
        options = re2.Options()
        options.log_errors = False  # RE2 would write its own message to stderr
        options.never_capture = True  # only whether it is found: RE2's fastest matchers
        options.max_mem = 8 << 20  # bounds the memory of its compiled form and of each search
        try:
            compiled = re2.compile(text, options)
        except re2.error as error:
            reason = error.args[0] if error.args else ""
            raise PatternError(reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)) from None
        self.text = text
        self.search = _searcher(compiled)
        plain = _without_repetition(text)
        if plain is not None:
            # a pattern without repetition takes Python's re at most (length of text) x (paths
            # through the pattern) steps; on ASCII text not ending in a line break the two find
            # the same, and re is several times faster to call
            careful, quick = self.search, plain.search

            def search(value: str) -> bool:
                if value.isascii() and value[-1:] != "\n":
                    return quick(value) is not None
                return careful(value)

            self.search = search

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return Pattern, (self.text,)

    def __repr__(self) -> str:
        return f"Pattern({self.text!r})"


def _any_byte(text: str) -> bool:
    """Whether the pattern holds RE2's `\\C`, one byte of the text's UTF-8, which Python's `re` has not."""
    escaped = False
    for char in text:
        if escaped and char == "C":
            return True
        escaped = not escaped and char == "\\"
    return False


def _searcher(compiled: Any) -> Callable[[str], bool]:
    """Whether a compiled RE2 pattern is found in a text."""
    import re2

    native = getattr(compiled, "_regexp", None)
    if native is None or not hasattr(native, "Match"):  # pragma: no cover - another release of the binding
        return lambda text: compiled.search(text) is not None
    # the binding's own matcher: a tenth of the time of `compiled.search`, which also works
    # out where the match is, in characters
    match, anchor, nowhere = native.Match, re2._Anchor.UNANCHORED, (-1, -1)

    def search(text: str) -> bool:
        encoded = text.encode("utf-8", "surrogatepass")  # half a surrogate pair (YAML, the API): bytes no UTF-8 reads
        return match(anchor, encoded, 0, len(encoded))[0] != nowhere

    return search


_MOST_PATHS = 256  # through a pattern without repetition: (a|b)(c|d) has 4


def _without_repetition(text: str) -> Any:
    """`text` compiled by Python's re, where the pattern has no repetition (no * + ? {m,n}), no
    flags, and only what both engines read alike on ASCII text; else None."""
    import re
    from re import _constants as sre  # type: ignore[attr-defined]
    from re import _parser  # type: ignore[attr-defined]

    if "[:" in text:  # [[:alpha:]]: a class to RE2, a set of characters to Python
        return None
    try:
        parsed = _parser.parse(text)
    except (re.error, RecursionError, OverflowError):
        return None
    if parsed.state.flags & ~sre.SRE_FLAG_UNICODE:
        return None
    same_in_both = {sre.LITERAL, sre.NOT_LITERAL, sre.ANY, sre.IN, sre.BRANCH, sre.SUBPATTERN, sre.AT}
    classes = {sre.LITERAL, sre.RANGE, sre.NEGATE, sre.CATEGORY}
    categories = {sre.CATEGORY_DIGIT, sre.CATEGORY_NOT_DIGIT, sre.CATEGORY_WORD, sre.CATEGORY_NOT_WORD}  # not \s

    def paths(items: Any) -> int | None:
        count = 1
        for op, argument in items:
            if op not in same_in_both or (op is sre.AT and argument is sre.AT_NON_BOUNDARY):  # \B: never on '' in re
                return None
            if op is sre.IN and not all(kind in classes and (kind is not sre.CATEGORY or value in categories)
                                        for kind, value in argument):
                return None
            if op is sre.SUBPATTERN:
                if argument[1] or argument[2]:  # flags within the group
                    return None
                inner = paths(argument[3])
                if inner is None:
                    return None
                count *= inner
            elif op is sre.BRANCH:
                branches = [paths(branch) for branch in argument[1]]
                if None in branches:
                    return None
                count *= sum(branches)  # type: ignore[arg-type]
            if count > _MOST_PATHS:
                return None
        return count

    return re.compile(text) if paths(parsed) is not None else None


class PatternError(ValueError):
    """A regular expression RE2 does not take, with RE2's reason."""


def regex_search(pattern: Pattern, text: Any) -> bool:
    return pattern.search(text_only(text))


def round_number(value: Any, digits: Any = None) -> Any:
    number_only(value)
    if digits is None:
        return round(value)
    if isinstance(digits, bool) or not isinstance(digits, int):
        raise TypeError("round() needs a whole number of digits")
    if type(value) is int and -digits > value.bit_length():
        # Python would compute 10 ** -digits first (round(5, -10**9) never ends); 10 ** -digits
        # is then more than twice the value, which rounds to 0
        return 0
    return round(value, digits)


def extreme(choose: Callable[..., Any], *values: Any) -> Any:
    """min or max over several values, or over one list."""
    if len(values) == 1:
        (only,) = values
        if not isinstance(only, list):
            raise TypeError(f"{choose.__name__}() of one value needs a list, got {type_word_of(only)}")
        if not only:
            raise ValueError(f"{choose.__name__}() of an empty list")
        if any(value is UNKNOWN for value in only):  # a list written out with a missing field in it
            return UNKNOWN
        return choose(only)
    return choose(values)


def type_word_of(value: Any) -> str:
    """How messages name the type of a runtime value."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, _dt.datetime):
        return "a date-time"
    if isinstance(value, _dt.date):
        return "a date"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__



def unknown_in(value: Any) -> bool:
    """True for the unknown value, or a list holding one."""
    return value is UNKNOWN or (type(value) is list and any(v is UNKNOWN for v in value))


def logical_not(value: Any) -> Any:
    return UNKNOWN if value is UNKNOWN else not value


def contains(container: Any, item: Any) -> bool:
    """`item in container` for data values, refusing to look inside anything else."""
    if isinstance(container, str) and not isinstance(item, str):
        raise TypeError(f"cannot look for {type_word_of(item)} in text")
    if isinstance(container, dict):
        return item in container
    if not isinstance(container, (list, str)):
        raise TypeError(f"cannot look inside {type_word_of(container)}")
    return item in container


def not_contains(container: Any, item: Any) -> bool:
    return not contains(container, item)


COMPARISONS: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: contains(b, a),
    ast.NotIn: lambda a, b: not contains(b, a),
}


def add(a: Any, b: Any) -> Any:
    return safe_add(a, b) if isinstance(a, (str, list)) else number_only(a) + number_only(b)


def subtract(a: Any, b: Any) -> Any:
    return number_only(a) - number_only(b)


def divide(a: Any, b: Any) -> Any:
    return number_only(a) / number_only(b)


def floor_divide(a: Any, b: Any) -> Any:
    return number_only(a) // number_only(b)


def modulo(a: Any, b: Any) -> Any:
    return number_only(a) % number_only(b)


def power(a: Any, b: Any) -> Any:
    return safe_pow(number_only(a), number_only(b))


OPERATIONS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: add,
    ast.Sub: subtract,
    ast.Mult: safe_mul,
    ast.Div: divide,
    ast.FloorDiv: floor_divide,
    ast.Mod: modulo,
    ast.Pow: power,
}


def length(value: Any) -> int:
    if isinstance(value, (str, list, dict)):
        return len(value)
    raise TypeError(f"len() needs text or a list, got {type_word_of(value)}")


def lower(value: Any) -> str:
    return text_only(value).lower()


def upper(value: Any) -> str:
    return text_only(value).upper()


def minimum(*values: Any) -> Any:
    return extreme(min, *values)


def maximum(*values: Any) -> Any:
    return extreme(max, *values)


def absolute(value: Any) -> Any:
    return abs(number_only(value))


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": length,
    "lower": lower,
    "upper": upper,
    "min": minimum,
    "max": maximum,
    "abs": absolute,
    "round": round_number,
    "days_between": days_between,
}


def runtime_message(error: BaseException) -> str:
    """How an error raised while evaluating an expression is told to the user."""
    if isinstance(error, ZeroDivisionError):
        return "division by zero"
    if isinstance(error, OverflowError):
        return "a number became too large"
    if isinstance(error, RecursionError):
        return "the expression is nested too deeply"
    text = str(error)
    return text or type(error).__name__
