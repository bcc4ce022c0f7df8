"""Monitor and deployment pages: a monitor's series with its baseline band as inline SVG, its
alerts with feedback buttons, and deployments with their serving flags. Every call goes to the
interface (``studio.monitoring``, ``studio.deployments``, ``studio.flags``, ``studio.models``);
the monitoring service decides who may give feedback, the buttons only follow its rule."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from mlstudio.api.portal.pages import PREFIX, guarded, may_hold_domain_role, post, render
from mlstudio.errors import MlstudioError

router = APIRouter(include_in_schema=False)

FEEDBACK = (("confirmed", "confirmed"), ("false_alarm", "false alarm"),
            ("new_trend", "new trend"), ("expected", "expected"))  # fmt: skip
FLAGGED = frozenset({"anomaly", "drift", "degraded"})
DEFAULT_THRESHOLD = 4.0  # the detector's default, the band `monitor show --png` draws
CHART_W, CHART_H, PAD_L, PAD_R, PAD_Y = 900, 170, 64, 12, 12


def _value_key(check: str) -> str:
    """The number a check's series plots (as ``monitor show`` sparklines it)."""
    if check.startswith(("anomaly:", "model:")):
        return "value"
    return "n" if check == "drift" else "rows"


def _marked(window: str, feedback: list[dict[str, Any]]) -> bool:
    return any(
        (f.get("start") or "") <= window <= (f.get("end") or f.get("start") or "") for f in feedback
    )


def chart(
    check: str,
    points: list[dict[str, Any]],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    feedback: list[dict[str, Any]] = (),  # type: ignore[assignment]
) -> dict[str, Any]:
    """The geometry of one series' SVG: the value line (gaps stay gaps), the baseline band
    ``expected ± threshold·scale`` where the window has one, flagged windows as dots and
    windows with feedback as shaded columns."""
    key = _value_key(check)
    n = len(points)
    step = (CHART_W - PAD_L - PAD_R) / max(n - 1, 1)
    ys: list[float] = []
    for p in points:
        if p.get(key) is not None:
            ys.append(float(p[key]))
        if p.get("expected") is not None and p.get("scale") is not None:
            half = threshold * float(p["scale"])
            ys += [float(p["expected"]) - half, float(p["expected"]) + half]
    lo, hi = (min(ys), max(ys)) if ys else (0.0, 1.0)
    span = (hi - lo) or 1.0

    def x(i: int) -> float:
        return round(PAD_L + i * step, 1)

    def y(v: float) -> float:
        return round(PAD_Y + (hi - v) / span * (CHART_H - 2 * PAD_Y), 1)

    line, bands, band, dots, lone, marks = [], [], [], [], [], []
    for i, p in enumerate(points):
        v = p.get(key)
        if v is not None:
            line.append(f"{'L' if line and points[i - 1].get(key) is not None else 'M'}"
                        f"{x(i)},{y(float(v))}")  # fmt: skip
            alone = all(not (0 <= j < n) or points[j].get(key) is None for j in (i - 1, i + 1))
            if alone and p.get("status") not in FLAGGED:  # no segment to draw: a dot
                lone.append({"x": x(i), "y": y(float(v)), "window": p["window"], "value": v})
            if p.get("status") in FLAGGED:
                dots.append({"x": x(i), "y": y(float(v)), "window": p["window"], "value": v})
        if p.get("expected") is not None and p.get("scale") is not None:
            half = threshold * float(p["scale"])
            band.append((x(i), y(float(p["expected"]) + half), y(float(p["expected"]) - half)))
        elif band:
            bands.append(band)
            band = []
        if _marked(p["window"], list(feedback)):
            marks.append({"x": round(x(i) - step / 2, 1), "w": round(step, 1)})
    if band:
        bands.append(band)
    polygons = [
        " ".join(f"{bx},{top}" for bx, top, _ in b) + " " +
        " ".join(f"{bx},{bottom}" for bx, _, bottom in reversed(b))
        for b in bands
    ]  # fmt: skip
    return {
        "check": check,
        "key": key,
        "width": CHART_W,
        "height": CHART_H,
        "line": " ".join(line),
        "bands": polygons,
        "dots": dots,
        "lone": lone,
        "marks": marks,
        "lo": lo,
        "hi": hi,
        "first": points[0]["window"] if points else "",
        "last": points[-1]["window"] if points else "",
        "threshold": threshold,
        "count": n,
    }


