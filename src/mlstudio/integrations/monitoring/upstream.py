"""``--after UPSTREAM``: a monitor judges no window until each upstream monitor's data check for
the last complete window ran and is ok (it waits instead of firing on partial data)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from mlstudio.integrations.monitoring.windows import PERIODS, window_key


def upstream_wait(uow: Any, after: Sequence[str], when: datetime) -> dict[str, Any] | None:
    """Why this run must wait for an upstream monitor (its data check for the last complete
    window missing or not ok), or None."""
    for name in after:
        up = uow.monitoring.get(name)
        if up is None:
            return {"upstream": name, "reason": f"upstream monitor {name} no longer exists"}
        per = up["spec"]["period"]
        latest = window_key(int(when.timestamp() // PERIODS[per]) - 1, per)
        data = [w for w in uow.monitoring.windows(up["id"], check="data") if w["slice"] == ""]
        last = data[-1] if data else None
        if last is None or last["window_key"] < latest:
            return {"upstream": name, "reason": f"{name} has not checked its data for {latest}"}
        if last["status"] != "ok":
            return {"upstream": name, "reason": f"{name}'s data is {last['status']} ({latest})"}
    return None
