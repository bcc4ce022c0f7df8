"""``mlstudio module …``: the module registry from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from mlstudio.cli import context
from mlstudio.cli.output import JsonFlag, console, emit, plural, progress_status, table
from mlstudio.cli.tables import Col, WideFlag

app = typer.Typer(
    help="Scaffold, push, test, tag, promote and roll back modules.",
    add_completion=False,
    no_args_is_help=True,
)


@app.command("new")
def new(
    name: Annotated[str, typer.Argument(help="NS/NAME, e.g. churn/features")],
    directory: Annotated[
        Path | None, typer.Argument(help="Folder to create (default: NAME)")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Scaffold a module: module.toml, tasks.py with an example @task, and a passing test."""
    from mlstudio.core.ids import ModuleName, os_user
    from mlstudio.modules.scaffold import scaffold_module

    parsed = ModuleName.parse(name)
    target = directory or Path(parsed.name)
    written = scaffold_module(parsed, target, owner=os_user())
    data = {"module": parsed.full, "directory": str(target), "files": [str(p) for p in written]}
    emit(
        data,
        json_output,
        lambda d: console().print(
            f"[green]✓[/] created {d['module']} in {d['directory']}/\n"
            f"  next: mlstudio module push {d['directory']}"
        ),
    )


def _tests_note(tests: dict[str, Any]) -> str:
    # "skipped" is True for a push with --no-tests, and the count of skipped tests otherwise
    if tests.get("skipped") is True:
        return "tests skipped (--no-tests; this version cannot be promoted)"
    if not tests.get("ok"):
        return f"tests failed ({tests.get('failed', 0) + tests.get('errors', 0)} failing)"
    if tests.get("collected", 0) == 0:
        return "no tests (nothing was collected; add some under tests/)"
    note = f"{plural(tests['passed'], 'test')} passed"
    if tests.get("skipped"):
        note += f", {tests['skipped']} skipped"
    return f"{note} in {tests.get('duration_s', 0):.2f}s"


def _print_push(d: dict[str, Any]) -> None:
    c = console()
    if d["unchanged"]:
        c.print(
            f"[yellow]=[/] {d['module']} is unchanged: same content as {d['ref']} (no new version)"
        )
        if d.get("repaired"):
            c.print(f"  [green]✓[/] repaired the stored archive of {d['ref']}")
        if d.get("tests_rerun"):
            c.print(
                f"  [green]✓[/] ran its tests: {_tests_note(d['tests'])}; it can be promoted now"
            )
            c.print(f"  promote it: mlstudio module promote {d['module']} {d['version']}")
        elif d["tests"].get("skipped") is True:
            c.print("  its tests were skipped; push without --no-tests to run them")
        return
    c.print(
        f"[green]✓[/] pushed [bold]{d['ref']}[/] ({d['digest'][:12]}), {_tests_note(d['tests'])}; "
        f"latestAlpha → {d['version']}"
    )
    if d.get("changes"):
        from mlstudio.modules.changes import describe_module_changes

        lines = describe_module_changes(d["changes"])
        for line in lines:
            c.print(f"  [yellow]![/] {escape(line)}")
        if not lines:
            c.print(f"  same description, tasks and files as {d['changes']['previous']}")
    if d["tests"].get("skipped") is True:
        c.print("  to make it promotable, push the same folder again without --no-tests")
    else:
        c.print(f"  promote it: mlstudio module promote {d['module']} {d['version']}")


@app.command("push")
def push(
    directory: Annotated[Path, typer.Argument(help="The module folder (with module.toml)")],
    message: Annotated[str, typer.Option("--message", "-m", help="What changed")] = "",
    no_tests: Annotated[
        bool, typer.Option("--no-tests", help="Publish without running tests (cannot be promoted)")
    ] = False,
    json_output: JsonFlag = False,
) -> None:
    """Validate, build, test and publish a new immutable version; moves latestAlpha."""
    from mlstudio.errors import ModuleTestsFailedError

    modules = context.studio().modules
    with progress_status(json_output, "pushing") as update:
        try:
            data = modules.push(directory, message=message, run_tests=not no_tests, progress=update)
        except ModuleTestsFailedError as exc:
            if not json_output and exc.details:
                console(stderr=True).print(
                    exc.details.get("output", ""), markup=False, highlight=False
                )
            raise
    emit(data, json_output, _print_push)