def threshold_of(monitor: dict[str, Any]) -> float:
    detector = (monitor.get("spec") or {}).get("detector") or {}
    return float(detector.get("threshold") or DEFAULT_THRESHOLD)


def summary(shown: dict[str, Any]) -> dict[str, Any]:
    """A list row: checks, schedule, open alerts and the last window computed."""
    windows = [p["window"] for pts in shown["series"].values() for p in pts]
    return {
        "name": shown["name"],
        "source": shown["source"],
        "domain": shown["domain"],
        "checks": shown["checks"],
        "schedule": (shown.get("spec") or {}).get("schedule") or "",
        "open": sum(1 for a in shown["alerts"] if a["state"] == "open"),
        "last_window": max(windows) if windows else "",
    }


@router.get(f"{PREFIX}/monitors")
def monitors(request: Request) -> Response:
    def show(session: Any, studio: Any) -> Response:
        rows = [summary(studio.monitoring.show(m["name"])) for m in studio.monitoring.list()]
        return render(request, "monitors.html", session, monitors=rows)

    return guarded(request, show)


@router.get(f"{PREFIX}/monitors/{{name:path}}")
def monitor(request: Request, name: str) -> Response:
    def show(session: Any, studio: Any) -> Response:
        m = studio.monitoring.show(name)
        threshold = threshold_of(m)
        charts = [
            chart(check, points, threshold=threshold, feedback=m["feedback"])
            for check, points in m["series"].items()
        ]
        may = may_hold_domain_role(studio.users.whoami(), m["domain"], feedback_roles())
        return render(request, "monitor.html", session, m=m, charts=charts, may=may, kinds=FEEDBACK)

    return guarded(request, show)


def feedback_roles() -> tuple[str, ...]:
    """The domain roles the monitoring service wants for feedback (and for reading)."""
    from mlstudio.integrations.monitoring.service import READ_ROLES

    return READ_ROLES


@router.post(f"{PREFIX}/alerts/{{alert_id}}/feedback")
async def feedback(request: Request, alert_id: str) -> Response:
    def act(_session: Any, studio: Any, form: dict[str, str]) -> Response:
        given = studio.monitoring.feedback(
            alert_id, form.get("kind", ""), comment=form.get("comment", "").strip()
        )
        target = f"{PREFIX}/monitors/{quote(given['monitor'], safe='/')}#alert-{alert_id}"
        return RedirectResponse(target, status_code=303)

    return await post(request, act)


# --- deployments ------------------------------------------------------------------------------
def serving_flags(studio: Any, name: str) -> dict[str, Any]:
    """``serve.NAME.kill/.route/.shadow``: the flag (or None) and what it evaluates to."""
    from mlstudio.integrations.serving.flagging import keys

    present = {f["key"]: f for f in studio.flags.list(f"serve.{name}.")}
    out = {}
    for role, key in keys(name).items():
        flag = present.get(key)
        value = studio.flags.evaluate(key, False if role == "kill" else None) if flag else None
        out[role] = {"key": key, "flag": flag, "value": (value or {}).get("value")}
    return out


def _serving_version(studio: Any, model: str, alias: str) -> Any:
    try:
        return studio.models.show(model)["model"]["aliases"].get(alias)
    except MlstudioError:  # the viewer may not read the model: the page still shows the rest
        return None


@router.get(f"{PREFIX}/deployments")
def deployments(request: Request) -> Response:
    def show(session: Any, studio: Any) -> Response:
        rows = studio.deployments.list()
        kills = {
            f["key"]: f for f in studio.flags.list("serve.") if str(f["key"]).endswith(".kill")
        }
        for d in rows:
            key = f"serve.{d['name']}.kill"
            d["killed"] = bool(
                key in kills and studio.flags.evaluate(key, False).get("value") is True
            )
        return render(request, "deployments.html", session, deployments=rows)

    return guarded(request, show)


@router.get(f"{PREFIX}/deployments/{{name}}")
def deployment(request: Request, name: str) -> Response:
    def show(session: Any, studio: Any) -> Response:
        d = studio.deployments.show(name)
        aliases = [d["alias"], *d.get("also", [])]
        versions = {a: _serving_version(studio, d["model"], a) for a in aliases}
        flags = serving_flags(studio, name)
        fallback = [p.strip() for p in (d.get("fallback") or "").split(",") if p.strip()]
        return render(
            request,
            "deployment.html",
            session,
            d=d,
            versions=versions,
            flags=flags,
            fallback=fallback,
            killed=flags["kill"]["value"] is True,
        )

    return guarded(request, show)
