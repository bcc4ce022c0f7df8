"""A real multi-process Ray cluster on this machine for tests and benches: ``ray start --head``
and worker-node processes, each in a process group of its own, killed by group at the end
(never ``ray stop``, which would stop every Ray on the machine).

Ray 2.60's ``ray start`` expects token authentication unless ``RAY_AUTH_MODE=disabled``; the
cluster, and any driver joining it, get that setting (a loopback-only cluster in a test).
Drivers joining it should be other processes (``mlstudio run`` subprocesses): Ray keeps a
driver's settings in its process, and a test process that joined this cluster could not start
a local Ray with token authentication later. The
nodes inherit ``env`` (an installation's ``MLSTUDIO_*`` settings): their workers open the store
it names, as ``mlstudio worker`` processes do.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

_ADDRESS = re.compile(r"ray start --address='([^']+)'")


@dataclass
class RayCluster:
    address: str
    temp_dir: Path
    head: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def kill_worker_node(self, index: int = 0) -> None:
        _kill_group(self.workers[index])


def _ray() -> str:
    return str(Path(sys.executable).with_name("ray"))


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=15)


@contextlib.contextmanager
def ray_cluster(
    env: dict[str, str] | None = None, workers: int = 1, cpus: int = 1, deadline_s: float = 90
) -> Iterator[RayCluster]:
    """A head node and ``workers`` worker nodes of ``cpus`` CPUs each, up for the block."""
    temp = Path(tempfile.mkdtemp(prefix="mlsray-", dir="/tmp"))  # Ray's socket paths are short
    environ = {**os.environ, **(env or {}), "RAY_AUTH_MODE": "disabled"}
    log = open(temp / "head.log", "wb")  # noqa: SIM115 - closed below
    head = subprocess.Popen(
        [_ray(), "start", "--head", "--port", "0", "--num-cpus", str(cpus),
         "--include-dashboard", "false", "--temp-dir", str(temp / "t"), "--block"],
        env=environ, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    cluster = RayCluster("", temp, head)
    try:
        started = time.monotonic()
        while not cluster.address:
            found = _ADDRESS.search((temp / "head.log").read_text(errors="replace"))
            if found:
                cluster.address = found.group(1)
            elif head.poll() is not None or time.monotonic() - started > deadline_s:
                raise RuntimeError(f"ray start --head failed: {(temp / 'head.log').read_text()}")
            else:
                time.sleep(0.2)
        for i in range(workers):
            out = open(temp / f"worker{i}.log", "wb")  # noqa: SIM115 - the process owns it
            command = [_ray(), "start", "--address", cluster.address, "--num-cpus", str(cpus),
                       "--temp-dir", str(temp / "t"), "--block"]  # fmt: skip
            cluster.workers.append(
                subprocess.Popen(
                    command,
                    env=environ,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        yield cluster
    finally:
        for proc in [*cluster.workers, head]:
            _kill_group(proc)
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


_COUNT_CPUS = (
    "import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False); "
    "print(int(ray.cluster_resources().get('CPU', 0)))"
)


def wait_for_cpus(address: str, cpus: int, deadline_s: float = 90) -> None:
    """Block until the cluster at ``address`` reports ``cpus``. Asked from a subprocess: a
    driver's Ray state (its authentication mode among it) stays in the process that joined,
    and would leak into a later in-process Ray of the same test process."""
    environ = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    started = time.monotonic()
    while True:
        found = subprocess.run(
            [sys.executable, "-c", _COUNT_CPUS, address],
            env=environ,
            capture_output=True,
            text=True,
            timeout=deadline_s,
        )
        lines = found.stdout.strip().splitlines()
        if found.returncode == 0 and lines and lines[-1].isdigit() and int(lines[-1]) >= cpus:
            return
        if time.monotonic() - started > deadline_s:
            raise RuntimeError(f"the Ray cluster at {address} never reached {cpus} CPUs")
        time.sleep(0.5)
