"""The `rulebook` command: options, input and output, exit codes. No decision logic lives here.

Results go to stdout, diagnostics and summaries to stderr (except for `validate`, whose
result is the diagnostics). Exit codes are `errors.ExitCode`.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import IO, Any, NoReturn

import click

from . import __version__
from .errors import (
    ExitCode,
    ItemError,
    PolicyError,
    UsageError,
    counted,
    did_you_mean,
    listed,
)

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


# -- shared options --------------------------------------------------------------------------------


def policy_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option(
        "--name",
        metavar="NAME",
        help="Which policy to use when the policy set holds several of the kind the command needs.",
    )(command)
    return click.option(
        "--policy",
        "-p",
        "policy_paths",
        multiple=True,
        metavar="PATH",
        help="Policy file or folder (repeatable). Default: the policies shipped with Rulebook.",
    )(command)


class _AsOf(click.ParamType):
    """A date (`2026-12-02`) or a date-time (`2026-12-02T09:30:00Z`; UTC without an offset)."""

    name = "date"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        from .sandbox import parse_moment

        if not isinstance(value, str):
            return value
        parsed = parse_moment(value)
        if parsed is None:
            self.fail(f"{value!r} is not a date: write it as 2026-12-02, or 2026-12-02T09:30:00Z for a moment",
                      param, ctx)
        return parsed


def as_of_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--as-of",
        "as_of",
        type=_AsOf(),
        metavar="DATE",
        help="The date days_since() counts to (YYYY-MM-DD, or a date-time). Default: today, in UTC. "
             "Records of a policy that calls days_since() name it.",
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
    Quick start (the shipped default policies and example items):
      rulebook validate
      rulebook classify examples/items.jsonl
      rulebook explain examples/item.json
      rulebook gate examples/initiatives.jsonl
      rulebook test

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
    priority, and for stage gates every stage, transition, roster group and quorum. Test
    files (kind: tests) are checked against the policies they test. All problems in all
    files are reported in one run.

    \b
    Examples:
      rulebook validate policies/
      rulebook validate demand.yaml --format json

    Exit status 0 when every policy is valid, 1 otherwise (and where a folder given holds no
    policy or test file). YAML files that are not Rulebook documents are skipped with a
    warning, so a commit hook can hand over every YAML file a commit changes.
    """
    from .render import diagnostic_record, format_diagnostics
    from .validate import check_paths

    report = check_paths(list(paths) or [_default_policies()], tests=True)
    errors = report.errors
    policies = report.policy_set.policies if report.policy_set else ()
    # a folder of files that are no Rulebook documents checks nothing: not a pass, as an empty
    # folder is not (files named one by one that are no policies are only skipped)
    nothing = not (policies or report.test_files) and any(os.path.isdir(path) for path in paths)
    failed = bool(errors) or nothing
    if fmt == "json":
        import json

        document = {
            "valid": not failed,
            "diagnostics": [diagnostic_record(d) for d in report.diagnostics],
            "policies": [
                {"name": p.name, "kind": "classification" if hasattr(p, "rules") else "gates", "version": p.version,
                 "sha256": p.sha256, "file": p.file,
                 **({"rules": len(p.rules)} if hasattr(p, "rules") else {"gates": len(p.gates)})}
                for p in policies
            ],
            "tests": [
                {"name": t.name, "file": t.file, "policy": list(t.policy_paths), "cases": len(t.cases)}
                for t in (report.test_files if not errors else ())
            ],
        }
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        if report.diagnostics:
            click.echo(format_diagnostics(report.diagnostics, report.sources))
        if not quiet or nothing:  # "nothing was checked" is the problem itself
            click.echo(_validation_summary(report, nothing))
    sys.exit(ExitCode.FAILED if failed else ExitCode.OK)


def _validation_summary(report: Any, nothing: bool = False) -> str:
    files = {d.span.file for d in report.errors if d.span}
    if report.errors:
        return f"{counted(len(report.errors), 'error')} in {counted(len(files), 'file')}"
    policy_set = report.policy_set
    policies = policy_set.policies if policy_set else ()
    tests = ""
    if report.test_files:
        cases = sum(len(test_file.cases) for test_file in report.test_files)
        tests = f"{counted(len(report.test_files), 'test file')} ({counted(cases, 'case')})"
    if not policies:
        if tests:
            return f"ok: {tests}"
        return "error: no Rulebook policy found; nothing was checked" if nothing else "no policies found"
    names = ", ".join(f"{p.name} {p.version or ''}".strip() for p in policies)
    counts = []
    if policy_set.classifications:
        counts.append(counted(sum(len(p.rules) for p in policy_set.classifications), "rule"))
    if policy_set.gate_policies:
        counts.append(counted(sum(len(p.gates) for p in policy_set.gate_policies), "gate"))
    summary = f"ok: {counted(len(policies), 'policy', 'policies')} ({names}), {', '.join(counts)}"
    return summary + (f"; {tests}" if tests else "")


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
              help="Worker processes for a large JSONL input with JSONL output (0: one per CPU; other "
                   "formats run in one process). The output is the same, in the same order.")
