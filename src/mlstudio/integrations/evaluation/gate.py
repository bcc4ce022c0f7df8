"""Evaluation gates on protected aliases: "``champion`` moves only to a version that an
evaluation on E showed non-inferior to the current champion on metric M within margin δ, and
not worse on any slice after correction".

The gate reads stored evaluations (``mlstudio eval compare``), it never scores anything inside
the alias move: the move finds the newest evaluation on the latest version of E that compared
the target version (by digest) with the alias's current version (by digest) on M, and decides
from its stored intervals. No such evaluation refuses the move with the command that makes one.
"""

from __future__ import annotations

from collections.abc import Callable
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
    found = find_comparison(
        uow,
        spec["on"],
        latest,
        spec["metric"],
        lambda c: _matches(c, name, current),
        lambda c: _matches(c, name, target),
    )
    if found is not None:
        return decide(
            spec,
            *found,
            f"alias {alias} of model {name}",
            f"version {target['version']}",
        )
    raise PolicyViolationError(
        f"alias {alias} of model {name} is gated: no evaluation on {spec['on']}@{latest} "
        f"compares version {target['version']} with version {current['version']} on "
        f"{spec['metric']}",
        hint=f"run: {command}",
    )


def find_comparison(
    uow: Any,
    dataset: str,
    version: int,
    metric: str,
    is_current: Callable[[dict[str, Any]], bool],
    is_target: Callable[[dict[str, Any]], bool],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], str, bool] | None:
    """The newest stored evaluation on ``dataset@version`` comparing a candidate that
    ``is_current`` with one that ``is_target`` (either may be the baseline) on ``metric``:
    (row, report, comparison, the non-baseline candidate's name, flip), or None."""
    for row in uow.evaluation.list(dataset=dataset, limit=SCAN):
        if row["dataset_version"] != version:
            continue
        cands = row["candidates"]
        base, others = cands[0], cands[1:]
        if is_current(base) and any(is_target(c) for c in others):
            flip, other_name = False, next(c["name"] for c in others if is_target(c))
        elif is_target(base) and any(is_current(c) for c in others):
            flip, other_name = True, next(c["name"] for c in others if is_current(c))
        else:
            continue
        report = row["report"]
        comparison = next(
            (
                c
                for c in report.get("comparisons", [])
                if c["metric"] == metric and c["candidate"] == other_name
            ),
            None,
        )
        if comparison is not None:
            return row, report, comparison, other_name, flip
    return None


def decide(
    spec: dict[str, Any],
    row: dict[str, Any],
    report: dict[str, Any],
    comparison: dict[str, Any],
    other_name: str,
    flip: bool,
    subject: str,
    candidate: str,
) -> dict[str, Any]:
    """Pass or refuse from a stored evaluation: ``comparison`` (of ``other_name`` against the
    baseline; ``flip`` when the target was the baseline) must be non-inferior within
    ``spec['margin']`` on ``spec['metric']`` and no slice significantly worse after correction.
    ``subject`` ("alias champion of model churn") and ``candidate`` ("version 4") word the
    refusal."""
    interval = _improvement(comparison, flip)
    margin = float(spec["margin"])
    where = f"evaluation {row['id']}"
    if interval is None:
        raise PolicyViolationError(
            f"{subject} is gated: {where} has no interval for "
            f"{spec['metric']} ({comparison.get('verdict')})",
            hint="evaluate on more items, or override with an approver's --override-reason",
        )
    low, high = interval
    if not low > -margin:
        raise PolicyViolationError(
            f"{subject} is gated: {candidate} is not "
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
            f"{subject} is gated: {candidate} is worse on "
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
