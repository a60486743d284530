"""The `rulebook` command: options, input and output, exit codes. No decision logic lives here.

Results go to stdout, diagnostics and summaries to stderr (except for `validate`, whose
result is the diagnostics). Exit codes are `errors.ExitCode`.
"""

from __future__ import annotations

import io
import os
import sys
import time
from collections.abc import Callable
from typing import IO, Any, NoReturn

import click

from . import __version__
from .errors import ExitCode, ItemError, PolicyError, UsageError, counted

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


# -- shared options --------------------------------------------------------------------------------


def policy_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option(
        "--name",
        metavar="NAME",
        help="Which classification policy to use when the policy set holds several.",
    )(command)
    return click.option(
        "--policy",
        "-p",
        "policy_paths",
        multiple=True,
        metavar="PATH",
        help="Policy file or folder (repeatable). Default: the policies shipped with Rulebook.",
    )(command)


def input_options(command: Callable[..., Any]) -> Callable[..., Any]:
    from .items import FORMATS

    command = click.option(
        "--id-field",
        default="id",
        show_default=True,
        metavar="FIELD",
        help="The item field that identifies it in the output.",
    )(command)
    return click.option(
        "--input-format",
        "-i",
        type=click.Choice(FORMATS),
        help="Format of the items. Default: from the file extension (.jsonl, .json, .csv, .yaml), else JSONL.",
    )(command)


# -- the group --------------------------------------------------------------------------------------


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "--version", prog_name="rulebook")
def cli() -> None:
    """Rulebook: decision rules for IT governance, written as YAML policies.

    Policies are checked before any item is seen; every decision names the rule that
    made it, and can be explained to an auditor.

    \b
    Quick start (the shipped default policy and example items):
      rulebook validate
      rulebook classify examples/items.jsonl
      rulebook explain examples/item.json

    \b
    Exit status: 0 success; 1 a policy is invalid or a check failed;
    2 usage error; 3 some items were rejected.
    """


# -- validate ---------------------------------------------------------------------------------------


@cli.command(context_settings=CONTEXT)
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Diagnostics as text lines or as one JSON document.")
@click.option("--quiet", "-q", is_flag=True, help="Print only problems, no summary.")
def validate(paths: tuple[str, ...], fmt: str, quiet: bool) -> None:
    """Check policy files and report every problem with FILE:LINE:COLUMN.

    PATH is a policy file or a folder (searched for .yaml/.yml files); without one, the
    policies shipped with Rulebook are checked. The structure is checked against
    schemas/policy.schema.json, then every expression, name, outcome, rule id and
    priority. All problems in all files are reported in one run.

    \b
    Examples:
      rulebook validate policies/
      rulebook validate demand.yaml --format json

    Exit status 0 when every policy is valid, 1 otherwise.
    """
    from .render import diagnostic_record, format_diagnostics
    from .validate import check_paths

    report = check_paths(list(paths) or [_default_policies()])
    errors = report.errors
    if fmt == "json":
        import json

        policies = report.policy_set.classifications if report.policy_set else ()
        document = {
            "valid": not errors,
            "diagnostics": [diagnostic_record(d) for d in report.diagnostics],
            "policies": [
                {"name": p.name, "kind": "classification", "version": p.version, "sha256": p.sha256,
                 "file": p.file, "rules": len(p.rules)}
                for p in policies
            ],
        }
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        if report.diagnostics:
            click.echo(format_diagnostics(report.diagnostics, report.sources))
        if not quiet:
            click.echo(_validation_summary(report))
    sys.exit(ExitCode.FAILED if errors else ExitCode.OK)


def _validation_summary(report: Any) -> str:
    files = {d.span.file for d in report.errors if d.span}
    if report.errors:
        return f"{counted(len(report.errors), 'error')} in {counted(len(files), 'file')}"
    policies = report.policy_set.classifications if report.policy_set else ()
    if not policies:
        return "no policies found"
    rules = sum(len(p.rules) for p in policies)
    names = ", ".join(f"{p.name} {p.version or ''}".strip() for p in policies)
    return f"ok: {counted(len(policies), 'policy', 'policies')} ({names}), {counted(rules, 'rule')}"


# -- classify ---------------------------------------------------------------------------------------


@cli.command(context_settings=CONTEXT)
@click.argument("items", required=False, metavar="[ITEMS|-]")
@policy_options
@input_options
@click.option("--format", "-f", "fmt", type=click.Choice(["jsonl", "json", "csv", "table"]),
              help="Output format. Default: table on a terminal, JSONL when piped.")
@click.option("--explain", "-e", "with_trace", is_flag=True,
              help="Attach the trace (every rule considered, each condition with its values) to each record.")
