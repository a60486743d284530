"""The `rulebook` command's entry: a quick start for plain `classify` runs, else the full CLI.

Most of a small run's time is start-up: importing the CLI framework, the YAML parser and the
validator, and checking and compiling the policy. After a run of `rulebook classify`, the
command keeps in a cache file what a later run needs to start without them, stamped with the
size and modification time of every policy file it was built from (and the list of YAML
files of every policy folder): the rendered record of each rule; the policy's generated
`decide` if it needs only builtins and plain constants; and the generated record forms of a
first or priority policy (see fastpath.py) if their constants are plain data, dates,
patterns or the sandbox's functions. A later run with the same policy paths, the default
options, and JSON lines in and out runs from that file:

* at most `QUICK_BYTES` of items, with `decide` and nothing but the standard library. It
  writes nothing until every item is decided: a line it does not handle in exactly the way
  the full path would (an item the generated code declines, an id that is not plain text or
  a whole number, a constant JSON does not have, ...) hands the run on, input included;
* any other input, with the record forms, as the full CLI's record lane runs them; the
  lines they do not decide outright go through the general path of the full engine, loaded
  at the first such line. Where there are no record forms, the full CLI runs.

The tests hold every way to byte-identical output and the same summary and exit status.

The cache lives in `$RULEBOOK_CACHE_DIR`, else `$XDG_CACHE_HOME/rulebook`, else
`~/.cache/rulebook`, and where that cannot be made (a read-only home, as in some containers)
in a folder of the user's own in the temporary folder; `RULEBOOK_CACHE_DIR=` (empty) turns it
off. Files not owned by the user, or writable by others, are ignored.
"""

from __future__ import annotations

import io
import marshal
import os
import sys
from typing import Any, BinaryIO, NoReturn

QUICK_BYTES = 1 << 20  # larger inputs stream through the cached record forms, or the full CLI
_FORMAT = 3  # of the cache file; part of its key
_PLAIN_BUILTINS = {"type": type, "int": int, "bool": bool, "float": float, "str": str, "tuple": tuple, "len": len}


def main() -> None:
    """Entry point of the `rulebook` command."""
    import signal

    signal.signal(signal.SIGINT, _interrupt)
    try:
        run = _quick_run(sys.argv[1:])
        if run is not None:
            run()  # exits
        from .cli import main as full

        full()
    except _Interrupted:  # Ctrl-C: what was written stays written, and no traceback
        sys.stderr.write("\nrulebook: interrupted\n")
        sys.exit(130)  # as a shell reports a command stopped by SIGINT


class _Interrupted(BaseException):
    """Ctrl-C. Not a KeyboardInterrupt, which click would turn into exit status 1, the status of
    a failed check."""


def _interrupt(signum: int, frame: Any) -> None:
    raise _Interrupted


# -- the cache file ---------------------------------------------------------------------------------


def cache_dir() -> str | None:
    """Where cached policies are kept; None when caching is off (or no folder can be had)."""
    configured = os.environ.get("RULEBOOK_CACHE_DIR")
    if configured is not None:
        return configured or None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "rulebook")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder
    except OSError:
        pass
    return _private_temporary_folder()


def _private_temporary_folder() -> str | None:
    """A folder for the cache in the temporary folder, the user's own and no one else's."""
    import stat

    getuid = getattr(os, "getuid", None)
    if getuid is None:
        return None
    folder = os.path.join(os.environ.get("TMPDIR") or "/tmp", f"rulebook-cache-{getuid()}")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        status = os.lstat(folder)
    except OSError:
        return None
    # another user may have made it first, or made it a link: the cache holds code to run
    if not stat.S_ISDIR(status.st_mode) or status.st_uid != getuid() or status.st_mode & 0o077:
        return None
    return folder


def _key(policy_paths: list[str]) -> str:
    """The cache key: the policy paths, this Python and this very copy of the engine (any
    change to its code makes a new key)."""
    package = os.path.dirname(os.path.abspath(__file__))
    with os.scandir(package) as entries:
        code = sorted(f"{entry.name}:{entry.stat().st_size}:{entry.stat().st_mtime_ns}"
                      for entry in entries if entry.name.endswith(".py"))
    return "\n".join([str(_FORMAT), sys.version, package, *code, *(os.path.abspath(path) for path in policy_paths)])