@app.command("test")
def test(
    directory: Annotated[Path, typer.Argument(help="The module folder")],
    json_output: JsonFlag = False,
) -> None:
    """Run a module's own tests in isolation, exactly as a push would, without publishing."""
    import sys

    from mlstudio.errors import ModuleTestsFailedError
    from mlstudio.modules.archive import build_module
    from mlstudio.modules.introspect import package_root
    from mlstudio.modules.manifest import load_manifest
    from mlstudio.modules.testrunner import run_module_tests

    p = context.local_platform()  # tests run here, also in remote mode
    manifest = load_manifest(directory)
    with progress_status(json_output, "running tests") as update:
        env = None
        if manifest.requirements:
            update("preparing the environment")
            env = p.envs.ensure(manifest.requirements)
        build = build_module(directory.resolve(), manifest.exclude)
        update("running tests")
        report = run_module_tests(
            build,
            manifest.tests,
            env.python if env else sys.executable,
            package_root(),
            p.settings.test_timeout_s,
        )
    data = {"module": manifest.name.full, "digest": build.digest, "tests": report.to_dict()}
    if not report.ok:
        if not json_output:
            console(stderr=True).print(report.output_tail, markup=False, highlight=False)
        raise ModuleTestsFailedError(
            f"{manifest.name.full}: {plural(report.failed + report.errors, 'test')} failed",
            hint="fix them and run again",
            details=data,
        )
    emit(
        data,
        json_output,
        lambda d: console().print(f"[green]✓[/] {d['module']}: {_tests_note(d['tests'])}"),
    )


def _print_move(d: dict[str, Any]) -> None:
    if not d["moved"]:
        console().print(f"= {d['module']}:{d['tag']} already points at {d['to']}")
    else:
        console().print(f"[green]✓[/] {d['module']}:{d['tag']} {d['from'] or '∅'} → {d['to']}")
    gate = d.get("gate")
    if gate and gate.get("overridden_by"):
        console().print(
            f"  evaluation gate overridden by {gate['overridden_by']}: {gate['reason']}"
        )
    elif gate and gate.get("evaluation"):
        low, high = gate["improvement_ci"]
        console().print(
            f"  evaluation gate passed ({gate['evaluation']}: {gate['verdict']}, improvement "
            f"CI [{low:.4g}, {high:.4g}])",
            markup=False,
        )
    for m in d.get("monitors") or []:
        note = {"created": "created", "refused": f"refused: {m.get('reason')}",
                "exists": "exists (left as it is)"}[m["action"]]  # fmt: skip
        console().print(f"  monitor {m['monitor']}: {note}", markup=False)


OverrideReason = Annotated[
    str | None,
    typer.Option(
        "--override-reason", help="Move past a failed evaluation gate (an approver; audited)"
    ),
]


@app.command("promote")
def promote(
    name: Annotated[str, typer.Argument(help="NS/NAME")],
    version: Annotated[int, typer.Argument(help="Version number to promote")],
    override_reason: OverrideReason = None,
    json_output: JsonFlag = False,
) -> None:
    """Move the `latest` tag to VERSION (its tests must have passed; a module declaring an
    [evaluation] must also pass it)."""
    result = context.studio().modules.promote(name, version, override_reason=override_reason)
    if result.get("warning") and not json_output:
        console(stderr=True).print(f"warning: {result['warning']}", markup=False)
    emit(result, json_output, _print_move)


@app.command("tag")
def tag(
    name: Annotated[str, typer.Argument(help="NS/NAME")],
    tag_name: Annotated[str, typer.Argument(metavar="TAG", help="Tag to move, e.g. stable")],
    version: Annotated[int, typer.Argument(help="Version number")],
    override_reason: OverrideReason = None,
    json_output: JsonFlag = False,
) -> None:
    """Point any tag at VERSION; the move is recorded."""
    result = context.studio().modules.tag(name, tag_name, version, override_reason=override_reason)
    emit(result, json_output, _print_move)


