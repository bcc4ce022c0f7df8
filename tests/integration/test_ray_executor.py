"""The Ray executor on a real (local) Ray instance: same dispatches, same engine, same cache."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

FLOW = textwrap.dedent(
    """
    from mlstudio import task, workflow

    @task
    def make(n: int) -> list[int]:
        return list(range(n))

    @task
    def where(x: int) -> dict:
        import os

        import ray

        return {"x": x * x, "in_ray": ray.is_initialized(), "pid": os.getpid()}

    @task
    def total(parts: list[dict]) -> dict:
        return {"sum": sum(p["x"] for p in parts), "all_in_ray": all(p["in_ray"] for p in parts)}

    @workflow
    def fan(n: int = 6) -> dict:
        return total(where.map(x=make(n)))
    """
)


@pytest.fixture
def ray_session():
    import ray

    yield
    if ray.is_initialized():
        ray.shutdown()


@pytest.mark.slow
@pytest.mark.parametrize("studio", ["sqlite"], indirect=True)
def test_fan_out_runs_on_ray_and_the_cache_is_shared_with_local(
    studio, tmp_path: Path, ray_session
) -> None:
    flow = tmp_path / "wf" / "flow.py"
    flow.parent.mkdir()
    flow.write_text(FLOW)
    first = studio.ok("run", f"{flow}:fan", "-p", "n=6", "--executor", "ray")
    assert first["state"] == "succeeded"
    assert first["executor"] == "ray"
    assert first["output_value"] == {"sum": sum(i * i for i in range(6)), "all_in_ray": True}
    mapped = [t for t in first["tasks"] if t["node"].startswith("where[") and t["kind"] == "task"]
    assert len(mapped) == 6 and all(t["state"] == "succeeded" for t in mapped)
    # the same workflow on the local executor hits the cache Ray filled: one cache for both
    again = studio.ok("run", f"{flow}:fan", "-p", "n=6", "--executor", "local")
    states = {t["state"] for t in again["tasks"] if t["kind"] == "task"}
    assert states == {"cached"}