def _cache_file(key: str) -> str | None:
    import zlib

    folder = cache_dir()
    if folder is None:
        return None
    return os.path.join(folder, f"classify-{zlib.crc32(key.encode()):08x}.bin")


def stamp(paths: list[str]) -> tuple[Any, ...] | None:
    """What a cache entry is built from: each policy path (a folder with its YAML files, each
    with its size and modification time); None if one is missing. Taken before the policy is
    read, so a file changed while it is read makes the entry stale rather than wrong."""
    from .resources import yaml_files_in

    entries: list[Any] = []
    try:
        for path in map(os.path.abspath, paths):
            files = yaml_files_in(path) if os.path.isdir(path) else [path]
            entries.append((path, tuple((file, *_file_stamp(file)) for file in files)))
    except OSError:
        return None
    return tuple(entries)


def _file_stamp(path: str) -> tuple[int, int]:
    status = os.stat(path)
    return status.st_size, status.st_mtime_ns


def remember(policy_paths: list[str], classifier: Any, read_from: tuple[Any, ...] | None) -> None:
    """Keep what a quick start needs for `classifier` in the cache, unless it is there
    already, the policy does not qualify, or caching is off. `read_from` is the `stamp` of
    `policy_paths` taken before the policy was read. Never fails: a cache that cannot be
    written is only slower."""
    if classifier.ref.as_of is not None:
        return  # its decisions depend on the run's as-of date, which a quick start does not read
    key = _key(policy_paths)
    path = _cache_file(key)
    if path is None or read_from is None or _load(path, key, policy_paths) is not None:
        return
    from .compile import standalone_decide
    from .fastpath import record_tail

    decide = standalone_decide(classifier.policy)
    record = _portable_record(classifier)
    if decide is None and record is None:
        return
    tails = [record_tail(classifier, verdict) if verdict is not None else None for verdict in classifier.verdicts]
    labels = [verdict.outcome if verdict is not None else None for verdict in classifier.verdicts]
    entry = {
        "key": key,
        "stamp": read_from,
        "code": compile(decide.source, f"<policy {classifier.policy.name}>", "exec") if decide else None,
        "constants": decide.constants if decide else {},
        "canonical": decide.canonical if decide else (),
        "record": record,
        "tails": tails,
        "labels": labels,
        "outcomes": list(classifier.policy.outcome_names),
    }
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        temporary = f"{path}.{os.getpid()}"
        with open(temporary, "wb") as handle:
            marshal.dump(entry, handle)
        os.replace(temporary, path)
    except (OSError, ValueError):
        pass


def _portable_record(classifier: Any) -> dict[str, Any] | None:
    """The record forms of a first or priority hit policy as the cache keeps them: the code of
    each module, the constants it reads (pickled: plain data, dates, patterns, the sandbox's
    functions; a rule the careful path's interpreter evaluates is named, and taken from the
    full classifier where a line needs it), and the record's fields with the id among them;
    None if anything else is needed (then only the full CLI streams the policy's items)."""
    import pickle

    from .compile import RuleHolds
    from .fastpath import record_with_id

    forms = classifier.forms
    if classifier.policy.hit not in ("first", "priority") or forms.record_fields is None:
        return None
    with_id = record_with_id(forms.record_fields, "id")
    if with_id is None:
        return None
    modules = []
    for source, namespace in forms.record_modules:
        code = compile(source, f"<policy {classifier.policy.name}>", "exec")
        names = _names_in(code) - {"Bail", "decide_record", "decide_record_tolerant"}
        constants = {name: namespace[name] for name in sorted(names) if name in namespace}
        # a rule the careful path's interpreter evaluates: the full classifier's, where needed
        interpreted = sorted(name for name, value in constants.items() if isinstance(value, RuleHolds))
        for name in interpreted:
            del constants[name]
        if not all(_portable(value) for value in constants.values()):
            return None
        modules.append((code, pickle.dumps(constants), interpreted))
    return {"modules": modules, "fields": pickle.dumps(with_id[0]), "id": with_id[1]}


def _names_in(code: Any) -> set[str]:
    names = set(code.co_names)
    for constant in code.co_consts:
        if hasattr(constant, "co_names"):
            names |= _names_in(constant)
    return names


