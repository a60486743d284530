"""The quick start of `rulebook classify` (engine/launch.py): the same bytes as the full CLI."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from engine import launch
from engine.stream import run

from .conftest import EXAMPLES, ROOT, checkout_environment

BENCH_POLICY = ROOT / "benchmarks" / "itsm-triage.yaml"

# runs the command in a fresh interpreter and says on the last line of stderr which path ran
DRIVER = """
import sys
from engine.launch import main
sys.argv = ["rulebook", *sys.argv[1:]]
try:
    main()
finally:
    sys.stderr.write("\\n[" + ("full" if "click" in sys.modules else "quick") + "]")
"""


def rulebook(args: list[str], cache: Path | None, stdin: bytes = b"", cwd: Path = ROOT,
             env: dict[str, str] | None = None) -> tuple[bytes, str, int, str]:
    """(stdout, stderr, exit code, "quick" or "full") of `rulebook ARGS` with the cache at `cache` (None: off),
    or where `env` says."""
    env = env or dict(checkout_environment(), RULEBOOK_CACHE_DIR=str(cache) if cache else "")
    done = subprocess.run([sys.executable, "-c", DRIVER, *args], input=stdin, capture_output=True, env=env, cwd=cwd,
                          timeout=120)
    stderr, _, path = done.stderr.decode().rpartition("\n")
    return done.stdout, stderr, done.returncode, path.strip("[]")


def test_a_second_run_starts_quickly_and_writes_the_same_bytes(tmp_path: Path) -> None:
    args = ["classify", str(EXAMPLES / "items.jsonl")]
    off = rulebook(args, None)
    first = rulebook(args, tmp_path)
    second = rulebook(args, tmp_path)
    assert (off[3], first[3], second[3]) == ("full", "full", "quick")
    assert off[:3] == first[:3] == second[:3]
    assert off[2] == 0 and off[1].startswith("rulebook: 48 items: 48 decided, 0 rejected (routine_ticket 9,")


def bench_items(count: int) -> bytes:
    """Items of the benchmark policy's shape, varied enough to reach most of its rules."""
    types = ["incident", "request", "problem", "change", "idea"]
    levels = ["low", "medium", "high", "critical"]
    return b"".join(json.dumps({
        "id": f"T-{n}", "type": types[n % 5], "service_criticality": levels[n % 4], "recurrence_90d": n % 13,
        "departments_affected": 1 + n % 4, "manual_effort_hours_month": (n * 7) % 50 + 0.5, "risk": levels[(n // 3) % 3],
        "estimated_cost": (n * 7919) % 300_000, "strategic_alignment": n % 6, "requires_funding": n % 2 == 0,
    }).encode() + b"\n" for n in range(count))


def test_stdin_quiet_and_an_explicit_policy(tmp_path: Path) -> None:
    items = bench_items(200)
    args = ["classify", "-", "--policy", str(BENCH_POLICY), "--format", "jsonl", "--quiet"]
    rulebook(args, tmp_path, items)
    quick = rulebook(args, tmp_path, items)
    assert quick[3] == "quick"
    assert quick[:3] == rulebook(args, None, items)[:3]
    assert quick[1] == ""
    assert len({json.loads(line)["rule"] for line in quick[0].splitlines()}) >= 8


def test_options_the_quick_start_does_not_handle_go_to_the_full_cli(tmp_path: Path) -> None:
    items = str(EXAMPLES / "items.jsonl")
    rulebook(["classify", items], tmp_path)
    for extra in (["--explain"], ["--annotate"], ["--format", "csv"], ["--id-field", "title"],
                  ["--name", "demand-intake"], ["--input-format", "jsonl"], ["--jobs", "x"]):
        assert rulebook(["classify", items, *extra], tmp_path)[3] == "full", extra
    assert rulebook(["classify", str(EXAMPLES / "items.csv")], tmp_path)[3] == "full"


def test_an_as_of_date_keeps_the_quick_start_of_a_policy_that_never_counts_days(tmp_path: Path) -> None:
    items = str(EXAMPLES / "items.jsonl")
    full = rulebook(["classify", items], None)
    rulebook(["classify", items], tmp_path)
    dated = rulebook(["classify", items, "--as-of", "2026-12-02"], tmp_path)
    assert dated[3] == "quick" and dated[:3] == full[:3]
    wrong = rulebook(["classify", items, "--as-of", "2026-13-02"], tmp_path)
    assert wrong[3] == "full" and wrong[2] == 2 and "is not a date" in wrong[1]


ODD_LINES = [
    b'{"id": "ok-1", "type": "incident"}',
    b'{"id": "T-\\u00e9", "type": "incident"}',  # an id the JSON libraries may write differently
    b'{"id": "caf\xc3\xa9", "type": "incident"}',
    b'{"id": 1.5, "type": "incident"}',
    b'{"id": true, "type": "incident"}',
    b'{"id": 99999999999999999999, "type": "incident"}',
    b'{"id": "x", "type": "incident", "extra": NaN}',
    b'{"id": "x", "type": "incident", "extra": 123456789012345678901234567890}',
    b'{"id": "x", "type": "incident", "extra": 1e400}',  # too large for a float: where no rule reads it
    b'{"id": "x", "type": "incident", "recurrence_90d": -1e400}',
    b'{"id": "x", "type": "incident", "note": "\\ud800"}',
    b'{"id": "x", "type": "unknown-kind"}',
    b'{"id": "x", "type": "incident", "recurrence_90d": true}',
    b'{"id": "x", "type": "incident", "recurrence_90d": 3.0}',
    b'{"id": "x", "type": "incident"}\r',
    b"\xef\xbb\xbf" + b'{"id": "bom", "type": "incident"}',
    b'[1, 2]',
    b'{"id": "x", "type": "incident"',
    b"   ",
    b"",
    b'{"type": "problem"}',
    b'{"id": null, "type": "problem", "id": "dup"}',
    # nested 985 (where a worker's parser runs out of room before the main process's), 1,000
    # (the most an item may be) and 1,001 levels deep: the same records on every path
    *(b'{"id": "deep", "type": "incident", "x": ' + b"[" * depth + b"]" * depth + b"}" for depth in (984, 999, 1000)),
]


def test_every_odd_line_gives_what_the_full_cli_gives(tmp_path: Path) -> None:
    rulebook(["classify", "-"], tmp_path, ODD_LINES[0] + b"\n")
    for line in ODD_LINES:
        data = b'{"id": "first", "type": "change"}\n' + line + b"\n"
        quick = rulebook(["classify", "-"], tmp_path, data)
        assert quick[:3] == rulebook(["classify", "-"], None, data)[:3], line


def test_more_input_than_the_quick_start_takes_is_streamed_through_the_record_forms(tmp_path: Path) -> None:
    line = b'{"id": "T-1", "type": "incident", "recurrence_90d": 4}\n'
    data = line * (launch.QUICK_BYTES // len(line) + 10)
    rulebook(["classify", "-"], tmp_path, line)
    stdout, stderr, code, path = rulebook(["classify", "-"], tmp_path, data)
    assert path == "quick" and code == 0
    count = data.count(b"\n")
    assert stdout.count(b"\n") == count and stdout.splitlines()[0] == stdout.splitlines()[-1]
    assert stderr.startswith(f"rulebook: {count} items: {count} decided, 0 rejected")
    assert (stdout, stderr, code) == rulebook(["classify", "-"], None, data)[:3]


def test_odd_lines_far_into_a_long_stream_are_written_as_the_full_cli_writes_them(tmp_path: Path) -> None:
    # the record forms stream it; the lines they do not decide go through the engine's general
    # path, loaded at the first of them, in place
    good = bench_items(12_000)
    data = good + b"\n".join(ODD_LINES) + b"\n" + good[:5000] + b'{"id": "last", "type": "problem"}'
    args = ["classify", "-", "--policy", str(BENCH_POLICY)]
    rulebook(args, tmp_path, b"{}\n")
    assert len(data) > launch.QUICK_BYTES
    quick = rulebook(args, tmp_path, data)
    assert quick[3] == "full"  # the engine was loaded for the odd lines
    assert quick[:3] == rulebook(args, None, data)[:3] and quick[2] == 3


def test_a_line_longer_than_an_item_may_be_is_an_error_from_the_cache_too(tmp_path: Path) -> None:
    huge = json.dumps({"id": "huge", "type": "incident", "padding": "x" * (16 * 1024 * 1024)}).encode()
    data = bench_items(3) + huge + b"\n"
    args = ["classify", "-", "--policy", str(BENCH_POLICY)]
    rulebook(args, tmp_path, b"{}\n")
    quick = rulebook(args, tmp_path, data)
    assert quick[:3] == rulebook(args, None, data)[:3] and b"line is longer than 16 MiB" in quick[0]


def test_jobs_run_from_the_cache_too(tmp_path: Path) -> None:
    items = tmp_path / "items.jsonl"
    items.write_bytes(bench_items(30_000) + b"\n".join(ODD_LINES) + b"\n" + bench_items(100))
    assert items.stat().st_size > 4 << 20  # large enough for workers
    args = ["classify", str(items), "--policy", str(BENCH_POLICY), "--jobs", "2"]
    rulebook(args, tmp_path, b"")
    quick = rulebook(args, tmp_path)
    assert quick[3] == "quick"  # the workers loaded the engine for the odd lines, not this process
    assert quick[:3] == rulebook(args, None)[:3] == rulebook(args[:-2], None)[:3] and quick[2] == 3
    clean = tmp_path / "clean.jsonl"
    clean.write_bytes(bench_items(30_000))
    quick = rulebook(["classify", str(clean), "--policy", str(BENCH_POLICY), "-j", "2"], tmp_path)
    assert quick[3] == "quick" and quick[:3] == rulebook(["classify", str(clean), "--policy", str(BENCH_POLICY)], None)[:3]


def test_items_in_utf16_run_from_the_cache_as_their_utf8_text_does(tmp_path: Path) -> None:
    # the quick start takes UTF-8 only: UTF-16 goes through the record forms, in one process or two
    text = bench_items(30_000) + b"\n".join(ODD_LINES) + b"\n"
    items, wide = tmp_path / "items.jsonl", tmp_path / "wide.jsonl"
    items.write_bytes(text)
    wide.write_bytes(text.decode().encode("utf-16"))
    assert wide.stat().st_size > 4 << 20  # large enough for workers
    args = ["classify", "--policy", str(BENCH_POLICY)]
    rulebook([*args, "-"], tmp_path, b"{}\n")
    expected = rulebook([*args, str(items)], None)[:3]
    assert expected[2] == 3
    for more in [[str(wide)], [str(wide), "-j", "2"], ["-"]]:
        assert rulebook([*args, *more], tmp_path, wide.read_bytes() if more == ["-"] else b"")[:3] == expected, more


def test_a_file_whose_items_lack_an_id_is_pointed_out_from_the_cache_too(tmp_path: Path) -> None:
    items = tmp_path / "items.jsonl"
    items.write_bytes(b'{"ID": "INC1", "type": "incident"}\n')
    args = ["classify", str(items), "--format", "jsonl"]
    rulebook(args, tmp_path)
    cached, off = rulebook(args, tmp_path), rulebook(args, None)
    assert cached[:3] == off[:3] and "did you mean 'ID'?" in off[1]
    items.write_bytes(b'{"id": "INC1", "type": "incident"}\n')
    assert rulebook(args, tmp_path)[3] == "quick"


def test_items_from_a_pipe_named_as_a_file_are_read_once(tmp_path: Path) -> None:
    # `rulebook classify <(...)`: the path is a pipe, whose items a second reading would lose
    import threading

    data = (EXAMPLES / "items.jsonl").read_bytes().replace(b'"id"', b'"ID"', 1)
    args_of = {"quick": ["classify", "--format", "jsonl"], "named id": ["classify", "--format", "jsonl", "--id-field", "ID"]}
    rulebook(["classify", str(EXAMPLES / "items.jsonl")], tmp_path)
    for name, args in args_of.items():
        for cache in (tmp_path, None):
            fifo = tmp_path / f"pipe-{name}-{cache is None}"
            os.mkfifo(fifo)
            threading.Thread(target=fifo.write_bytes, args=(data,), daemon=True).start()
            stdout, stderr, code, _ = rulebook([*args, str(fifo)], cache)
            assert (stdout.count(b"\n"), code) == (48, 0), (name, cache, stderr)


NESTED_POLICY = ROOT / "benchmarks" / "ops-triage.yaml"


def test_a_policy_over_nested_fields_runs_from_the_cache_through_the_record_forms(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import ops_shape
    finally:
        sys.path.pop(0)
    import random

    r = random.Random(7)
    data = b"".join(json.dumps(ops_shape.item(r, n)).encode() + b"\n" for n in range(3000))
    args = ["classify", "-", "--policy", str(NESTED_POLICY)]
    rulebook(args, tmp_path, b"{}\n")
    quick = rulebook(args, tmp_path, data)
    assert quick[3] == "quick" and quick[:3] == rulebook(args, None, data)[:3]
    odd = data + b'{"id": "flat", "kind": "incident", "opened_at": "2026-01-02", "impact.level": "severe"}\n' \
        + b'{"id": "bad", "kind": "incident", "opened_at": "2026-02-30"}\n'
    quick = rulebook(args, tmp_path, odd)
    assert quick[:3] == rulebook(args, None, odd)[:3] and quick[2] == 3


def test_a_reader_that_goes_away_is_reported_as_the_full_cli_does(tmp_path: Path) -> None:
    items = tmp_path / "items.jsonl"
    items.write_bytes(b'{"id": "T-1", "type": "incident"}\n' * 3000)  # more than a pipe holds
    env = dict(checkout_environment(), RULEBOOK_CACHE_DIR=str(tmp_path / "cache"))
    rulebook(["classify", str(items)], tmp_path / "cache")
    process = subprocess.Popen([sys.executable, "-c", DRIVER, "classify", str(items)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env, cwd=ROOT)
    assert process.stdout is not None
    process.stdout.close()  # the reader goes away before reading anything
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0
    assert stderr.decode().endswith("(routine_ticket 3000) before the output was closed\n\n[quick]")


def test_a_changed_policy_is_read_again(tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "p.yaml").write_text(BENCH_POLICY.read_text())
    cache = tmp_path / "cache"
    args = ["classify", "-", "--policy", str(folder)]
    item = bench_items(1)
    rulebook(args, cache, item)
    assert rulebook(args, cache, item)[3] == "quick"
    text = (folder / "p.yaml").read_text()
    (folder / "p.yaml").write_text(text.replace('name: itsm-triage', 'name: itsm-triage-2'))
    stdout, _, _, path = rulebook(args, cache, item)
    assert path == "full" and json.loads(stdout)["policy"]["name"] == "itsm-triage-2"
    assert rulebook(args, cache, item)[3] == "quick"
    (folder / "more.yaml").write_text(text.replace("name: itsm-triage", "name: other"))
    assert rulebook(args, cache, item)[3] == "full"  # a new file in the folder: two policies, a usage error


def test_a_cache_file_others_may_write_is_ignored(tmp_path: Path) -> None:
    args = ["classify", str(EXAMPLES / "items.jsonl")]
    rulebook(args, tmp_path)
    (entry,) = tmp_path.iterdir()
    entry.chmod(0o666)
    assert rulebook(args, tmp_path)[3] == "full"


def test_without_a_home_to_keep_it_in_the_cache_is_kept_in_a_private_temporary_folder(tmp_path: Path) -> None:
    (tmp_path / "home").write_text("")  # a file: no folder can be made in it, as in a read-only home
    env = {key: value for key, value in checkout_environment().items() if key not in ("RULEBOOK_CACHE_DIR", "XDG_CACHE_HOME")}
    env.update(HOME=str(tmp_path / "home"), TMPDIR=str(tmp_path))
    args = ["classify", str(EXAMPLES / "items.jsonl")]
    first, second = rulebook(args, None, env=env), rulebook(args, None, env=env)
    assert (first[3], second[3]) == ("full", "quick") and first[:3] == second[:3]
    (folder,) = tmp_path.glob("rulebook-cache-*")
    assert folder.stat().st_mode & 0o777 == 0o700 and len(list(folder.iterdir())) == 1
    folder.chmod(0o777)  # a folder others may write to is not used
    assert rulebook(args, None, env=env)[3] == "full"


def two_runs(tmp_path: Path, inputs: str, when: str, data: bytes) -> tuple[tuple[bytes, str, int, str], ...]:
    """The first and second run of `rulebook classify` with a one-rule policy over `inputs`."""
    policy = tmp_path / "p.yaml"
    policy.write_text(f"rulebook: 1\nkind: classification\nname: p\ninputs:\n{inputs}outcomes: [a, b]\ndefault: b\n"
                      f"rules:\n  - {{id: r, outcome: a, when: \"{when}\"}}\n")
    args = ["classify", "-", "--policy", str(policy)]
    return rulebook(args, tmp_path / "cache", data), rulebook(args, tmp_path / "cache", data)


def test_policies_whose_code_needs_the_sandbox_run_from_the_cache_through_the_record_forms(tmp_path: Path) -> None:
    data = b'{"id": 1, "title": "db1", "count": 3}\n{"id": 2, "title": "db1", "count": 2}\n'
    first, second = two_runs(tmp_path, "  title: string\n  count: integer\n", "matches(title, 'db.*') and count ** 2 > 4",
                             data)
    assert (first[3], second[3]) == ("full", "quick") and first[:3] == second[:3]
    assert [json.loads(line)["outcome"] for line in first[0].splitlines()] == ["a", "b"]


def test_lines_lacking_an_input_of_an_interpreted_rule_are_decided_alike_from_the_cache(tmp_path: Path) -> None:
    # where a line lacks `count`, the full run's record form has the careful path's interpreter
    # evaluate the rule (arithmetic may fail), the cached one hands the line to the general path
    data = b'{"id": 1, "title": "db1"}\n{"id": 2, "title": "db1", "count": 3}\n{"id": 3, "title": "x", "count": 0}\n' * 3
    first, second = two_runs(tmp_path, "  title: string\n  count: integer\n",
                             "matches(title, 'db.*') or 6 / count > 1", data)
    assert first[:3] == second[:3] and first[2] == 3
    assert [json.loads(line).get("outcome") for line in first[0].splitlines()][:3] == ["a", "a", None]


def test_policies_over_date_times_run_from_the_cache_through_the_record_forms(tmp_path: Path) -> None:
    data = b'{"id": 1, "title": "db1", "at": "2026-03-01T10:00:00Z"}\n{"id": 2, "title": "db1", "at": "2025-03-01 10:00"}\n'
    first, second = two_runs(tmp_path, "  title: string\n  at: datetime\n",
                             "matches(title, 'db.*') and at > '2026-01-01T00:00:00Z'", data)
    assert (first[3], second[3]) == ("full", "quick") and first[:3] == second[:3]
    assert [json.loads(line)["outcome"] for line in first[0].splitlines()] == ["a", "b"]


def test_policies_the_record_forms_cannot_take_are_not_cached(tmp_path: Path) -> None:
    data = b'{"id": 1, "title": "db1", "grid": [[1]]}\n'
    first, second = two_runs(tmp_path, "  title: string\n  grid: {type: array, items: {type: array}}\n",
                             "matches(title, 'db.*') and len(grid) > 0", data)
    assert first == second and first[3] == "full" and json.loads(first[0])["outcome"] == "a"


def test_policies_that_count_days_since_are_not_cached(tmp_path: Path) -> None:
    # their decisions depend on the run's as-of date, which a quick start does not read
    data = b'{"id": 1, "opened": "2020-01-01"}\n{"id": 2, "opened": "2999-01-01"}\n'
    first, second = two_runs(tmp_path, "  opened: date\n", "days_since(opened) > 30", data)
    assert (first[3], second[3]) == ("full", "full") and first == second
    assert [json.loads(line)["outcome"] for line in first[0].splitlines()] == ["a", "b"]
    assert not list((tmp_path / "cache").glob("*"))


# -- the quick decisions against the engine's own, line by line

VALUES: dict[str, Any] = {
    "type": st.sampled_from(["incident", "request", "problem", "change", "idea", "other", "", 1]),
    "service_criticality": st.sampled_from(["low", "medium", "high", "critical", "HIGH", None]),
    "recurrence_90d": st.one_of(st.integers(-2, 20), st.just(2**70), st.just(3.0), st.booleans()),
    "departments_affected": st.one_of(st.integers(0, 6), st.just(2.5)),
    "manual_effort_hours_month": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(0, 100)),
    "risk": st.sampled_from(["low", "medium", "high", "x"]),
    "estimated_cost": st.one_of(st.integers(0, 400_000), st.floats(0, 1e6), st.text(max_size=3)),
    "strategic_alignment": st.integers(-1, 6),
    "requires_funding": st.one_of(st.booleans(), st.integers(0, 1)),
    "id": st.one_of(st.text(max_size=6), st.integers(-(2**64), 2**64), st.none(), st.floats()),
}


@st.composite
def lines(draw: Any) -> bytes:
    item = {name: draw(values) for name, values in VALUES.items() if draw(st.integers(0, 9))}
    text = json.dumps(item, ensure_ascii=draw(st.booleans()))
    return text.encode("utf-8", "surrogatepass")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(lines(), min_size=1, max_size=4))
def test_quick_decisions_are_the_full_path_s_or_none(batch: list[bytes]) -> None:
    policy = engine.load(str(BENCH_POLICY))
    entry = _entry(policy)
    data = b"\n".join(batch) + b"\n"
    quick = launch._decide_all(entry, data)
    if quick is None:
        return
    out = io.BytesIO()
    tally = run(policy.classifier, io.BytesIO(data), "jsonl", "jsonl", out)
    assert quick[0] == out.getvalue()
    assert tally.rejected == 0 and quick[1] == {k: v for k, v in tally.labels.items() if v}


_ENTRIES: dict[str, dict[str, Any]] = {}


def _entry(policy: Any) -> dict[str, Any]:
    """The cache entry `rulebook classify` keeps for `policy`, as the quick start reads it."""
    if policy.sha256 not in _ENTRIES:
        paths = [str(BENCH_POLICY)]
        launch.remember(paths, policy.classifier, launch.stamp(paths))
        key = launch._key(paths)
        path = launch._cache_file(key)
        assert path is not None and path.startswith(os.environ["RULEBOOK_CACHE_DIR"])
        entry = launch._load(path, key, paths)
        assert entry is not None
        _ENTRIES[policy.sha256] = entry
    return _ENTRIES[policy.sha256]


def test_ctrl_c_stops_the_command_with_the_status_a_shell_gives_it(monkeypatch, capsys) -> None:
    import signal

    def interrupted() -> None:
        signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(launch, "_quick_run", lambda argv: interrupted)
    previous = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit) as stopped:
            launch.main()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert stopped.value.code == 130 and capsys.readouterr().err == "\nrulebook: interrupted\n"


def test_the_quick_start_passes_a_line_long_enough_to_be_nested_too_deeply_on() -> None:
    # it does not import the JSON library that says how long such a line is: the two must agree
    from engine import jsonio

    assert launch._SHORTEST_TOO_DEEP == jsonio.SHORTEST_TOO_DEEP
