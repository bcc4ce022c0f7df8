"""``mlstudio worker``: run queued tasks of a pool on warm processes (and, with ``--drive``,
drive queued runs too: a team without a server runs one ``mlstudio worker --drive``)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from typing import Annotated

import typer

app = typer.Typer(add_completion=False)


def _stop_on_signals(stop: threading.Event, force: threading.Event) -> None:
    """SIGTERM/SIGINT stop the worker gracefully (a second one: at once).

    The signals are blocked in every thread and taken by one waiting thread; the task processes
    the worker spawns inherit the block, so a Ctrl-C in the terminal reaches the worker alone,
    not the tasks it is finishing."""
    from multiprocessing import resource_tracker

    # started first: starting it later would unblock both signals in this thread again
    resource_tracker.ensure_running()
    signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)

    def wait() -> None:
        while True:
            signal.sigwait(signals)
            if stop.is_set():
                force.set()
            stop.set()

    threading.Thread(target=wait, name="mlstudio-signals", daemon=True).start()


@app.command("worker")
def worker(
    pool: Annotated[str, typer.Option("--pool", help="The pool whose tasks it runs")] = "default",
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency", "-c", min=0, help="Tasks at once (default: CPU count; 0: none)"
        ),
    ] = None,
    lease: Annotated[
        float, typer.Option("--lease", min=1.0, help="Lease on a claimed task, seconds")
    ] = 15.0,
    grace: Annotated[
        float, typer.Option("--grace", min=0.0, help="On stop: seconds to finish running tasks")
    ] = 30.0,
    drive: Annotated[
        bool, typer.Option("--drive", help="Also drive queued runs (when no server does)")
    ] = False,
    max_runs: Annotated[
        int, typer.Option("--max-runs", min=1, help="With --drive: runs driven at once")
    ] = 8,
    stale: Annotated[
        float,
        typer.Option("--stale", min=1.0, help="With --drive: take over runs silent this long"),
    ] = 15.0,
) -> None:
    """Run queued tasks of a pool on warm worker processes; stop with Ctrl-C or SIGTERM."""
    from mlstudio.platform import Platform
    from mlstudio.scheduling.worker import Worker, WorkerConfig

    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr
    )
    for name in ("mlstudio.worker", "mlstudio.driver"):
        logging.getLogger(name).setLevel(logging.INFO)
    from mlstudio.scheduling.queue import warn_retired_quota_variables

    warn_retired_quota_variables(logging.getLogger("mlstudio.worker"))
    stop, force = threading.Event(), threading.Event()
    _stop_on_signals(stop, force)
    platform = Platform.open(bootstrap=False)
    slots = concurrency if concurrency is not None else (os.cpu_count() or 2)
    driver_thread = None
    if drive:
        from mlstudio.scheduling.driver import DriverConfig, start

        driver_thread = start(platform, stop, DriverConfig(max_runs=max_runs, stale_s=stale))
    try:
        if slots > 0:
            config = WorkerConfig(pool=pool, concurrency=slots, lease_s=lease, grace_s=grace)
            stats = Worker(platform.store, platform.settings, platform.envs, config).run(
                stop, force
            )
            typer.echo(f"worker stopped: {stats}", err=True)
        else:
            stop.wait()
    finally:
        stop.set()
        if driver_thread is not None:
            driver_thread.join(timeout=20)
        platform.close()
