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


def alert_view(a: dict[str, Any], monitor: str, feedback: str | None) -> dict[str, Any]:
    return {
        "id": a["id"], "monitor": monitor, "check": a["check_name"], "slice": a["slice"],
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