@click.option("--annotate", "-a", is_flag=True,
              help="Write each input item with 'outcome', 'rule' and 'because' added (JSONL or JSON), "
                   "e.g. to pipe into 'rulebook gate -'.")
@as_of_option
@click.option("--quiet", "-q", is_flag=True, help="No summary on stderr.")
def classify(items: str | None, policy_paths: tuple[str, ...], name: str | None, input_format: str | None,
             id_field: str, fmt: str | None, with_trace: bool, jobs: int, annotate: bool, as_of: Any,
             quiet: bool) -> None:
    """Classify items: one output record per input item, in input order.

    ITEMS is a file of items (JSONL, a JSON array, CSV or YAML) or - for stdin. Fields the
    policy does not declare are ignored; CSV cells are read as the declared types. An item
    that cannot be decided (bad JSON, a wrong type, a value outside an enum, an
    expression error) becomes an error record naming its line, and the rest go on.

    With --annotate the output is the input items themselves, each with 'outcome', 'rule'
    and 'because' added (error records stay as they are), so that a later command reads
    the classification as item data.

    \b
    Examples:
      rulebook classify examples/items.jsonl
      rulebook classify examples/items.csv --format csv > decisions.csv
      cat items.jsonl | rulebook classify - --policy policies/ --explain
      rulebook classify big.jsonl --jobs 2 > decisions.jsonl
      rulebook classify tickets.jsonl --as-of 2026-12-02   # the date days_since() counts to
      rulebook classify --annotate examples/initiatives.jsonl | rulebook gate -

    Exit status: 0 every item decided; 1 the policy is invalid; 2 usage error;
    3 some items were rejected. A summary goes to stderr.
    """
    import functools

    from .api import classifier_for
    from .items import format_for

    if annotate and (with_trace or fmt in ("csv", "table")):
        _usage("--annotate writes items as JSONL or JSON; it cannot be combined with --explain or --format csv/table")
    from .launch import cache_dir, remember, stamp

    paths = list(policy_paths) or [_default_policies()]
    read_from = stamp(paths) if name is None and cache_dir() else None
    policy = _load_policy(policy_paths, name, as_of=as_of)
    remember(paths, policy.classifier, read_from)  # for a quick start next time (see launch.py)
    source = _open_items(items)
    fmt = fmt or ("table" if sys.stdout.isatty() and not annotate else "jsonl")
    input_format = format_for(items, input_format)
    _check_id_field(items, input_format, id_field)
    workers = _workers(jobs, source, input_format, fmt, annotate)
    decider = policy.classifier
    if annotate:
        from .annotate import Annotator

        decider = Annotator(decider)
    make_decider = functools.partial(classifier_for, paths, name, policy.as_of)  # workers count to the same date
    _run_stream(decider, source, input_format, fmt, id_field, with_trace, quiet,
                policy.classification.outcome_names, workers, make_decider)


def _workers(jobs: int, source: IO[bytes], input_format: str, fmt: str, annotate: bool = False) -> int:
    """How many worker processes to use: one for small inputs, where starting them costs more,
    and (said on stderr) for anything but JSON lines in and out, which is all workers split."""
    if jobs == 1:
        return 1
    names = {"json": "JSON", "csv": "CSV", "yaml": "YAML", "table": "table"}
    alone = ("--annotate" if annotate else f"{names[input_format]} input" if input_format != "jsonl"
             else f"{names[fmt]} output" if fmt != "jsonl" else None)
    if alone is not None:
        click.echo(f"rulebook: --jobs splits JSON lines in and out; with {alone} the items are decided in one process",
                   err=True)
        return 1
    from .stream import workers_for

    return workers_for(jobs, source)


# -- gate -------------------------------------------------------------------------------------------


@cli.command(context_settings=CONTEXT)
@click.argument("items", required=False, metavar="[ITEMS|-]")
@policy_options
@click.option("--to", "to_stage", metavar="STAGE",
              help="Check the move to STAGE (a later stage) instead of each item's next stage.")
@input_options
@click.option("--format", "-f", "fmt", type=click.Choice(["jsonl", "json", "csv", "table"]),
              help="Output format. Default: table on a terminal, JSONL when piped.")