def _portable(value: Any) -> bool:
    """Whether a constant of generated code can be kept in the cache and read back without
    the engine beyond its sandbox: plain data, dates, patterns, builtins, sandbox functions."""
    import datetime

    from . import sandbox
    from .jsonio import UNSET

    if value is None or value is UNSET or type(value) in (str, int, float, bool, datetime.date, datetime.datetime, sandbox.Pattern):
        return True
    if type(value) in (tuple, list, frozenset):
        return all(_portable(item) for item in value)
    if type(value) is dict:
        return all(_portable(key) and _portable(item) for key, item in value.items())
    if value in (type, len, int, float, str, bool, tuple, dict, list, map, Exception):
        return True
    return callable(value) and getattr(sandbox, getattr(value, "__name__", ""), None) is value


def _load(path: str, key: str, policy_paths: list[str]) -> dict[str, Any] | None:
    """The cache entry at `path` if it is for `key` and its policy files are unchanged."""
    try:
        with open(path, "rb") as handle:
            status = os.fstat(handle.fileno())
            if status.st_uid != getattr(os, "getuid", lambda: status.st_uid)() or status.st_mode & 0o022:
                return None  # only the user's own, unshared cache is trusted to hold code
            entry = marshal.load(handle)
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if type(entry) is not dict or entry.get("key") != key or entry.get("stamp") != stamp(policy_paths):
        return None
    return entry


# -- the quick run ----------------------------------------------------------------------------------


def _quick_run(argv: list[str]) -> Any:
    """A function that runs `argv` from the cache and exits, if it can; else None."""
    if not argv or argv[0] != "classify" or cache_dir() is None:
        return None
    items: str | None = None
    policy_paths: list[str] = []
    quiet = False
    jobs = 1
    words = iter(argv[1:])
    for word in words:
        if word in ("--policy", "-p"):
            value = next(words, None)
            if value is None or value.startswith("-"):
                return None
            policy_paths.append(value)
        elif word in ("--jobs", "-j"):
            value = next(words, None)
            if value is None or not value.isdigit():
                return None
            jobs = int(value)
        elif word in ("--quiet", "-q"):
            quiet = True
        elif word == "--as-of":
            # the cache holds only policies that never call days_since(), which no date changes
            from .sandbox import parse_moment

            value = next(words, None)
            if value is None or parse_moment(value) is None:
                return None  # the full CLI says what is wrong
        elif word in ("--format", "-f"):
            if next(words, None) != "jsonl":
                return None
        elif word == "-" or not word.startswith("-"):
            if items is not None:
                return None
            items = word
        else:
            return None  # any other option: the full CLI
    if items is None or ("--format" not in argv and "-f" not in argv and sys.stdout.isatty()):
        return None
    if items != "-" and os.path.splitext(items)[1].lower() in (".json", ".csv", ".tsv", ".yaml", ".yml"):
        return None
    if items != "-" and not _first_item_has_id(items):
        return None  # the full CLI says so (see cli._check_id_field)
    if not policy_paths:
        from .resources import default_policy_path

        policy_paths = [default_policy_path()]
    key = _key(policy_paths)
    path = _cache_file(key)
    entry = _load(path, key, policy_paths) if path else None
    if entry is None:
        return None
    return lambda: _classify(entry, items, quiet, policy_paths, jobs)


def _first_item_has_id(path: str) -> bool:
    """Whether the first line of a JSON lines file is plain UTF-8 JSON holding the field `id`
    (where not, the full CLI reads it and may have something to say). Only a regular file is
    read twice: what is read from a pipe (`<(...)`) would be gone."""
    import json
    import stat

    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return True
        with open(path, "rb") as handle:
            start = handle.read(1 << 16).lstrip()
        item = json.loads(start.split(b"\n", 1)[0].decode("utf-8")) if start else {"id": None}
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(item, dict) and "id" in item