@click.option("--jobs", "-j", type=click.IntRange(min=0), default=1, show_default=True,
              help="Worker processes for a large JSONL input with JSONL output (0: one per CPU). "
                   "The output is the same, in the same order.")
@click.option("--quiet", "-q", is_flag=True, help="No summary on stderr.")
def classify(items: str | None, policy_paths: tuple[str, ...], name: str | None, input_format: str | None,
             id_field: str, fmt: str | None, with_trace: bool, jobs: int, quiet: bool) -> None:
    """Classify items: one output record per input item, in input order.

    ITEMS is a file of items (JSONL, a JSON array, CSV or YAML) or - for stdin. Fields the
    policy does not declare are ignored; CSV cells are read as the declared types. An item
    that cannot be decided (bad JSON, a wrong type, a value outside an enum, an
    expression error) becomes an error record naming its line, and the rest go on.

    \b
    Examples:
      rulebook classify examples/items.jsonl
      rulebook classify examples/items.csv --format csv > decisions.csv
      cat items.jsonl | rulebook classify - --policy policies/ --explain
      rulebook classify big.jsonl --jobs 2 > decisions.jsonl

    Exit status: 0 every item decided; 1 the policy is invalid; 2 usage error;
    3 some items were rejected. A summary goes to stderr.
    """
    import functools

    from .api import classifier_for
    from .items import format_for

    policy = _load_policy(policy_paths, name)
    source = _open_items(items)
    fmt = fmt or ("table" if sys.stdout.isatty() else "jsonl")
    input_format = format_for(items, input_format)
    workers = _workers(jobs, source, input_format, fmt)
    paths = list(policy_paths) or [_default_policies()]
    _run_stream(policy.classifier, source, input_format, fmt, id_field, with_trace, quiet,
                policy.classification.outcome_names, workers, functools.partial(classifier_for, paths, name))


def _workers(jobs: int, source: IO[bytes], input_format: str, fmt: str) -> int:
    """How many worker processes to use: one for small inputs, where starting them costs more."""
    if jobs == 1:
        return 1
    if input_format != "jsonl" or fmt != "jsonl":
        _usage("--jobs needs JSONL input and JSONL output")
    jobs = jobs or os.cpu_count() or 1
    try:
        if os.fstat(source.fileno()).st_size < 4 * (1 << 20):
            return 1
    except (OSError, ValueError, io.UnsupportedOperation):
        pass  # a pipe: its length is unknown
    return jobs


def _run_stream(decider: Any, source: IO[bytes], input_format: str, fmt: str, id_field: str, with_trace: bool,
                quiet: bool, labels: tuple[str, ...], jobs: int = 1, make_decider: Any = None) -> NoReturn:
    """Decide a stream of items, write the records, summarise on stderr and exit."""
    from .stream import run, run_parallel

    with _Progress(enabled=not quiet) as progress:
        if jobs > 1:
            tally = run_parallel(make_decider, source, sys.stdout.buffer, jobs, id_field=id_field, trace=with_trace,
                                 progress=progress)
        else:
            tally = run(decider, source, input_format, fmt, sys.stdout.buffer, id_field=id_field, trace=with_trace,
                        progress=progress)
    if not tally.delivered:
        _silence_stdout()
    if not quiet:
        click.echo(_summary(tally, labels), err=True)
    sys.exit(ExitCode.REJECTED if tally.rejected else ExitCode.OK)


def _summary(tally: Any, labels: tuple[str, ...]) -> str:
    """The summary line: items, decided, rejected, and counts per outcome in policy order."""
    text = f"rulebook: {counted(tally.items, 'item')}: {tally.decided} decided, {tally.rejected} rejected"
    parts = [f"{label} {tally.labels[label]}" for label in labels if tally.labels[label]]
    parts += [f"{label} {count}" for label, count in sorted(tally.labels.items()) if label not in labels]
    text += f" ({', '.join(parts)})" if parts else ""
    return text + ("" if tally.delivered else " before the output was closed")


# -- explain ----------------------------------------------------------------------------------------


@cli.command(context_settings=CONTEXT)
@click.argument("item", required=False, metavar="[ITEM|-]")
@policy_options
@input_options
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text",
              show_default=True, help="Plain text, markdown (for a ticket or pull request) or JSON.")
