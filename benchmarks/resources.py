#!/usr/bin/env python3
"""Start-up, memory and --jobs figures of `rulebook classify`, as a markdown report.

    python benchmarks/resources.py --items items_1m.jsonl [--rulebook PATH] [--policy PATH]

* start-up: `rulebook classify` on one item against a bare `python -c pass`, alternated,
  median of --runs each, and their ratio: once with the command's policy cache warm (every
  run after the first with an unchanged policy) and once with it off (the first run, or the
  first after the policy changed);
* memory: peak resident set size of classifying every item of --items (streamed), read with
  `/usr/bin/time -v` when it exists, else from the operating system's accounting of the child,
  with the policy cache warm and off;
* --jobs: wall time for --items with one process and with two, one right after the other in
  each of --rounds rounds, the medians and their ratio, and the median of the rounds' own
  ratios (less moved by a shared machine's load drifting between rounds); whether the outputs
  are the same bytes; with the policy cache warm and off. Beside it, what two processes gain on
  this machine at best: two independent runs on half the items each, at once, against one.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def wall(command: list[str], stdin: str | None = None, stdout: str | None = None, cache: str | None = None) -> float:
    env = dict(os.environ, RULEBOOK_CACHE_DIR=cache or "")
    with open(stdin or os.devnull, "rb") as source, open(stdout or os.devnull, "wb") as sink:
        start = time.perf_counter()
        subprocess.run(command, stdin=source, stdout=sink, stderr=subprocess.DEVNULL, check=False, env=env)
        return time.perf_counter() - start


def peak_rss_mb(command: list[str], stdin: str, cache: str | None = None) -> tuple[float, str]:
    env = dict(os.environ, RULEBOOK_CACHE_DIR=cache or "")
    timer = shutil.which("time", path="/usr/bin")
    with open(stdin, "rb") as source, open(os.devnull, "wb") as sink:
        if timer:
            result = subprocess.run([timer, "-v", *command], stdin=source, stdout=sink, stderr=subprocess.PIPE,
                                    text=True, check=False, env=env)
            found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr)
            if found:
                return int(found.group(1)) / 1024, "/usr/bin/time -v"
        process = subprocess.Popen(command, stdin=source, stdout=sink, stderr=subprocess.DEVNULL, env=env)
        _, _, usage = os.wait4(process.pid, 0)
        return usage.ru_maxrss / 1024, "wait4 (includes the launcher's own footprint)"


def machine_scaling(classify: list[str], items: str, count: int, cache: str, tmp: str, rounds: int) -> float:
    """What two processes gain on this machine at best: two independent runs, each on half of
    the items, at the same time, against one of them alone (median of the rounds' ratios).
    On a shared virtual machine two busy processes often slow each other down."""
    halves = [os.path.join(tmp, f"half{number}.jsonl") for number in (1, 2)]
    with open(items, "rb") as source, open(halves[0], "wb") as first, open(halves[1], "wb") as second:
        for number, line in enumerate(source):
            (first if number < count // 2 else second).write(line)
    env = dict(os.environ, RULEBOOK_CACHE_DIR=cache)
    ratios = []
    for _ in range(rounds):
        alone = wall(classify, stdin=halves[0], cache=cache)
        start = time.perf_counter()
        with open(halves[0], "rb") as one, open(halves[1], "rb") as two:
            running = [subprocess.Popen(classify, stdin=source, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        env=env) for source in (one, two)]
            for process in running:
                process.wait()
        together = time.perf_counter() - start
        ratios.append(2 * alone / together)
    return statistics.median(ratios)


def digest(path: str) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", required=True, help="a large JSONL file of items (e.g. 1,000,000)")
    parser.add_argument("--rulebook", default=shutil.which("rulebook") or "rulebook")
    parser.add_argument("--python", default=sys.executable, help="the interpreter rulebook runs on")
    parser.add_argument("--policy", default=None, help="policy for the runs (default: the shipped ones)")
    parser.add_argument("--runs", type=int, default=15, help="start-up runs of each command")
    parser.add_argument("--rounds", type=int, default=5, help="--jobs 1 and --jobs 2 runs of each cache mode")
    args = parser.parse_args()
    policy = ["--policy", args.policy] if args.policy else []
    classify = [args.rulebook, "classify", "-", *policy, "--format", "jsonl", "--quiet"]

    with tempfile.TemporaryDirectory() as tmp:
        one = os.path.join(tmp, "one.jsonl")
        with open(args.items, "rb") as source, open(one, "wb") as sink:
            sink.write(source.readline())
        cache = os.path.join(tmp, "cache")
        wall(classify, stdin=one, cache=cache)  # fills the cache
        bare, started, cold = [], [], []
        for _ in range(args.runs):
            bare.append(wall([args.python, "-c", "pass"]))
            started.append(wall(classify, stdin=one, cache=cache))
            cold.append(wall(classify, stdin=one))
        count = sum(1 for _ in open(args.items, "rb"))
        rss, how = peak_rss_mb(classify, args.items, cache)
        cold_rss, _ = peak_rss_mb(classify, args.items)
        outputs = set()
        times: dict[tuple[int, str | None], list[float]] = {(jobs, where): [] for where in (cache, None) for jobs in (1, 2)}
        for _ in range(args.rounds):
            for jobs, where in times:
                out = os.path.join(tmp, f"out{jobs}.jsonl")
                times[jobs, where].append(wall(classify + ["--jobs", str(jobs)], stdin=args.items, stdout=out,
                                               cache=where))
                outputs.add(digest(out))
        machine = machine_scaling(classify, args.items, count, cache, tmp, args.rounds)

    startup, python, cold_startup = statistics.median(started), statistics.median(bare), statistics.median(cold)
    jobs_time = {key: statistics.median(values) for key, values in times.items()}
    print(f"# rulebook classify: start-up, memory, --jobs ({time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())})\n")
    print(f"CPUs: {os.cpu_count()}; items: {count:,} ({args.items}); policy: {args.policy or 'shipped'}\n")
    print("| figure | value |")
    print("|---|---|")
    print(f"| start-up, one item, policy cache warm (median of {args.runs}) | {startup * 1000:.0f} ms |")
    print(f"| start-up, one item, policy cache off (median of {args.runs}) | {cold_startup * 1000:.0f} ms |")
    print(f"| bare `python -c pass` (median of {args.runs}) | {python * 1000:.0f} ms |")
    print(f"| start-up ratio, cache warm / off | {startup / python:.2f}x / {cold_startup / python:.2f}x |")
    print(f"| peak RSS, {count:,} items streamed ({how}), cache warm / off | {rss:.1f} MB / {cold_rss:.1f} MB |")
    for where, said in ((cache, "warm"), (None, "off")):
        one_job, two_jobs = jobs_time[1, where], jobs_time[2, where]
        paired = statistics.median(one / two for one, two in zip(times[1, where], times[2, where]))
        print(f"| wall, {count:,} items, --jobs 1 / --jobs 2, cache {said} (median of {args.rounds}) | {one_job:.2f} s / "
              f"{two_jobs:.2f} s ({count / two_jobs:,.0f} items/s) |")
        print(f"| --jobs 2 speed-up, cache {said}: of the medians; same-round (median) | {one_job / two_jobs:.2f}x; "
              f"{paired:.2f}x |")
    print(f"| two independent runs on half the items each, at once, against one alone (the most two processes "
          f"gain here; same-round median) | {machine:.2f}x |")
    print(f"| outputs of all the --jobs runs identical | {'yes' if len(outputs) == 1 else 'NO'} |")


if __name__ == "__main__":
    main()
