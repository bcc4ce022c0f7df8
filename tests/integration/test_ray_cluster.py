"""The Ray executor on a real multi-process Ray cluster (``ray start --head`` plus a worker-node
process): with ``MLSTUDIO_RAY_POOL`` the tasks run on warm detached actors that outlive the
run, so a second run's tasks run in the same processes (no new process, no re-import); an
actor killed mid-task is restarted by Ray and the task is retried to success."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import textwrap
from pathlib import Path

import pytest

from mlstudio.testing.flows import mlstudio_executable, wait_until
from mlstudio.testing.ray_cluster import ray_cluster, wait_for_cpus

FLOW = textwrap.dedent(
    """
    import os
    from pathlib import Path

    from mlstudio import task, workflow

    IMPORTED_IN = os.getpid()  # module code imported once per process


    @task
    def make(n: int) -> list[int]:
        return list(range(n))


    @task
    def where(x: int) -> dict:
        return {"x": x * x, "pid": os.getpid(), "imported_in": IMPORTED_IN}


    @task
    def total(parts: list[dict]) -> dict:
        return {"sum": sum(p["x"] for p in parts), "pids": sorted({p["pid"] for p in parts}),
                "imported": sorted({p["imported_in"] for p in parts})}


    @task(retries=1)
    def hold(marker: str) -> int:
        path = Path(marker)
        if not path.exists():  # the first attempt says where it runs, then waits to be killed
            path.write_text(str(os.getpid()))
            while True:
                pass
        return os.getpid()


    @workflow
    def fan(n: int = 6) -> dict:
        return total(where.map(x=make(n)))


    @workflow
    def killed(marker: str) -> int:
        return hold(marker)
    """
)


@pytest.fixture
def cluster(studio):
    """The cluster, and the environment of a driver that joins it. Every driver here is an
    ``mlstudio run`` subprocess: a driver's Ray settings stay in its process (see
    ``mlstudio.testing.ray_cluster``)."""
    with ray_cluster(studio.env(), workers=1, cpus=1) as found:
        wait_for_cpus(found.address, 2)
        env = {
            **os.environ,
            **studio.env(),
            "RAY_AUTH_MODE": "disabled",
            "MLSTUDIO_RAY_ADDRESS": found.address,
            "MLSTUDIO_RAY_POOL": "warm",
        }
        env.pop("MLSTUDIO_URL", None)
        yield env


def run(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [mlstudio_executable(), "run", *args, "--executor", "ray", "--no-cache", "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def finished(proc: subprocess.Popen[bytes]) -> dict:
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 0, stderr.decode()[-2000:]
    return json.loads(stdout)


@pytest.mark.parametrize("studio", ["sqlite"], indirect=True)
def test_warm_actors_outlive_the_run_and_a_killed_actor_is_retried(studio, cluster, tmp_path):
    flow = tmp_path / "wf" / "flow.py"
    flow.parent.mkdir()
    flow.write_text(FLOW)
    first = finished(run(cluster, f"{flow}:fan", "-p", "n=6"))
    assert first["state"] == "succeeded", first
    out = first["output_value"]
    assert out["sum"] == sum(i * i for i in range(6))
    assert len(out["pids"]) == 2  # the two actors of the pool (one CPU on each node)
    assert os.getpid() not in out["pids"]
    again = finished(run(cluster, f"{flow}:fan", "-p", "n=6"))["output_value"]
    assert again["pids"] == out["pids"]  # the same warm processes
    assert again["imported"] == out["imported"]  # and the module was not imported again

    marker = tmp_path / "held"
    proc = run(cluster, f"{flow}:killed", "-p", f"marker={marker}")
    pid = int(wait_until(lambda: marker.exists() and marker.read_text(), "the held task", 120))
    os.kill(pid, signal.SIGKILL)  # the actor's process dies mid-task
    done = finished(proc)
    hold = next(t for t in done["tasks"] if t["node"] == "hold")
    assert hold["state"] == "succeeded" and hold["attempt"] == 2
    assert done["output_value"] != pid  # the retry ran in the restarted actor
    assert Path(marker).read_text() == str(pid)