@click.option("--explain", "-e", "with_trace", is_flag=True,
              help="Attach the trace (the applies_to condition and every gate condition, node by node) to each record.")
@as_of_option
@click.option("--quiet", "-q", is_flag=True, help="No summary on stderr.")
def gate(items: str | None, policy_paths: tuple[str, ...], name: str | None, to_stage: str | None,
         input_format: str | None, id_field: str, fmt: str | None, with_trace: bool, as_of: Any, quiet: bool) -> None:
    """Check items at their stage gates: pass, fail or not_applicable, one record per item.

    Each item names the stage it is at in 'stage'; it is checked for the move to the next
    stage (or to the stage in its 'target' field, or to --to STAGE). Every criterion of
    every gate on the way is listed with its status (met, not_met, unknown) and the values
    or votes behind it. Items the policy's applies_to does not hold for are not_applicable.
    When the gates read 'outcome' and an item carries none, the policy set's classification
    policy classifies it first. Items that cannot be checked (no stage, a stage the policy
    does not know, malformed votes) become error records, and the rest go on.

    \b
    Examples:
      rulebook gate examples/initiatives.jsonl
      rulebook gate examples/initiatives.jsonl --to charter --format table
      rulebook classify --annotate examples/initiatives.jsonl | rulebook gate -

    Exit status: 0 every item was checked (whatever its result); 1 the policy is invalid;
    2 usage error; 3 some items were rejected. A summary goes to stderr.
    """
    from .gates import RESULTS
    from .items import format_for

    policy = _load_policy(policy_paths, name, kind="gates", as_of=as_of)
    try:
        gater = policy.gater(to_stage)
    except UsageError as error:
        _usage(str(error))
    source = _open_items(items)
    fmt = fmt or ("table" if sys.stdout.isatty() else "jsonl")
    input_format = format_for(items, input_format)
    _check_id_field(items, input_format, id_field)
    _run_stream(gater, source, input_format, fmt, id_field, with_trace, quiet, RESULTS, kind="gate")


def _run_stream(decider: Any, source: IO[bytes], input_format: str, fmt: str, id_field: str, with_trace: bool,
                quiet: bool, labels: tuple[str, ...], jobs: int = 1, make_decider: Any = None,
                kind: str = "decision") -> NoReturn:
    """Decide a stream of items, write the records, summarise on stderr and exit."""
    from .stream import run, run_parallel

    with _Progress(enabled=not quiet) as progress:
        if jobs > 1:
            tally = run_parallel(make_decider, source, sys.stdout.buffer, jobs, id_field=id_field, trace=with_trace,
                                 progress=progress, decider=decider)
        else:
            tally = run(decider, source, input_format, fmt, sys.stdout.buffer, id_field=id_field, trace=with_trace,
                        progress=progress, kind=kind)
    if not tally.delivered:
        from .launch import silence_stdout

        silence_stdout()
    if not quiet:
        click.echo(_summary(tally, labels), err=True)
    sys.exit(ExitCode.REJECTED if tally.rejected else ExitCode.OK)


def _summary(tally: Any, labels: tuple[str, ...]) -> str:
    """The summary line: items, decided, rejected, and counts per outcome in policy order."""
    from .launch import summary

    return summary(tally.items, tally.decided, tally.rejected, tally.labels, labels, tally.delivered)


# -- lint -------------------------------------------------------------------------------------------


@cli.command(context_settings=CONTEXT)
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Findings as text lines or as one JSON document.")
@click.option("--timeout", "timeout_ms", type=click.IntRange(min=1), default=4000, show_default=True, metavar="MS",
              help="Longest time the solver may spend on one question; an unanswered one makes no claim.")
