"""Online-experiment lift on a business metric: Welch/delta-method CIs, CUPED and SRM.

Rows are logged events (one per outcome); they are first aggregated per randomisation unit:
the metric and the denominator are summed, the pre-period covariate is the unit's first value.
Each variant's estimate is then the mean of the unit sums (or, for a ratio metric, sum of
numerators / sum of denominators) with a variance from its linearisation: the unit values
themselves for a mean, ``(y - R·d) / mean(d)`` for a ratio (the delta method, Deng et al. 2018).
CUPED subtracts ``theta·(x - mean x)`` from those linearised values with one theta pooled over
all variants (within-variant covariance / variance), which keeps the estimate unbiased and
shrinks its variance by about corr(y, x)². A unit logged under two variants is refused: it means
the assignment leaked, and dropping such units silently would bias the comparison.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from mlstudio.errors import InvalidInputError

SRM_ALPHA = 0.001


@dataclass(frozen=True)
class LiftResult:
    """One treatment against the control on one metric."""

    metric: str
    control: str
    treatment: str
    n_control: int  # units
    n_treatment: int
    mean_control: float  # unadjusted (mean of unit sums, or the ratio)
    mean_treatment: float
    lift_abs: float  # treatment - control (CUPED-adjusted when cuped)
    lift_rel: float  # lift_abs / control
    ci_abs: tuple[float, float]
    ci_rel: tuple[float, float]
    p_value: float
    cuped: bool
    variance_reduction: float | None  # share of the estimator's variance removed by CUPED
    ratio: bool
    srm_p: float
    srm_ok: bool
    notes: tuple[str, ...]
    confidence: float = 0.95

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: tuples become lists, NaN becomes None."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, float) and math.isnan(value):
                out[key] = None
        out["ci_abs"] = [None if math.isnan(v) else v for v in self.ci_abs]
        out["ci_rel"] = [None if math.isnan(v) else v for v in self.ci_rel]
        out["notes"] = list(self.notes)
        return out


@dataclass(frozen=True)
class _Units:
    variant: Any  # per unit: variant code
    names: list[str]  # variant code -> label
    y: Any  # per unit: metric sum
    d: Any | None  # per unit: denominator sum
    x: Any | None  # per unit: first pre-period value


def _column(rows: Mapping[str, Sequence], name: str, role: str) -> Sequence:
    if name not in rows:
        present = ", ".join(sorted(map(str, rows))) or "none"
        raise InvalidInputError(
            f"{role} column {name!r} is not in the data (columns: {present})",
            hint=f"pass the name of the {role} column",
        )
    return rows[name]


def _numbers(values: Sequence, name: str) -> Any:
    import numpy as np

    try:
        arr = np.array([math.nan if v is None else v for v in values], dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"column {name!r} must be numeric: {exc}", hint=f"convert {name!r} to numbers"
        ) from exc
    return arr


def _aggregate(
    rows: Mapping[str, Sequence],
    metric: str,
    variant_column: str,
    unit_column: str,
    pre_period_column: str | None,
    denominator_column: str | None,
    notes: list[str],
) -> _Units:
    import numpy as np

    variants = _column(rows, variant_column, "variant")
    units = _column(rows, unit_column, "unit")
    y_rows = _numbers(_column(rows, metric, "metric"), metric)
    cols = {variant_column: variants, unit_column: units, metric: y_rows}
    d_rows = x_rows = None
    if denominator_column is not None:
        d_rows = _numbers(_column(rows, denominator_column, "denominator"), denominator_column)
        cols[denominator_column] = d_rows
    if pre_period_column is not None:
        x_rows = _numbers(_column(rows, pre_period_column, "pre-period"), pre_period_column)
        cols[pre_period_column] = x_rows
    lengths = {name: len(v) for name, v in cols.items()}
    if len(set(lengths.values())) > 1:
        raise InvalidInputError(
            f"columns have different lengths: {lengths}", hint="pass one value per row in each"
        )
    for name, arr in ((metric, y_rows), (denominator_column, d_rows)):
        if arr is not None and np.isnan(arr).any():
            raise InvalidInputError(
                f"column {name!r} has {int(np.isnan(arr).sum())} missing values",
                hint="fill missing outcomes (usually 0) or drop those rows",
            )
    if len(y_rows) == 0:
        raise InvalidInputError("the experiment has no rows", hint="pass the logged outcomes")

    unit_code: dict[Any, int] = {}
    u = np.fromiter((unit_code.setdefault(v, len(unit_code)) for v in units), dtype=np.int64)
    labels = sorted({str(v) for v in variants})
    vpos = {label: i for i, label in enumerate(labels)}
    v = np.fromiter((vpos[str(x)] for x in variants), dtype=np.int64)
    n_units = len(unit_code)

    pairs = np.unique(u * len(labels) + v)
    per_unit = np.bincount(pairs // len(labels), minlength=n_units)
    mixed = np.flatnonzero(per_unit > 1)
    if mixed.size:
        names = list(unit_code)
        examples = ", ".join(repr(names[i]) for i in mixed[:3])
        raise InvalidInputError(
            f"{mixed.size} units appear in more than one variant (e.g. {examples})",
            hint="fix the assignment log (one variant per unit) or filter those units out",
        )
    unit_variant = np.empty(n_units, dtype=np.int64)
    unit_variant[u] = v
    y = np.bincount(u, weights=y_rows, minlength=n_units)
    d = None if d_rows is None else np.bincount(u, weights=d_rows, minlength=n_units)
    x = None
    if x_rows is not None:
        first = np.full(n_units, -1, dtype=np.int64)
        first[u[::-1]] = np.arange(len(u))[::-1]  # the last write wins: the first row per unit
        x = x_rows[first]
        missing = np.isnan(x)
        if missing.all():
            raise InvalidInputError(
                f"pre-period column {pre_period_column!r} has no values",
                hint="drop pre_period_column or fill it",
            )
        if missing.any():
            x = np.where(missing, float(np.nanmean(x)), x)
            notes.append(
                f"{int(missing.sum())} units had no pre-period value; CUPED used the pooled "
                "mean for them (no adjustment)"
            )
    return _Units(unit_variant, labels, y, d, x)


def _srm(counts: Any, names: list[str], expected_split: Mapping[str, float] | None) -> float:
    import numpy as np
    from scipy.stats import chisquare

    if expected_split is None:
        shares = np.full(len(names), 1.0 / len(names))
    else:
        split = {str(k): float(w) for k, w in expected_split.items()}
        missing = [n for n in names if n not in split]
        extra = [k for k in split if k not in names]
        if missing or extra or any(w <= 0 for w in split.values()):
            raise InvalidInputError(
                f"expected_split {dict(split)} does not match the variants {names}",
                hint="give every variant a positive share (they are normalised to sum to 1)",
            )
        shares = np.array([split[n] for n in names])
        shares = shares / shares.sum()
    return float(chisquare(counts, counts.sum() * shares).pvalue)


def _estimates(units: _Units) -> tuple[Any, Any]:
    """Per variant: estimate, and per unit the linearised (influence) values centred to 0."""
    import numpy as np

    k = len(units.names)
    est = np.empty(k)
    infl = np.empty(len(units.y))
    for code in range(k):
        mask = units.variant == code
        y = units.y[mask]
        if units.d is None:
            est[code] = y.mean()
            infl[mask] = y - est[code]
        else:
            d = units.d[mask]
            if d.mean() == 0:
                raise InvalidInputError(
                    f"the denominator sums to 0 in variant {units.names[code]!r}",
                    hint="a ratio metric needs a positive denominator (e.g. sessions) per variant",
                )
            est[code] = y.sum() / d.sum()
            infl[mask] = (y - est[code] * d) / d.mean()
    return est, infl


def _cuped(units: _Units, est: Any, infl: Any) -> tuple[Any, Any]:
    """CUPED-adjusted estimates and linearised values with one pooled theta."""
    import numpy as np

    x = units.x
    xc = np.empty_like(x)
    means = np.empty(len(units.names))
    for code in range(len(units.names)):
        mask = units.variant == code
        means[code] = x[mask].mean()
        xc[mask] = x[mask] - means[code]
    var_x = float(xc @ xc)
    theta = float(infl @ xc) / var_x if var_x > 0 else 0.0
    grand = float(x.mean())
    return est - theta * (means - grand), infl - theta * xc


def _variances(units: _Units, infl: Any) -> Any:
    import numpy as np

    out = np.empty(len(units.names))
    for code in range(len(units.names)):
        vals = infl[units.variant == code]
        out[code] = vals.var(ddof=1) / len(vals)
    return out


def _pick(names: list[str], control: str | None, treatment: str | None) -> tuple[str, list[str]]:
    if len(names) < 2:
        raise InvalidInputError(
            f"the experiment has one variant ({names[0]!r}); lift needs a control and a treatment",
            hint="check the variant column, or that both arms were logged",
        )
    if control is None:
        control = "control" if "control" in names else names[0]
    for role, name in (("control", control), ("treatment", treatment)):
        if name is not None and name not in names:
            raise InvalidInputError(
                f"{role} {name!r} is not a variant (variants: {', '.join(names)})",
                hint=f"pass one of the variants as {role}",
            )
    if treatment == control:
        raise InvalidInputError(
            f"control and treatment are both {control!r}", hint="pick two different variants"
        )
    return control, [treatment] if treatment else [n for n in names if n != control]


def analyse_lift(
    rows: Mapping[str, Sequence],
    *,
    metric: str,
    variant_column: str,
    unit_column: str,
    control: str | None = None,
    treatment: str | None = None,
    pre_period_column: str | None = None,
    denominator_column: str | None = None,
    expected_split: Mapping[str, float] | None = None,
    confidence: float = 0.95,
) -> list[LiftResult]:
    """Lift of every treatment (or the one named) over the control on ``metric``.

    ``rows`` maps column -> values, one row per logged event. Variant labels are compared as
    strings. The default control is "control" if present, else the first variant in sorted order.
    """
    import numpy as np
    from scipy import stats

    if not 0 < confidence < 1:
        raise InvalidInputError(f"confidence is {confidence}", hint="use e.g. 0.95")
    notes: list[str] = []
    units = _aggregate(
        rows, metric, variant_column, unit_column, pre_period_column, denominator_column, notes
    )
    names = units.names
    chosen, treatments = _pick(names, control, treatment)
    if control is None:
        notes.append(
            f"control variant: {chosen!r} (default: 'control' if present, else the first "
            "variant in sorted order)"
        )
    else:
        notes.append(f"control variant: {chosen!r}")
    control = chosen
    counts = np.bincount(units.variant, minlength=len(names))
    for name, count in zip(names, counts, strict=True):
        if count < 2:
            raise InvalidInputError(
                f"variant {name!r} has {int(count)} unit; a variance needs at least 2",
                hint="collect more units before analysing the experiment",
            )
    srm_p = _srm(counts, names, expected_split)
    srm_ok = srm_p >= SRM_ALPHA
    if not srm_ok:
        observed = ", ".join(f"{n}={int(c)}" for n, c in zip(names, counts, strict=True))
        notes.append(
            f"sample ratio mismatch: unit counts {observed} (chi-square p={srm_p:.2g}) differ "
            "from the expected split; results are not trustworthy"
        )
    est, infl = _estimates(units)
    var_raw = _variances(units, infl)
    cuped = units.x is not None
    if cuped:
        adj_est, adj_infl = _cuped(units, est, infl)
        var = _variances(units, adj_infl)
    else:
        adj_est, var = est, var_raw
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    c = names.index(control)
    results = []
    for t_name in treatments:
        t = names.index(t_name)
        diff = float(adj_est[t] - adj_est[c])
        a, b = float(var[t]), float(var[c])
        se = math.sqrt(a + b)
        df = (a + b) ** 2 / (a * a / (counts[t] - 1) + b * b / (counts[c] - 1)) if se else math.inf
        q = float(stats.t.ppf(0.5 + confidence / 2, df))
        if se > 0:
            p_value = float(2 * stats.t.sf(abs(diff) / se, df))
        else:
            p_value = 1.0 if diff == 0 else 0.0
        local = list(notes)
        base = float(adj_est[c])
        if base != 0:
            rel = diff / base
            se_rel = math.sqrt(a / base**2 + float(adj_est[t]) ** 2 * b / base**4)
            ci_rel = (rel - z * se_rel, rel + z * se_rel)
        else:
            rel, ci_rel = math.nan, (math.nan, math.nan)
            local.append("the control's mean is 0: relative lift is undefined")
        reduction = None
        if cuped:
            raw = float(var_raw[t] + var_raw[c])
            reduction = float(min(1.0, max(0.0, 1 - (a + b) / raw))) if raw > 0 else 0.0
            local.append("lift is CUPED-adjusted; mean_control/mean_treatment are unadjusted")
        if se == 0:
            local.append("zero variance in both variants: the interval is a point")
        results.append(
            LiftResult(
                metric=metric,
                control=control,
                treatment=t_name,
                n_control=int(counts[c]),
                n_treatment=int(counts[t]),
                mean_control=float(est[c]),
                mean_treatment=float(est[t]),
                lift_abs=diff,
                lift_rel=rel,
                ci_abs=(diff - q * se, diff + q * se),
                ci_rel=ci_rel,
                p_value=p_value,
                cuped=cuped,
                variance_reduction=reduction,
                ratio=units.d is not None,
                srm_p=srm_p,
                srm_ok=srm_ok,
                notes=tuple(local),
                confidence=confidence,
            )
        )
    return results
