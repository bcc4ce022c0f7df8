"""``mlstudio run WORKFLOW``: plan, record and drive a run (or detach)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mlstudio.cli import context
from mlstudio.cli.output import JsonFlag, console, emit
from mlstudio.cli.progress import live_progress, print_run

app = typer.Typer(add_completion=False)

ParamOpt = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="Workflow parameter NAME=VALUE (repeatable)"),
]


def start_workers(executor: str, detach: bool, pool: str | None, preemptible: bool) -> Any:
    """Start the local worker processes now, before the platform is opened and the run planned,
    so they boot while this process does that work (None when the run will not use them)."""
    if executor != "local" or detach or pool is not None or preemptible:
        return None
    from mlstudio.settings import Settings
    from mlstudio.workflows.executors.registry import ExecutorContext, executors

    workers = executors.create("local", ExecutorContext(Settings(), None))
    workers.start()
    return workers


def finish(run_id: str, json_output: bool, detach: bool, workers: Any = None) -> None:
    """Drive (or detach) a queued run and print the result; non-zero exit if it did not succeed.
    ``workers``: an executor started early (:func:`start_workers`), stopped here."""
    p = context.platform()
    if detach:
        pid = p.runs.detach(run_id)
        data = {"id": run_id, "state": "queued", "detached_pid": pid}
        emit(
            data,
            json_output,
            lambda d: console().print(
                f"run [bold]{d['id']}[/] started in the background\n  follow it: mlstudio runs show {d['id']}"
            ),
        )
        return
    try:
        with live_progress(not json_output, run_id) as observe:
            p.runs.execute(run_id, observe, executor=workers)
    finally:
        if workers is not None:
            workers.shutdown(wait=False)  # they exit on their own; nothing waits for them
    data = p.runs.show(run_id, actor=p.actor)
    emit(data, json_output, print_run)
    if data["state"] != "succeeded":
        raise typer.Exit(1)


def finish_remote(run_id: str, json_output: bool, detach: bool) -> None:
    """``finish`` against a server: the server runs it; follow it (or not) and print the same."""
    import time

    client = context.remote()
    assert client is not None
    if detach:
        emit(
            {"id": run_id, "state": "queued"},
            json_output,
            lambda d: console().print(
                f"run [bold]{d['id']}[/] started in the background\n  follow it: mlstudio runs show {d['id']}"
            ),
        )
        return
    started = time.monotonic()
    data: dict = {}
    with live_progress(not json_output, run_id) as observe:
        for data in client.watch_run(run_id):
            tasks = [t for t in data.get("tasks", []) if t.get("kind", "task") == "task"]
            counts: dict[str, int] = {}
            for t in tasks:
                counts[t["state"]] = counts.get(t["state"], 0) + 1
            observe(
                {"counts": counts, "total": len(tasks), "elapsed_s": time.monotonic() - started}
            )
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
    json_output: JsonFlag = False,
) -> None:
    """Run a workflow; tasks run in parallel on worker processes, results are cached."""
    from mlstudio.workflows.service import parse_params

    client = context.remote()
    if client is not None:  # the server's workers run it
        if executor not in ("local", "queue"):
            from mlstudio.errors import InvalidInputError

            raise InvalidInputError(
                f"--executor {executor} is not available against a server",
                hint="a server runs workflows on its worker pools: choose one with --pool",
            )
        record = client.submit_run(
            workflow,
            parse_params(param or []),
            domain=domain,
            no_cache=no_cache,
            fail_fast=fail_fast,
            pool=pool,
            priority=priority,
            preemptible=preemptible,
        )
        finish_remote(record["id"], json_output, detach)
        return
    workers = start_workers(executor, detach, pool, preemptible)
    p = context.platform()
    record = p.runs.submit(
        p.actor,
        workflow,
        parse_params(param or []),
        domain=domain,
        executor=executor,
        no_cache=no_cache,
        fail_fast=fail_fast,
        pool=pool,
        priority=priority,
        preemptible=preemptible,
    )
    finish(record.id, json_output, detach, workers)
