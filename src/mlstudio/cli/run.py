"""``mlstudio run WORKFLOW``: plan, record and drive a run (or detach)."""

from __future__ import annotations

from typing import Annotated

import typer

from mlstudio.cli import context
from mlstudio.cli.output import JsonFlag, console, emit
from mlstudio.cli.progress import live_progress, print_run

app = typer.Typer(add_completion=False)

ParamOpt = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="Workflow parameter NAME=VALUE (repeatable)"),
]


def finish(run_id: str, json_output: bool, detach: bool) -> None:
    """Follow (embedded: drive) a queued run, or let it go on (``--detach``), and print the
    result; non-zero exit if it did not succeed."""
    runs = context.studio().runs
    if detach:
        emit(
            runs.detach(run_id),
            json_output,
            lambda d: console().print(
                f"run [bold]{d['id']}[/] started in the background\n  follow it: mlstudio runs show {d['id']}"
            ),
        )
        return
    with live_progress(not json_output, run_id) as observe:
        data = runs.wait(run_id, observe)
    emit(data, json_output, print_run)
    if data["state"] != "succeeded":
        raise typer.Exit(1)


@app.command("run")
def run(
    workflow: Annotated[
        str, typer.Argument(help="NS/MODULE/WORKFLOW[:TAG|@N] or PATH.py:FUNCTION")
    ],
    param: ParamOpt = None,
    domain: Annotated[str, typer.Option("--domain", help="Execution domain")] = "experimentation",
    executor: Annotated[str, typer.Option("--executor", help="local | ray | queue")] = "local",
    detach: Annotated[
        bool, typer.Option("--detach", help="Return the run id at once; run in the background")
    ] = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Recompute every task")] = False,
    fail_fast: Annotated[
        bool, typer.Option("--fail-fast", help="Cancel the rest when a task fails")
    ] = False,
    pool: Annotated[
        str | None,
        typer.Option("--pool", help="Run the tasks on the workers of this pool (mlstudio worker)"),
    ] = None,
    priority: Annotated[
        int, typer.Option("--priority", help="Higher is served first by the queue")
    ] = 0,
    preemptible: Annotated[
        bool,
        typer.Option("--preemptible", help="Its tasks give way to higher-priority work"),
    ] = False,
    experiment: Annotated[
        str | None,
        typer.Option(
            "--experiment",
            envvar="MLSTUDIO_EXPERIMENT",
            help="Experiment its tracked task runs join (default: the workflow's name)",
        ),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Run a workflow; tasks run in parallel on worker processes, results are cached."""
    from mlstudio.workflows.options import RunOptions
    from mlstudio.workflows.service import parse_params

    context.warm_local_workers(executor, detach, pool, preemptible)  # boot while we plan
    options = RunOptions(
        domain=domain,
        executor=executor,
        no_cache=no_cache,
        fail_fast=fail_fast,
        pool=pool,
        priority=priority,
        preemptible=preemptible,
        experiment=experiment,
    )
    record = context.studio().runs.start(workflow, parse_params(param or []), options)
    finish(record["id"], json_output, detach)