def _classify(entry: dict[str, Any], items: str, quiet: bool, policy_paths: list[str], jobs: int) -> None:
    # the record forms take any stream (unless a progress count is due at a terminal)
    streams = entry.get("record") is not None and (quiet or not sys.stderr.isatty())
    if jobs != 1:
        if streams and _forks():
            try:
                source = sys.stdin.buffer if items == "-" else open(items, "rb")  # noqa: SIM115 - read to the end, then exit
            except OSError:
                return  # the full CLI says what is wrong
            _stream_records(entry, source, quiet, policy_paths, jobs)
        return
    if items == "-":
        data = sys.stdin.buffer.read(QUICK_BYTES + 1)
    else:
        try:
            with open(items, "rb") as handle:
                data = handle.read(QUICK_BYTES + 1)
        except OSError:
            return  # the full CLI says what is wrong
    output = _decide_all(entry, data) if entry["code"] is not None and len(data) <= QUICK_BYTES else None
    if output is None:
        if streams:
            if items == "-":
                _stream_records(entry, io.BufferedReader(_Rejoined(data, sys.stdin.buffer), 1 << 16), quiet,
                                policy_paths)
            with open(items, "rb") as handle:
                _stream_records(entry, handle, quiet, policy_paths)
        if items == "-":
            _hand_over(data)
        return
    records, counts = output
    delivered = True
    try:
        pending = memoryview(records)
        while pending:  # a write cut short by a closing reader says so only on the next one
            pending = pending[sys.stdout.buffer.write(pending):]
        sys.stdout.buffer.flush()
    except BrokenPipeError:  # the reader went away (`| head`): say so, as the full CLI does
        delivered = False
        silence_stdout()
    if not quiet:
        total = sum(counts.values())
        sys.stderr.write(summary(total, total, 0, counts, entry["outcomes"], delivered) + "\n")
    sys.exit(0)


_SHORTEST_TOO_DEEP = 2002  # jsonio.SHORTEST_TOO_DEEP, without importing its JSON library


def _decide_all(entry: dict[str, Any], data: bytes) -> tuple[bytes, dict[str, int]] | None:
    """The JSONL records and the count per outcome, or None if a line needs the full path."""
    import json
    import math

    class Bail(Exception):
        pass

    namespace: dict[str, Any] = {"__builtins__": {}, "Bail": Bail, "ABSENT": object(), "INF": math.inf,
                                 **_PLAIN_BUILTINS, **entry["constants"]}
    for name, table, value in entry["canonical"]:
        namespace[name] = namespace[table][value]
    exec(entry["code"], namespace)  # noqa: S102 - built by compile.standalone_decide, read from the user's own cache
    decide = namespace["decide"]
    tails, labels = entry["tails"], entry["labels"]
    parts: list[bytes] = []
    counts: dict[str, int] = {}
    decoder = json.JSONDecoder(parse_constant=_no_constant)
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        if b"\\ud" in raw or b"\\uD" in raw:
            return None  # surrogate escapes: the full path's decoder is the judge
        if len(raw) >= _SHORTEST_TOO_DEEP:
            return None  # brackets enough to be nested too deeply: the full path measures it
        try:
            item = decoder.decode(raw.decode("utf-8"))
            result = decide(item)
            identifier = _plain_id(item.get("id"))
        except Exception:  # anything unusual: the full path decides, and explains
            return None
        tail = tails[result]
        if tail is None or identifier is None or not _whole_numbers_fit(item):
            return None
        parts.append(b'{"id":' + identifier + tail)
        counts[labels[result]] = counts.get(labels[result], 0) + 1
    return b"".join(parts), counts


def _stream_records(entry: dict[str, Any], source: BinaryIO, quiet: bool, policy_paths: list[str],
                    jobs: int = 1) -> NoReturn:
    """Classify JSON lines with the cached record forms, in one process or `jobs`, as the full
    CLI's record lane does, and exit."""
    from .items import as_utf8
    from .stream import run, run_parallel, workers_for

    source = as_utf8(source)
    decider = _CachedClassifier(entry, policy_paths)
    workers = workers_for(jobs, source)
    if workers > 1:
        tally = run_parallel(None, source, sys.stdout.buffer, workers, decider=decider)  # workers fork (see _forks)
    else:
        tally = run(decider, source, "jsonl", "jsonl", sys.stdout.buffer)  # type: ignore[arg-type]
    if not tally.delivered:  # the reader went away (`| head`): say so, as the full CLI does
        silence_stdout()
    if not quiet:
        sys.stderr.write(summary(tally.items, tally.decided, tally.rejected, tally.labels, entry["outcomes"],
                                 tally.delivered) + "\n")
    sys.exit(3 if tally.rejected else 0)  # ExitCode.REJECTED, ExitCode.OK


def _forks() -> bool:
    """Whether worker processes start by forking here (they then inherit the cached forms)."""
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()