def explain(item: str | None, policy_paths: tuple[str, ...], name: str | None, input_format: str | None,
            id_field: str, fmt: str) -> None:
    """Explain why an item gets its outcome, in words an auditor can check.

    ITEM is a file holding one item (JSON, YAML or a one-line JSONL/CSV file) or - for
    stdin; a file of several items explains each in turn. The explanation names the rule
    that fired with its reason and source line, each of its conditions with the values it
    read, every earlier rule that did not fire and why, the default when nothing fired,
    and the policy's name, version and content hash.

    \b
    Examples:
      rulebook explain examples/item.json
      rulebook explain examples/item.json --format markdown
      echo '{"id": "X-1", "type": "problem"}' | rulebook explain -

    Exit status: 0 explained; 1 the policy is invalid; 2 usage error; 3 the item
    could not be decided (the reason goes to stderr).
    """
    from .explain import explanation_record
    from .inputs import read_text_item
    from .items import format_for, read_items

    policy = _load_policy(policy_paths, name)
    stream = _open_items(item)
    classifier = policy.classifier
    texts: list[str] = []
    records: list[Any] = []
    failed = False
    for rec in read_items(stream, format_for(item, input_format)):
        if rec.error is not None:
            click.echo(f"rulebook: line {rec.line}: {rec.error}", err=True)
            failed = True
            continue
        value = read_text_item(rec.item, policy.classification.inputs) if rec.text_values else rec.item
        try:
            decision = classifier.classify(value, trace=True, line=rec.line, id_field=id_field)
        except ItemError as error:
            label = f" (id {error.item_id!r})" if error.item_id is not None else ""
            click.echo(f"rulebook: line {rec.line}{label}: {error.message}", err=True)
            failed = True
            continue
        if fmt == "json":
            records.append(explanation_record(decision))
        else:
            texts.append(decision.explain(fmt))
    if fmt == "json" and records:
        import json

        from .explain import _json_default

        document = records[0] if len(records) == 1 else records
        click.echo(json.dumps(document, indent=2, ensure_ascii=False, default=_json_default))
    elif texts:
        separator = "\n---\n\n" if fmt == "markdown" else "\n" + "-" * 72 + "\n\n"
        click.echo(separator.join(texts), nl=False)
    if not texts and not records and not failed:
        _usage("the input holds no item to explain")
    sys.exit(ExitCode.REJECTED if failed else ExitCode.OK)


# -- helpers ----------------------------------------------------------------------------------------


def _default_policies() -> str:
    from .resources import default_policy_path

    return default_policy_path()


def _load_policy(policy_paths: tuple[str, ...], name: str | None) -> Any:
    """The policy to decide with; on problems, print them and exit 1 (or 2 for usage)."""
    from .api import Policy
    from .render import format_diagnostics
    from .validate import check_paths

    report = check_paths(list(policy_paths) or [_default_policies()])
    if report.errors or report.policy_set is None:
        click.echo(format_diagnostics(report.errors, report.sources), err=True)
        click.echo(f"rulebook: the policy is invalid ({counted(len(report.errors), 'error')}); nothing was classified",
                   err=True)
        sys.exit(ExitCode.FAILED)
    policy = Policy(report.policy_set, name)
    try:
        policy.classification  # noqa: B018 - choosing the policy may fail with a usage error
    except UsageError as error:
        _usage(str(error))
    return policy


def _open_items(path: str | None) -> IO[bytes]:
    if path is None:
        if sys.stdin.isatty():
            _usage("no items given: name a file, or pipe items on stdin and use -")
        return sys.stdin.buffer
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")  # noqa: SIM115 - closed at exit
    except OSError as error:
        _usage(f"cannot read items from '{path}': {error.strerror or error}")


def _usage(message: str) -> NoReturn:
    click.echo(f"rulebook: {message}", err=True)
    click.echo("Try 'rulebook --help' for help.", err=True)
    sys.exit(ExitCode.USAGE)


def _silence_stdout() -> None:
    """After the reader went away, send what Python still flushes at exit to /dev/null."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (in-process runners)
        pass


class _Progress:
    """A count of items on stderr for long runs at a terminal; silent when stderr is not one."""

    def __init__(self, enabled: bool = True, after: float = 2.0):
        self.enabled = enabled and sys.stderr.isatty()
        self.start = time.monotonic()
        self.after = after
        self.shown = False
        self.next = self.start + after

    def __enter__(self) -> _Progress:
        return self

    def tick(self, count: int, force: bool = False) -> None:
        if not self.enabled or (count & 1023 and not force):
            return
        now = time.monotonic()
        if now >= self.next:
            sys.stderr.write(f"\rrulebook: {count:,} items ...")
            sys.stderr.flush()
            self.shown = True
            self.next = now + 0.5

    def __exit__(self, *exc: Any) -> None:
        if self.shown:
            sys.stderr.write("\r" + " " * 40 + "\r")
            sys.stderr.flush()


def main() -> None:
    """Entry point of the `rulebook` command."""
    try:
        cli(standalone_mode=True)
    except PolicyError as error:  # pragma: no cover - commands report policy errors themselves
        click.echo(f"rulebook: {error}", err=True)
        sys.exit(ExitCode.FAILED)