@click.option("--quiet", "-q", is_flag=True, help="Print only findings, no summary.")
def lint(paths: tuple[str, ...], fmt: str, timeout_ms: int, quiet: bool) -> None:
    """Find rules that can never fire, overlaps and gaps, each with an item that shows it.

    For classification policies: rules that can never fire, because their conditions
    contradict each other or the inputs' declared types, enums and bounds (error), or
    because rules tried before them always win (shadowed, error); under hit: unique, rules
    that can match the same item (error); without a default, items no rule matches (error);
    inputs never read and outcomes never produced (warning). For gates policies: gate
    conditions no item can meet, gates that apply to no item (error), unused inputs and
    roster groups (warning). Every witness is an item that `rulebook classify` decides as
    the finding says. Conditions the solver cannot model (a regular expression, text
    functions, list indexes, fields of objects) are reported as not analysed (note).
    Needs the z3 solver: pip install 'rulebook[lint]'.

    \b
    Examples:
      rulebook lint policies/
      rulebook lint demand.yaml --format json

    Exit status 0 when there is no error finding, 1 when there is (or a policy is invalid, or a
    folder given holds no policy), 2 when the solver is not installed or a path does not exist.
    """
    from .lint import SolverMissing, lint_policy_set
    from .render import finding_record, format_findings

    policy_set = _load_policy(paths, None, kind=None).policy_set
    try:
        findings = lint_policy_set(policy_set, timeout_ms)
    except SolverMissing as error:
        _usage(str(error))
    sources = {policy.file: _read_text(policy.file) for policy in policy_set.policies}
    errors = [f for f in findings if f.severity == "error"]
    # as for validate: a folder holding no policy is a mistake, a file named that is none is skipped
    nothing = not policy_set.policies and any(os.path.isdir(path) for path in paths)
    if fmt == "json":
        import json

        document = {"errors": len(errors) + nothing, "findings": [finding_record(f) for f in findings]}
        click.echo(json.dumps(document, indent=2, ensure_ascii=False, default=str))
    else:
        if findings:
            click.echo(format_findings(findings, sources))
        if not quiet or nothing:
            click.echo(_lint_summary(findings, len(policy_set.policies), nothing))
    sys.exit(ExitCode.FAILED if errors or nothing else ExitCode.OK)


def _lint_summary(findings: list[Any], policies: int, nothing: bool = False) -> str:
    counts = {severity: sum(1 for f in findings if f.severity == severity) for severity in ("error", "warning", "info")}
    checked = counted(policies, "policy", "policies")
    if not policies:
        return "error: no Rulebook policy found; nothing was linted" if nothing else "no policies found"
    if not findings:
        return f"ok: {checked}, no findings"
    parts = [counted(counts["error"], "error"), counted(counts["warning"], "warning"), counted(counts["info"], "note")]
    return f"{', '.join(parts)} in {checked}"


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return ""


# -- explain ----------------------------------------------------------------------------------------


@cli.command(context_settings=CONTEXT)
@click.argument("item", required=False, metavar="[ITEM|-]")
@policy_options
@input_options
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text",
              show_default=True, help="Plain text, markdown (for a ticket or pull request) or JSON.")
@click.option("--gate", "-g", "gates", is_flag=True,
              help="Explain the item's stage gate result instead of its classification.")
@click.option("--to", "to_stage", metavar="STAGE", help="With --gate: explain the move to STAGE.")
@as_of_option
def explain(item: str | None, policy_paths: tuple[str, ...], name: str | None, input_format: str | None,
            id_field: str, fmt: str, gates: bool, to_stage: str | None, as_of: Any) -> None:
    """Explain why an item gets its outcome, or its gate result, in words an auditor can check.

    ITEM is a file holding one item (JSON, YAML or a one-line JSONL/CSV file) or - for
    stdin (JSON lines, one JSON object over several lines, or a JSON list); a file of several items
    explains each in turn. The explanation names the rule
    that fired with its reason and source line, each of its conditions with the values it
    read, every earlier rule that did not fire and why, the default when nothing fired,
    and the policy's name, version and content hash.

    With --gate (implied by --to, and when the policy set holds only gates) it explains
    the item's gate result: first what holds the item back and what would unblock it, then
    every gate checked with its source line and every criterion with the values and votes
    behind it.

    \b
    Examples:
      rulebook explain examples/item.json
      rulebook explain examples/item.json --format markdown
      echo '{"id": "X-1", "type": "problem"}' | rulebook explain -
      rulebook explain examples/initiative.json --gate

    Exit status: 0 explained; 1 the policy is invalid; 2 usage error; 3 the item
    could not be decided (the reason goes to stderr).
    """
    from .explain import explanation_record
    from .explain_gates import gate_explanation_record
    from .inputs import read_text_item
    from .items import format_for, read_items

    policy = _load_policy(policy_paths, name, kind=None, as_of=as_of)
    gates = gates or to_stage is not None or not policy.policy_set.classifications
    _choose(policy, "gates" if gates else "classification")
    decider: Any
    to_record: Callable[[Any], dict[str, Any]] = gate_explanation_record if gates else explanation_record
    try:
        decider = policy.gater(to_stage) if gates else policy.classifier
    except UsageError as error:
        _usage(str(error))
    stream = _open_items(item)
    items_format = format_for(item, input_format)
    if input_format is None and items_format == "jsonl" and not (item or "").lower().endswith((".jsonl", ".ndjson")):
        stream, items_format = _one_document_or_lines(stream)
    texts: list[str] = []
    records: list[Any] = []
    failed = False
    for rec in read_items(stream, items_format):
        if rec.error is not None:
            click.echo(f"rulebook: line {rec.line}: {rec.error}", err=True)
            failed = True
            continue
        value = read_text_item(rec.item, decider.inputs) if rec.text_values else rec.item
        try:
            if gates:
                decision = decider.gate(value, line=rec.line, id_field=id_field)
            else:
                decision = decider.classify(value, trace=True, line=rec.line, id_field=id_field)
        except ItemError as error:
            label = f" (id {error.item_id!r})" if error.item_id is not None else ""
            click.echo(f"rulebook: line {rec.line}{label}: {error.message}", err=True)
            failed = True
            continue
        if fmt == "json":
            records.append(to_record(decision))
        else:
            texts.append(decision.explain(fmt))
    if fmt == "json" and records:
        import json

        from .explain import _json_default
        from .jsonio import nested

        document = records[0] if len(records) == 1 else records

        def written(data: Any) -> str:
            return json.dumps(data, indent=2, ensure_ascii=False, default=_json_default)

        try:
            click.echo(written(document))
        except RecursionError:  # an item's value nested as deeply as items may be: the writer recurses
            click.echo(nested(written, document, frames=4))
    elif texts:
        separator = "\n---\n\n" if fmt == "markdown" else "\n" + "-" * 72 + "\n\n"
        click.echo(separator.join(texts), nl=False)
    if not texts and not records and not failed:
        _usage("the input holds no item to explain")
    sys.exit(ExitCode.REJECTED if failed else ExitCode.OK)


