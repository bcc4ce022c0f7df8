"""What monitoring returns: alert and feedback views, and an alert's evidence."""

from __future__ import annotations

from typing import Any

from mlstudio.core.clock import iso


def _iso(value: Any) -> str | None:
    return iso(value) if value is not None else None


def evidence(monitor: dict[str, Any], r: dict[str, Any]) -> dict[str, Any]:
    res = r["result"]
    base = {"monitor": monitor["name"], "check": r["check_name"], "slice": r["slice"],
            "window": r["window_key"], "status": r["status"]}  # fmt: skip
    if r["check_name"] == "drift":
        tests = [
            {"feature": f, "metric": e["test"], "statistic": e["statistic"],
             "threshold": e["threshold"], "p_value": e["p_value"], "n": e["n_current"],
             "n_reference": e["n_reference"]}
            for f in res.get("drifted", []) for e in res["features"][f] if e["fired"]
        ]  # fmt: skip
        return {**base, "n": res.get("n"), "tests": tests}
    if r["check_name"].startswith("model:"):
        return {**base, "metric": res.get("metric"), "statistic": res.get("value"),
                "value": res.get("value"), "baseline": res.get("baseline"),
                "threshold": res.get("needed"), "worse_by": res.get("worse_by"),
                "n": res.get("labels"), "predictions": res.get("predictions")}  # fmt: skip
    if r["check_name"].startswith("anomaly:"):
        return {**base, "metric": r["check_name"].partition(":")[2], "statistic": res.get("z"),
                "value": res.get("value"), "expected": res.get("expected"),
                "threshold": res.get("threshold"), "n": res.get("history")}  # fmt: skip
    return {**base, "metric": "data", "n": res.get("rows"), "problems": res.get("problems") or
            [res.get("problem")]}  # fmt: skip


def alert_group(monitor: str, check: str, first_window: str) -> str:
    """Alerts of one check that opened in the same window, across slices, are one incident:
    ``MONITOR|CHECK|WINDOW`` (in each ``monitor.alert`` event and alert view)."""
    return f"{monitor}|{check}|{first_window}"


def group_alerts(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Alert views grouped by :func:`alert_group`, newest group first: one row per incident
    with its slices, its alerts and whether any of them is still open."""
    groups: dict[str, dict[str, Any]] = {}
    for a in alerts:
        key = alert_group(a["monitor"], a["check"], a["first_window"])
        g = groups.setdefault(key, {"group": key, "monitor": a["monitor"], "check": a["check"],
                                    "kind": a["kind"], "first_window": a["first_window"],
                                    "last_window": a["last_window"], "state": "resolved",
                                    "slices": [], "alerts": []})  # fmt: skip
        g["slices"].append(a["slice"] or "all")
        g["alerts"].append(a["id"])
        g["last_window"] = max(g["last_window"], a["last_window"])
        if a["state"] == "open":
            g["state"] = "open"
    return sorted(groups.values(), key=lambda g: (g["first_window"], g["group"]), reverse=True)


def alert_view(a: dict[str, Any], monitor: str, feedback: str | None) -> dict[str, Any]:
    return {
        "id": a["id"], "monitor": monitor, "check": a["check_name"], "slice": a["slice"],
        "group": alert_group(monitor, a["check_name"], a["first_window"]),
        "kind": a["kind"], "state": a["state"], "first_window": a["first_window"],
        "last_window": a["last_window"], "windows": a["windows"], "evidence": a["evidence"],
        "feedback": feedback, "opened_at": _iso(a["opened_at"]),
        "resolved_at": _iso(a["resolved_at"]),
        "retrain": (a["evidence"] or {}).get("retrain"),  # the run it started, or why not
    }  # fmt: skip


def feedback_view(f: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f["id"], "alert": f["alert_id"], "kind": f["kind"], "metric": f["metric"],
        "dims": f["dims"], "start": f["start_window"], "end": f["end_window"],
        "revision": f["revision"], "comment": f["comment"], "created_by": f["created_by"],
        "created_at": _iso(f["created_at"]),
    }  # fmt: skip


def slice_dims(label: str) -> list[tuple[str, str]]:
    """``"plan=pro,region=eu"`` as ``[("plan", "pro"), ("region", "eu")]``."""
    return [tuple(part.split("=", 1)) for part in label.split(",") if "=" in part]  # type: ignore[misc]