@app.command("rollback")
def rollback(
    name: Annotated[str, typer.Argument(help="NS/NAME")],
    tag_name: Annotated[str, typer.Option("--tag", help="Tag to move back")] = "latest",
    json_output: JsonFlag = False,
) -> None:
    """Move a tag back to the version it pointed at before. Nothing is rebuilt."""
    result = context.studio().modules.rollback(name, tag_name)
    emit(result, json_output, _print_move)


@app.command("delete")
def delete(
    ref: Annotated[str, typer.Argument(help="NS/NAME@VERSION")],
    json_output: JsonFlag = False,
) -> None:
    """Delete a version no tag, running or pinned run, or schedule needs."""
    from mlstudio.cli.results import print_deletion

    emit(context.studio().modules.delete(ref), json_output, print_deletion)


@app.command("list")
def list_modules(
    search: Annotated[
        str | None, typer.Option("--search", "-s", help="Text in names, descriptions or task names")
    ] = None,
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="Only this namespace")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="At most this many modules (by name)")
    ] = 100,
    offset: Annotated[int, typer.Option("--offset", min=0, help="Skip this many first")] = 0,
    wide: WideFlag = False,
    json_output: JsonFlag = False,
) -> None:
    """The catalog: every module with its tags."""
    rows = context.studio().modules.list(search, namespace, limit=limit, offset=offset)

    def human(data: list[dict[str, Any]]) -> None:
        if not data:
            console().print(
                "no modules"
                + (f" matching {search!r}" if search else "")
                + "; push one with `mlstudio module push DIR`"
            )
            return
        table(
            None,
            [Col("module", key=True), Col("versions", drop=1), Col("tags"), Col("description")],
            [
                [
                    m["full_name"],
                    m["latest_version"],
                    ", ".join(f"{k}→{v}" for k, v in sorted(m["tags"].items())),
                    m["description"],
                ]
                for m in data
            ],
            wide=wide,
        )
        if len(data) == limit:
            console().print(f"(first {limit}; more with --offset {offset + limit})")

    emit(rows, json_output, human)


@app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="NS/NAME, NS/NAME:TAG or NS/NAME@VERSION")],
    wide: WideFlag = False,
    json_output: JsonFlag = False,
) -> None:
    """Versions, tags, tag history, and the tasks of one version with their signatures."""
    data = context.studio().modules.show(ref)

    def human(d: dict[str, Any]) -> None:
        c = console()
        m, sel = d["module"], d["selected"]
        c.print(f"[bold]{m['full_name']}[/]  {m['description']}")
        c.print(
            f"selected {sel['module']}@{sel['version']}  digest {sel['digest'][:12]}  pushed by {sel['pushed_by']} at {sel['pushed_at']}"
        )
        c.print(f"tests    {_tests_note(sel['test_summary'] or {'skipped': True})}")
        table(
            "tasks and workflows",
            [Col("name", key=True), Col("kind", drop=1), Col("signature"), Col("doc", drop=2)],
            [[t["name"], t["kind"], t["signature"]["text"], t["doc"]] for t in sel["tasks"]],
            wide=wide,
        )
        tags_by_version: dict[int, list[str]] = {}
        for t in d["tags"]:
            tags_by_version.setdefault(t["version"], []).append(t["name"])
        table(
            "versions",
            [
                Col("version", key=True),
                Col("tags", key=True),
                Col("tests"),
                Col("pushed by", drop=3),
                Col("pushed at", drop=2),
                Col("git", drop=4),
                Col("message", drop=1),
            ],
            [
                [
                    v["version"],
                    ", ".join(tags_by_version.get(v["version"], [])),
                    v["tests"],
                    v["pushed_by"],
                    v["pushed_at"],
                    (v["git_commit"] or "")[:10],
                    v["message"],
                ]
                for v in d["versions"]
            ],
            wide=wide,
        )
        table(
            "tag history",
            [Col("at", drop=1), Col("tag", key=True), Col("move"), Col("action"), Col("by")],
            [
                [
                    e["at"],
                    e["tag"],
                    f"{e['from_version'] or '∅'} → {e['to_version']}",
                    e["action"],
                    e["actor"],
                ]
                for e in d["tag_history"]
            ],
            wide=wide,
        )

    emit(data, json_output, human)