# -- diff -------------------------------------------------------------------------------------------


@cli.command(context_settings=CONTEXT)
@click.argument("paths", nargs=-1, metavar="OLD NEW")
@click.option("--base", "-b", metavar="GITREF",
              help="Compare PATH in the working tree (default: the folder policies) with the same path at the git "
                   "revision GITREF (a branch, tag or commit), read through git.")
@click.option("--items", "items", required=True, metavar="ITEMS|-",
              help="The items both policies decide: a file (JSONL, a JSON array, CSV or YAML) or - for stdin.")
@click.option("--name", metavar="NAME",
              help="Which classification policy to compare when a policy set holds several.")
@input_options
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "markdown", "json"]),
              help="Report format: text tables, markdown for a pull request, or JSON. "
                   "Default: table on a terminal, JSON when piped.")
@click.option("--fail-on-change", is_flag=True, help="Exit 1 when any item changes outcome (an error counts as one).")
@click.option("--examples", "-n", type=click.IntRange(min=0), default=3, show_default=True, metavar="N",
              help="How many example items to name per row of the report (0: none).")
@as_of_option
def diff(paths: tuple[str, ...], base: str | None, items: str, name: str | None, input_format: str | None,
         id_field: str, fmt: str | None, fail_on_change: bool, examples: int, as_of: Any) -> None:
    """Show what a policy change does to real items, before it merges.

    \b
    rulebook diff OLD NEW --items ITEMS
    rulebook diff --base GITREF [PATH] --items ITEMS

    OLD and NEW are policy files or folders. With --base, NEW is PATH as it is in the
    working tree (default: the folder policies) and OLD is the same path at the git
    revision GITREF; git reads it without touching the working tree.

    Every item is classified by both policies. The report says how many items change
    outcome, a from -> to table with counts, shares and example ids, how many items each
    outcome gets before and after, the rules whose firing counts changed (and rules added
    or removed), and the items that became errors or stopped being errors. An item that
    cannot be decided under one policy only is a change.

    \b
    Examples:
      rulebook diff policies/ examples/demand-intake-next.yaml --items examples/items.jsonl
      rulebook diff --base main --items examples/items.jsonl --format markdown > diff.md
      rulebook diff --base origin/main policies/ --items last-quarter.csv --fail-on-change

    Exit status: 0 compared (with --fail-on-change: and nothing changed); 1 a policy is
    invalid, or with --fail-on-change some item changes outcome; 2 usage error (also for
    --base outside a git repository, an unknown revision, or a path the revision lacks).
    """
    import contextlib

    from .compare import diff_records
    from .items import format_for, read_items
    from .revision import policy_at

    if base is None and len(paths) != 2:
        _usage("name the OLD and NEW policies, or compare with a git revision: --base GITREF [PATH]")
    if base is not None and len(paths) > 1:
        _usage("with --base, name one PATH: its working-tree copy is the new policy, git gives the old one")
    with contextlib.ExitStack() as stack:
        if base is None:
            old_path, new_path = paths
            names, old_label = None, old_path
        else:
            new_path = paths[0] if paths else "policies"
            if not paths and not os.path.isdir(new_path):
                _usage("there is no folder 'policies' here: name the policy PATH to compare with --base GITREF")
            try:
                checkout = stack.enter_context(policy_at(base, new_path))
            except UsageError as error:
                _usage(str(error))
            old_path, names, old_label = checkout.path, checkout.names, checkout.label
        if as_of is None:  # both policies count to one date
            from .sandbox import today

            as_of = today()
        old_side, new_side = f"the old policy ({old_label})", f"the new policy ({new_path})"
        old = _checked_policy([old_path], name, old_side, "nothing was compared", names, as_of, one_of_two=True)
        new = _checked_policy([new_path], name, new_side, "nothing was compared", as_of=as_of, one_of_two=True)
        if old is None or new is None:
            sys.exit(ExitCode.FAILED)
        _choose(old, "classification", old_side)
        _choose(new, "classification", new_side)
    source = _open_items(items)
    _check_id_field(items, format_for(items, input_format), id_field)
    with _Progress() as progress:
        result = diff_records(old, new, read_items(source, format_for(items, input_format)), id_field=id_field,
                              examples=examples, progress=lambda count: progress.tick(count, force=True))
    click.echo(_diff_report(result, fmt or ("table" if sys.stdout.isatty() else "json"), examples > 0), nl=False)
    sys.exit(ExitCode.FAILED if fail_on_change and result.changed else ExitCode.OK)


