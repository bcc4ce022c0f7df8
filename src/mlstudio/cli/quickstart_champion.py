"""The quickstart's last act: register the winning model, approve it as a second person, make it
``champion`` and serve it with ``mlstudio serve`` for one real request.

Everything goes through the application interface and the real serving process: the same
registry rules (a protected alias needs a version approved by someone other than its author),
the same governed load, the same HTTP route a client would call.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

MODEL = "churn-propensity"
NAMESPACE = "churn"
ALIAS = "champion"
REVIEWER = "reviewer"  # the quickstart's second person: the author may not approve its own model
READY_DEADLINE_S = 60.0

# Two made-up accounts, in the feature table's terms (see churn/features): one healthy, one
# with idle seats, falling usage and many tickets.
EXAMPLE_ACCOUNTS: dict[str, dict[str, float]] = {
    "healthy account": {
        "seats": 40,
        "tenure_days": 900,
        "revenue_per_seat": 28.0,
        "plan_starter": 0,
        "plan_growth": 1,
        "plan_enterprise": 0,
        "seat_utilization": 0.9,
        "active_trend": 0.02,
        "tickets_total": 1,
        "events_per_active_user": 60.0,
        "weeks_observed": 12,
    },
    "at-risk account": {
        "seats": 12,
        "tenure_days": 120,
        "revenue_per_seat": 12.0,
        "plan_starter": 1,
        "plan_growth": 0,
        "plan_enterprise": 0,
        "seat_utilization": 0.15,
        "active_trend": -0.3,
        "tickets_total": 9,
        "events_per_active_user": 4.0,
        "weeks_observed": 12,
    },
}


def crown(
    studio: Any, run_id: str, digest: str, best: dict[str, Any], kinds: list[str]
) -> dict[str, Any]:
    """Register the run's best model (``digest``: its artifact) as ``churn-propensity`` once,
    however often the quickstart runs; approve it as ``reviewer`` and point ``champion`` at it.
    Returns what was done."""
    from mlstudio.app.local import LocalStudio
    from mlstudio.errors import NotFoundError

    task = f"fit[{kinds.index(best['kind'])}]"
    try:
        shown = studio.models.show(MODEL)
    except NotFoundError:
        shown = {"versions": [], "model": {"aliases": {}}}
    same = [v for v in shown["versions"] if v["digest"] == digest]
    if same:  # a cached re-run trained nothing new: the artifact is registered already
        version, approval, registered = same[-1]["version"], same[-1]["approval"], False
    else:
        made = studio.models.register(MODEL, run_id, task=task, namespace=NAMESPACE)
        version, approval, registered = made["version"], made["approval"]["state"], True
    if approval != "approved":
        if not any(u["name"] == REVIEWER for u in studio.users.list()):
            studio.users.add(REVIEWER)
        studio.users.grant(REVIEWER, "maintainer", namespace=NAMESPACE)
        LocalStudio(studio.platform, REVIEWER).models.approve(
            MODEL,
            version,
            f"quickstart: {best['kind']} has the best test AUC ({best['auc']:.3f}) and beats "
            "the heuristic (see the run's report)",
        )
    current = shown["model"]["aliases"].get(ALIAS)
    # a new version, or no champion yet; a champion someone moved since is left where it is
    moved = current != version and (registered or current is None)
    if moved:
        studio.models.alias(MODEL, ALIAS, version)
    return {
        "model": MODEL,
        "version": version,
        "champion": version if moved or current is None else current,
        "registered": registered,
        "task": task,
        "kind": best["kind"],
        "alias": ALIAS,
        "alias_moved": moved,
        "approved_by": REVIEWER,
    }


def _command() -> list[str]:
    import sys

    beside = Path(sys.executable).with_name("mlstudio")
    if beside.is_file():
        return [str(beside)]
    return [sys.executable, "-c", "from mlstudio.cli.main import run; run()"]


def serve_once(studio: Any, logs: Path) -> dict[str, Any]:
    """Start ``mlstudio serve churn-propensity`` on a free port, score the example accounts
    over HTTP with a token made for it, then stop the process and revoke the token."""
    import httpx

    from mlstudio.errors import ExecutionError
    from mlstudio.integrations.serving.supervisor import free_port

    port = free_port()
    token = studio.tokens.create(ttl_days=0.01, description="quickstart: one serving request")
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / "quickstart-serve.log"
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*_command(), "serve", MODEL, "--alias", ALIAS, "--port", str(port), "--no-log"],
            env=os.environ.copy(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    headers = {"Authorization": f"Bearer {token['token']}"}
    try:
        deadline = time.monotonic() + READY_DEADLINE_S
        while True:
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace").strip().splitlines()[-1:]
                raise ExecutionError(
                    f"mlstudio serve exited ({proc.returncode}): {' '.join(tail)}",
                    hint=f"see {log_path}",
                )
            try:
                if httpx.get(f"{url}/ready", headers=headers, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise ExecutionError(
                    f"mlstudio serve was not ready within {READY_DEADLINE_S:.0f}s",
                    hint=f"see {log_path}",
                )
            time.sleep(0.1)
        ready_s = time.perf_counter() - started
        response = httpx.post(
            f"{url}/v1/models/{MODEL}:predict",
            json={"rows": list(EXAMPLE_ACCOUNTS.values())},
            headers=headers,
            timeout=10,
        )
        if response.status_code != 200:
            raise ExecutionError(
                f"the served model answered {response.status_code}: {response.text[:200]}",
                hint=f"see {log_path}",
            )
        body = response.json()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        studio.tokens.revoke(token["id"])
    return {
        "url": f"{url}/v1/models/{MODEL}:predict",
        "ready_s": round(ready_s, 2),
        "version": body.get("version"),
        "request_id": body.get("request_id"),
        "scores": dict(zip(EXAMPLE_ACCOUNTS, body.get("predictions", []), strict=False)),
        "log": str(log_path),
    }
