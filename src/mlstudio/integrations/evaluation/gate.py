"""Evaluation gates on protected aliases: "``champion`` moves only to a version that an
evaluation on E showed non-inferior to the current champion on metric M within margin δ, and
not worse on any slice after correction".

The gate reads stored evaluations (``mlstudio eval compare``), it never scores anything inside
the alias move: the move finds the newest evaluation on the latest version of E that compared
the target version (by digest) with the alias's current version (by digest) on M, and decides
from its stored intervals. No such evaluation refuses the move with the command that makes one.
"""

from __future__ import annotations

from typing import Any

from mlstudio.errors import InvalidInputError, PolicyViolationError

ALPHA = 0.05
SCAN = 200  # evaluations on E looked at, newest first


def gate_spec(
    on: str, metric: str, margin: float, slices: list[str] | None = None
) -> dict[str, Any]:
    """A validated gate: ``on`` a dataset NS/NAME (its latest version at move time)."""
    from mlstudio.data.catalog import parse_dataset_name
    from mlstudio.integrations.evaluation.metrics import get_metric

    if "@" in on:
        raise InvalidInputError(
            f"a gate names a dataset without a version, not {on!r}",
            hint="the move is checked on its latest version: --on NS/NAME",
        )
    name = parse_dataset_name(on)
    get_metric(metric)
    if not isinstance(margin, int | float) or not margin >= 0:
        raise InvalidInputError(f"margin must be >= 0, not {margin!r}", hint="--margin 0.01")
    return {
        "on": name.full,
        "metric": metric,
        "margin": float(margin),
        "slices": list(slices or []),
    }


def _matches(candidate: dict[str, Any], model: str, version: dict[str, Any]) -> bool:
    return (
        candidate.get("kind") == "model"
        and candidate.get("model") == model
        and candidate.get("version") == version["version"]
        and candidate.get("digest") == version["digest"]
    )


def _improvement(comparison: dict[str, Any], flip: bool) -> tuple[float, float] | None:
    """The CI of the target's improvement over the current version (sign: better > 0)."""
    ci = comparison.get("delta_ci")
    if not ci or ci.get("low") is None:
        return None
    low, high = float(ci["low"]), float(ci["high"])
    if flip:  # the target was the baseline: Δ = current - target
        low, high = -high, -low
    if not comparison.get("higher_is_better", True):
        low, high = -high, -low
    return low, high


def check(
    uow: Any,
    model: dict[str, Any],
    alias: str,
    target: dict[str, Any],
    current: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """The gate's verdict on moving ``alias`` to ``target`` (None when the alias has no gate).
    Raises PolicyViolationError when the move is refused."""
    from mlstudio.data.catalog import get_dataset

    gate = uow.evaluation.gate(model["id"], alias)
    if gate is None:
        return None
    spec = gate["spec"]
    name = model["name"]
    if current is None:
        return {
            "gate": spec,
            "passed": True,
            "note": f"{alias} pointed nowhere: nothing to compare",
        }
    latest = get_dataset(uow, spec["on"]).version
    command = (
        f"mlstudio eval compare models:/{name}/{current['version']} "
        f"models:/{name}/{target['version']} --on {spec['on']} --metric {spec['metric']}"
        f" --margin {spec['margin']}" + "".join(f" --slice {s}" for s in spec.get("slices") or [])
    )
    for row in uow.evaluation.list(dataset=spec["on"], limit=SCAN):
        if row["dataset_version"] != latest:
            continue
        cands = row["candidates"]
        base, others = cands[0], cands[1:]
        if _matches(base, name, current) and any(_matches(c, name, target) for c in others):
            flip, other_name = False, next(c["name"] for c in others if _matches(c, name, target))
        elif _matches(base, name, target) and any(_matches(c, name, current) for c in others):
            flip, other_name = True, next(c["name"] for c in others if _matches(c, name, current))
        else:
            continue
        report = row["report"]
        comparison = next(
            (
                c
                for c in report.get("comparisons", [])
                if c["metric"] == spec["metric"] and c["candidate"] == other_name
            ),
            None,
        )
        if comparison is None:
            continue
        return _decide(spec, row, report, comparison, other_name, flip, alias, name, target)
    raise PolicyViolationError(
        f"alias {alias} of model {name} is gated: no evaluation on {spec['on']}@{latest} "
        f"compares version {target['version']} with version {current['version']} on "
        f"{spec['metric']}",
        hint=f"run: {command}",
    )


def _decide(
    spec: dict[str, Any],
    row: dict[str, Any],
    report: dict[str, Any],
    comparison: dict[str, Any],
    other_name: str,
    flip: bool,
    alias: str,
    name: str,
    target: dict[str, Any],
) -> dict[str, Any]:
    interval = _improvement(comparison, flip)
    margin = float(spec["margin"])
    where = f"evaluation {row['id']}"
    if interval is None:
        raise PolicyViolationError(
            f"alias {alias} of model {name} is gated: {where} has no interval for "
            f"{spec['metric']} ({comparison.get('verdict')})",
            hint="evaluate on more items, or override with an approver's --override-reason",
        )
    low, high = interval
    if not low > -margin:
        raise PolicyViolationError(
            f"alias {alias} of model {name} is gated: version {target['version']} is not "
            f"non-inferior on {spec['metric']} within {margin} ({where}: improvement CI "
            f"[{low:.4g}, {high:.4g}])",
            hint="train a better version, or an approver moves it with --override-reason TEXT",
        )
    worse = []
    for s in report.get("slices", []):
        if s["metric"] != spec["metric"] or s["candidate"] != other_name or not s["tested"]:
            continue
        if spec.get("slices") and s["column"] not in spec["slices"]:
            continue
        p = s.get("adjusted_p")
        delta = s.get("delta")
        if p is None or delta is None or p >= ALPHA:
            continue
        better_sign = 1.0 if s.get("higher_is_better", True) else -1.0
        improvement = -delta if flip else delta
        if improvement * better_sign < 0:
            worse.append(f"{s['column']}={s['value']} (adjusted p {p:.3g})")
    if worse:
        raise PolicyViolationError(
            f"alias {alias} of model {name} is gated: version {target['version']} is worse on "
            f"{len(worse)} slice(s) after {report.get('correction', 'holm')} correction: "
            f"{', '.join(worse[:3])} ({where})",
            hint="fix the regression on that slice, or an approver uses --override-reason TEXT",
        )
    return {
        "gate": spec,
        "passed": True,
        "evaluation": row["id"],
        "improvement_ci": [low, high],
        "verdict": comparison.get("verdict"),
    }