def _diff_report(result: Any, fmt: str, examples: bool) -> str:
    from .render_diff import diff_markdown, diff_record, diff_text

    if fmt == "json":
        from .jsonio import encode_indented

        return encode_indented(diff_record(result)).decode("utf-8") + "\n"
    return (diff_markdown if fmt == "markdown" else diff_text)(result, examples)


# -- test -------------------------------------------------------------------------------------------


@cli.command(name="test", context_settings=CONTEXT)
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@click.option("--min-coverage", type=click.FloatRange(0, 100), metavar="PCT",
              help="Fail when the cases exercise less than PCT percent of the tested rules, defaults and "
                   "gate criteria.")
@click.option("--junit", "junit_path", metavar="FILE",
              help="Also write the results as JUnit XML to FILE, for CI systems.")
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="The report as text, or as one JSON document.")
@click.option("--quiet", "-q", is_flag=True, help="Leave out the cases that passed.")
def test_command(paths: tuple[str, ...], min_coverage: float | None, junit_path: str | None, fmt: str,
                 quiet: bool) -> None:
    """Run policy tests: agreed cases that say what the policies must decide.

    PATH is a test file or a folder, searched for YAML documents of 'kind: tests'; without
    one, the tests shipped with the default policies run. Each test file names the policy
    set it tests; each case gives an item and the expected outcome and rule, gate result
    and unmet criteria, or error. A line per case, then every failure with its FILE:LINE,
    expected and actual values and the explanation of the actual decision; then the rules,
    defaults and gate criteria no case exercised (coverage); last, 'N passed, N failed'.

    \b
    Examples:
      rulebook test
      rulebook test policies/tests/ --min-coverage 100
      rulebook test tests/policy/ --junit policy-tests.xml
      rulebook test intake-cases.yaml --format json

    Exit status: 0 every case passed; 1 a case failed, coverage is below --min-coverage,
    or a test file or policy is invalid (its problems go to stderr); 2 usage error.
    """
    import json

    from .render import format_diagnostics
    from .render_tests import json_report, junit_xml, text_report
    from .testrun import collect, run_files

    try:
        report = collect(list(paths) or [_default_policies()])
    except UsageError as error:
        _usage(str(error))
    if report.diagnostics:
        click.echo(format_diagnostics(report.diagnostics, report.sources), err=True)
    if report.errors:
        files = {d.span.file for d in report.errors if d.span}
        click.echo(f"rulebook: {counted(len(report.errors), 'error')} in {counted(len(files), 'file')}; "
                   "no case was run", err=True)
        sys.exit(ExitCode.FAILED)
    run = run_files(report)
    if junit_path is not None:
        try:
            with open(junit_path, "wb") as handle:
                handle.write(junit_xml(run))
        except OSError as error:
            _usage(f"cannot write '{junit_path}': {error.strerror or error}")
    if fmt == "json":
        click.echo(json.dumps(json_report(run, min_coverage), indent=2, ensure_ascii=False))
    else:
        click.echo(text_report(run, quiet=quiet, min_coverage=min_coverage), nl=False)
    below = min_coverage is not None and run.coverage.percent < min_coverage
    sys.exit(ExitCode.OK if run.ok and not below else ExitCode.FAILED)


# -- import -----------------------------------------------------------------------------------------


@cli.command(name="import", context_settings=CONTEXT)
@click.argument("rule_list", metavar="FILE")
@click.option("--items", "items_path", metavar="ITEMS",
              help="Sample items (JSONL, JSON, CSV or YAML, by extension) whose values give the inputs' types.")
