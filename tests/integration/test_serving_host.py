"""The serving runtime in process, on SQLite and on Postgres: governed load, following the
alias by polling (deterministic: one ``poll()`` per step), the sample check, and sealing the
prediction log into a classified dataset."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mlstudio.integrations.serving.runtime import ServeConfig, Serving
from mlstudio.testing.serving import write_module


def register(studio, workflow: str, *params: str) -> int:
    run = studio.ok("run", f"shop/scoring/{workflow}:latestAlpha", *params)
    assert run["state"] == "succeeded"
    return studio.ok("model", "register", "churn", "--run", run["id"], "--namespace", "shop")[
        "version"
    ]


def test_serving_follows_the_alias_refuses_a_failing_version_and_seals_its_log(
    studio, tmp_path: Path
):
    studio.ok("namespace", "create", "shop")
    studio.ok("module", "push", write_module(tmp_path / "mod"), "--no-tests")
    first = register(studio, "fit", "-p", "c=1.0")
    second = register(studio, "fit", "-p", "c=0.01")
    raising = register(studio, "bad", "-p", "kind=raising")
    studio.ok("model", "alias", "churn", "live", str(first))
    sample = [{"a": 1.0, "b": 2.0}, {"a": 60.0, "b": 1.0}]  # the raising version fails it

    with studio.opened() as platform:
        serving = Serving(
            platform,
            "alice",
            ServeConfig(name="churn", alias="live", sample=sample, seal_every_s=0),
        )
        serving.start()
        try:
            ask = {"rows": [{"a": 1.0, "b": 2.0}]}
            assert asyncio.run(serving.predict(ask, "r1"))["version"] == first

            platform.registry.set_alias("alice", "churn", "live", second)
            serving.watcher.poll()
            assert serving.host.current.version == second
            assert serving.host.previous.version == first
            assert asyncio.run(serving.predict(ask, "r2"))["version"] == second

            platform.registry.set_alias("alice", "churn", "live", raising)
            serving.watcher.poll()
            assert serving.host.current.version == second
            assert "sample request failed" in serving.host.rejected[raising]
            assert asyncio.run(serving.predict(ask, "r3"))["version"] == second
        finally:
            serving.stop()
        assert serving.last_seal["dataset"] == "shop/churn-predictions@1"

    shown = studio.ok("data", "show", "shop/churn-predictions")
    assert shown["rows"] == 3
    columns = {c["name"]: c for c in shown["columns"]}
    assert columns["prediction"]["classification"] == "public"  # what the model inherited
    assert columns["request_id"]["classification"] == "internal"
    refused = studio.ok("audit", "--action", "serve.swap.refused")
    assert [e["resource"] for e in refused] == [f"model:churn/{raising}"]