class _CachedClassifier:
    """A decider (stream.Decider) whose JSON lines lane runs the cached record forms. Anything
    else it is asked (a line the forms do not decide outright, which the general path decides
    and explains) is the full classifier's, loaded the first time it is needed."""

    def __init__(self, entry: dict[str, Any], policy_paths: list[str]):
        import pickle

        class Bail(Exception):
            pass

        def from_full(index: int, name: str) -> Any:
            # a rule evaluated by the careful path's interpreter: the full classifier's own,
            # loaded where the first line needs it
            def holds(*values: Any) -> bool:
                found = namespaces[index][name] = self.forms.record_modules[index][1][name]
                return found(*values)

            return holds

        record = entry["record"]
        namespaces: list[dict[str, Any]] = []
        for index, (code, constants, interpreted) in enumerate(record["modules"]):
            # the tolerant form first, which the strict one calls
            linked = {name: namespaces[-1][name] for name in ("decide_record_tolerant",) if namespaces and name in namespaces[-1]}
            namespaces.append({"__builtins__": {}, "Bail": Bail, **pickle.loads(constants), **linked,
                               **{name: from_full(index, name) for name in interpreted}})
            exec(code, namespaces[-1])  # noqa: S102 - generated by compile.generate, read from the user's own cache
        namespace = namespaces[-1]
        self.decide_record = namespace["decide_record"]
        self.fields, self.id_attribute = pickle.loads(record["fields"]), record["id"]
        self.tails, self.labels = entry["tails"], entry["labels"]
        self.policy_paths = policy_paths
        self.full: Any = None

    def jsonl_lane(self, id_field: str, careful_line: Any, trace: bool = False) -> Any:
        from .fastpath import JsonlLane

        assert id_field == "id", "the cached record holds the id of quick runs, which take no --id-field"
        assert not trace, "quick runs take no --explain"

        return JsonlLane(self.decide_record, self.fields, self.id_attribute, careful_line, self.tail,
                         self.labels.__getitem__)

    def tail(self, result: int) -> bytes:
        tail = self.tails[result]
        if tail is None:
            raise ValueError("no verdict")  # the general path says why
        return tail

    def __getattr__(self, name: str) -> Any:  # ref, inputs, result_for, record, label
        if self.full is None:
            from .cli import _load_policy

            self.full = _load_policy(tuple(self.policy_paths), None).classifier
        return getattr(self.full, name)


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _plain_id(value: Any) -> bytes | None:
    """The id as the full path writes it, for ids it writes the same way in any JSON library:
    absent or null, a whole number of 64 bits, printable ASCII text without escapes."""
    if value is None:
        return b"null"
    if type(value) is int and -(2**63) <= value < 2**63:
        return str(value).encode()
    if type(value) is str and value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return b'"' + value.encode() + b'"'
    return None


def _whole_numbers_fit(item: dict[str, Any]) -> bool:
    # the full path reads whole numbers as 64-bit integers; larger ones it judges itself
    return all(-(2**63) <= value < 2**63 for value in item.values() if type(value) is int)


def summary(items: int, decided: int, rejected: int, counts: dict[str, int], outcomes: list[str] | tuple[str, ...],
            delivered: bool = True) -> str:
    """The summary line of `classify` and `gate`: items, decided, rejected, and the count of
    each outcome, the policy's outcomes first in policy order (shared with cli.py)."""
    text = f"rulebook: {items} item{'' if items == 1 else 's'}: {decided} decided, {rejected} rejected"
    parts = [f"{label} {counts[label]}" for label in outcomes if counts.get(label)]
    parts += [f"{label} {count}" for label, count in sorted(counts.items()) if label not in outcomes]
    text += f" ({', '.join(parts)})" if parts else ""
    return text + ("" if delivered else " before the output was closed")


def silence_stdout() -> None:
    """After the reader went away, send what Python still flushes at exit to /dev/null (shared
    with cli.py)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (in-process runners)
        pass


def _hand_over(consumed: bytes) -> None:
    """Give the full CLI the standard input as it was: what was read, then the rest."""
    rest = sys.stdin.detach()  # the buffer, kept open (dropping the old wrapper would close it)
    sys.stdin = io.TextIOWrapper(io.BufferedReader(_Rejoined(consumed, rest)))


class _Rejoined(io.RawIOBase):
    """A stream of `head` followed by whatever `rest` still holds."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self.head = memoryview(head)
        self.rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.head:
            count = min(len(buffer), len(self.head))
            buffer[:count] = self.head[:count]
            self.head = self.head[count:]
            return count
        chunk = self.rest.read1(len(buffer)) if hasattr(self.rest, "read1") else self.rest.read(len(buffer))
        buffer[:len(chunk)] = chunk
        return len(chunk)