@click.option("--sample", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Read at most this many sample items.")
@click.option("--output", "-o", "output", metavar="PATH", help="Write the policy to PATH instead of stdout.")
def import_command(rule_list: str, items_path: str | None, sample: int, output: str | None) -> None:
    """Translate a plain rule list from another engine into a Rulebook policy.

    FILE is YAML with 'rules:', each rule with an id, an outcome (or 'then') and a 'when'
    expression (or 'condition', 'if'), tried in order ('strategy: first_match'; also
    priority, unique, collect), and optionally a 'default' outcome (a name, or {outcome:
    ...}). The rules are kept as they are, but for Python's idioms put in Rulebook's words,
    so that the policy decides as Python reads the rules (s.lower() as lower(s),
    s.startswith('x') as matches(s, '^x'), x is None as not has(x), d.get('k', 0) as d.k if
    has(d.k) else 0, a number standing alone as count != 0, a field some sample lacks
    compared as None is: owner != 'ops' as not has(owner) or owner != 'ops'; the README
    lists them all); every name their expressions read
    becomes a declared input, typed by the values the sample items hold for it (without
    samples, by the constants the rules compare it with). The translation is checked as any
    policy is before it is written. Read it before use: enums, bounds and defaults are yours
    to add.

    \b
    Examples:
      rulebook import reference.yaml --items items.jsonl > policies/triage.yaml
      rulebook import rules.yaml -o triage.yaml && rulebook validate triage.yaml

    Exit status: 0 written; 1 the rule list cannot be translated (its problems go to
    stderr with FILE:LINE:COLUMN); 2 usage error.
    """
    from .importer import translate
    from .items import format_for, read_items
    from .render import format_diagnostics

    if not os.path.isfile(rule_list):
        _usage(f"cannot read the rule list '{rule_list}': no such file")
    text = _read_text(rule_list)
    samples: list[Any] = []
    text_values = False
    if items_path is not None:
        with _open_items(items_path) as stream:
            for record in read_items(stream, format_for(items_path)):
                if record.error is None:
                    samples.append(record.item)
                    text_values = text_values or record.text_values
                if len(samples) >= sample:
                    break
    try:
        translation = translate(text, rule_list, samples, text_values=text_values)
    except PolicyError as error:
        click.echo(format_diagnostics(error.diagnostics, {rule_list: text}), err=True)
        click.echo(f"rulebook: {counted(len(error.diagnostics), 'problem')}; nothing was written", err=True)
        sys.exit(ExitCode.FAILED)
    if output is None:
        click.echo(translation.text, nl=False)
        return
    try:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(translation.text)
    except OSError as error:
        _usage(f"cannot write '{output}': {error.strerror or error}")
    click.echo(f"rulebook: wrote {output}: {counted(len(translation.inputs), 'input')}, "
               f"typed from {counted(translation.samples, 'sample item')}", err=True)
    if translation.unseen:
        click.echo(f"rulebook: no sample item holds {', '.join(map(repr, translation.unseen))}: typed from the "
                   "rules alone; check the name", err=True)
    for spec in translation.mixed:
        click.echo(f"rulebook: the sample items hold {listed(spec.seen, quoted=False)} values for '{spec.name}': "
                   f"declared {spec.type}, as the rules compare it; items holding another are rejected", err=True)
    for name in translation.null_defaults:
        click.echo(f"rulebook: some sample items hold null for '{name}', which Python's get() gives as None; "
                   "Rulebook counts null as missing, so the translation reads the value given for missing",
                   err=True)
    for name in translation.null_members:
        click.echo(f"rulebook: some sample items hold null for '{name}', which Python's '{name}' in item counts as "
                   f"there; Rulebook counts null as missing, so the translation's has({name}) is false there",
                   err=True)


# -- helpers ----------------------------------------------------------------------------------------


def _default_policies() -> str:
    from .resources import default_policy_path

    return default_policy_path()


def _load_policy(policy_paths: tuple[str, ...], name: str | None, kind: str | None = "classification",
                 as_of: Any = None) -> Any:
    """The policy to decide with; on problems, print them and exit 1 (or 2 for usage).

    `kind` is the kind of policy the command needs ("classification" or "gates"); choosing
    it may fail with a usage error (none, or several and no --name). `as_of`: the date
    days_since() counts to (None: today)."""
    done = {"gates": "checked at its gates", "classification": "classified"}.get(kind or "", "analysed")
    policy = _checked_policy(list(policy_paths) or [_default_policies()], name, "the policy", f"nothing was {done}",
                             as_of=as_of)
    if policy is None:
        sys.exit(ExitCode.FAILED)
    if kind is not None:
        _choose(policy, kind)
    return policy


def _checked_policy(paths: list[str], name: str | None, which: str, done: str,
                    names: dict[str, str] | None = None, as_of: Any = None, one_of_two: bool = False) -> Any:
    """The checked policy set at `paths`, deciding as of `as_of`; None after printing its
    problems to stderr and a line saying that `which` policy is invalid and what therefore
    was `done`. A usage error names `which` policy where there are two (`diff`)."""
    from .api import Policy
    from .render import format_diagnostics
    from .validate import check_paths

    # a path that is not there is a mistake in the command, as a missing items file is
    absent = next((path for path in paths if not os.path.exists(path)), None)
    if absent is not None:
        _usage(f"no such policy file or folder '{absent}'")
    report = check_paths(paths, names)
    if report.errors or report.policy_set is None:
        click.echo(format_diagnostics(report.errors, report.sources), err=True)
        click.echo(f"rulebook: {which} is invalid ({counted(len(report.errors), 'error')}); {done}", err=True)
        return None
    passed_over = [warning for warning in report.warnings
                   if warning.span is None or warning.span.file not in report.policy_set.rule_lists]
    if not report.policy_set.policies and passed_over:
        # nothing to decide with: say why each file was passed over (the usage error that
        # follows names the rule lists written for another engine, with the command for them)
        click.echo(format_diagnostics(passed_over, report.sources), err=True)
    try:
        return Policy(report.policy_set, name, as_of)
    except UsageError as error:  # --name names no policy in the set
        _usage(f"{which}: {error}" if one_of_two else str(error))


def _choose(policy: Any, kind: str, which: str | None = None) -> None:
    """Make sure the policy set has the one policy of `kind` the command needs; else exit 2,
    saying `which` policy it is where there are two."""
    try:
        policy.gates if kind == "gates" else policy.classification  # noqa: B018
    except UsageError as error:
        _usage(f"{which}: {error}" if which else str(error))


def _one_document_or_lines(stream: IO[bytes]) -> tuple[IO[bytes], str]:
    """The items to explain from stdin or a file whose name does not say its format: JSON
    lines, unless the first line is no JSON by itself and the text starts as JSON does (an
    item pretty-printed over several lines, as `curl` or `jq` give it), or the text is one
    JSON list of items (as an export or `jq -c` gives it, on one line or several)."""
    import io

    from .jsonio import DecodeError, decode

    data = stream.read()
    first = next((line for line in data.splitlines() if line.strip()), b"")
    document = "json" if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"[") else "jsonl"
    try:
        value = decode(first)
    except DecodeError:
        return io.BytesIO(data), document
    return io.BytesIO(data), "json" if isinstance(value, list) else "jsonl"


def _open_items(path: str | None) -> IO[bytes]:
    """The items' bytes, as UTF-8 (see items.as_utf8)."""
    from .items import as_utf8

    if path is None and sys.stdin.isatty():
        _usage("no items given: name a file, or pipe items on stdin and use -")
    if path is None or path == "-":
        return as_utf8(sys.stdin.buffer)
    try:
        return as_utf8(open(path, "rb"))  # noqa: SIM115 - closed at exit
    except OSError as error:
        _usage(f"cannot read items from '{path}': {error.strerror or error}")


def _check_id_field(path: str | None, input_format: str, id_field: str) -> None:
    """Say so where the first item of a file does not carry the id field (ids are then null: a
    misspelt --id-field, or an export whose ids are under another name). Only JSON lines, JSON
    and CSV, whose first item costs little more than itself to read (YAML is parsed whole); only
    a regular file, which can be read twice (what is read from a pipe, `<(...)`, would be gone)."""
    import stat

    from .items import as_utf8, read_items

    if path in (None, "-") or input_format not in ("jsonl", "json", "csv"):
        return
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return
        with open(path, "rb") as stream:
            first = next(read_items(as_utf8(stream), input_format), None)
    except OSError:
        return  # reading the items themselves says what is wrong
    item = first.item if first is not None and first.error is None else None
    if isinstance(item, dict) and id_field not in item:
        hint = did_you_mean(id_field, item)
        if id_field == "id":  # the default: the ids may be under another name
            hint = f"{hint} (name it with --id-field)" if hint else "name the field that identifies items with --id-field"
        option = "" if id_field == "id" else " (--id-field)"
        click.echo(f"rulebook: the first item has no field '{id_field}'{option}, so its id is null"
                   + (f"; {hint}" if hint else ""), err=True)


def _usage(message: str) -> NoReturn:
    click.echo(f"rulebook: {message}", err=True)
    click.echo("Try 'rulebook --help' for help.", err=True)
    sys.exit(ExitCode.USAGE)


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
