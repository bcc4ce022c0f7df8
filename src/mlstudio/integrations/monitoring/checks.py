"""The two checks over a period-indexed frame: per-window drift per slice, metric series.

Drift: each numeric feature is binned once on its reference's quantiles (10 bins for PSI and
χ², 100 fine bins for KS) with ``searchsorted``, and counted per (window, slice) with one
``bincount`` per slicing; categorical features are counted per category. The tests of one
window (features x slices x tests) form one Benjamini-Hochberg family.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlstudio.integrations.monitoring import drift
from mlstudio.integrations.monitoring.windows import Frame, codes, grouped_counts

FINE_BINS = 100


def is_numeric(values: Any) -> bool:
    import numpy as np

    return np.asarray(values).dtype.kind in "iuf"


def _slicings(
    cur: Frame, ref: dict[str, Any], dims: Sequence[str], cap: int
) -> tuple[list[tuple[str, Any, Any, list[str]]], dict[str, int]]:
    """[(dim, current codes, reference codes, labels)] with ("", zeros, zeros, [""]) first."""
    import numpy as np

    n_cur = len(cur.period)
    n_ref = len(next(iter(ref.values()))) if ref else 0
    out = [("", np.zeros(n_cur, dtype=np.int64), np.zeros(n_ref, dtype=np.int64), [""])]
    capped: dict[str, int] = {}
    for d in dims:
        c, labels, dropped = codes(cur.columns[d], cap)
        if dropped:
            capped[d] = dropped
        index = {label: i for i, label in enumerate(labels)}
        r = (
            np.array([index.get(v, -1) for v in np.asarray(ref[d]).astype(str)], dtype=np.int64)
            if d in ref
            else np.full(n_ref, -1, dtype=np.int64)
        )
        out.append((d, c, r, labels))
    return out, capped


def drift_windows(
    cur: Frame,
    ref: dict[str, Any],
    features: Sequence[str],
    dims: Sequence[str],
    periods: Sequence[int],
    *,
    alpha: float = 0.05,
    bins: int = drift.DEFAULT_BINS,
    ks_floor: float = drift.DEFAULT_KS_FLOOR,
    max_slices: int = 50,
    min_rows: int = 20,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """One row per (window, slice): status ``drift``/``ok``/``too_few``/``no_data`` and the
    per-feature results; plus the slice columns whose values were capped (how many)."""
    import numpy as np

    periods = sorted(periods)
    pos = {p: i for i, p in enumerate(periods)}
    lookup = np.full(1, -1)
    if periods:
        lo = periods[0]
        lookup = np.full(periods[-1] - lo + 1, -1, dtype=np.int64)
        for p, i in pos.items():
            lookup[p - lo] = i
        inside = (cur.period >= lo) & (cur.period <= periods[-1])
        ppos = np.where(inside, lookup[np.clip(cur.period - lo, 0, len(lookup) - 1)], -1)
    else:
        ppos = np.full(len(cur.period), -1, dtype=np.int64)
    slicings, capped = _slicings(cur, ref, dims, max_slices)
    n_p = len(periods)
    # tests[(window index, dim, label)] = {feature: [DriftResult, ...]}
    tests: dict[tuple[int, str, str], dict[str, list[drift.DriftResult]]] = {}
    sizes: dict[tuple[int, str, str], tuple[int, int]] = {}
    for f in features:
        x = cur.columns[f]
        r = np.asarray(ref[f])
        numeric = is_numeric(x) and is_numeric(r)
        if numeric:
            x = x.astype(float)
            r = r.astype(float)
            good_x, good_r = ~np.isnan(x), ~np.isnan(r)
            coarse = drift.quantile_edges(r[good_r], bins)
            fine = drift.quantile_edges(r[good_r], FINE_BINS)
            fx, fr = np.searchsorted(fine, x), np.searchsorted(fine, r)
            # coarse bins are unions of fine bins when every coarse edge is a fine edge: one
            # searchsorted per side, the PSI counts summed from the fine counts
            at = np.searchsorted(fine, coarse)
            nested = bool(
                np.all(at < len(fine))
                and np.array_equal(fine[np.minimum(at, len(fine) - 1)], coarse)
            )
            if nested:
                kinds = [("ks+psi", fx, fr, len(fine) + 1)]
                starts = np.concatenate([[0], at + 1])
            else:
                kinds = [
                    (
                        "psi",
                        np.searchsorted(coarse, x),
                        np.searchsorted(coarse, r),
                        len(coarse) + 1,
                    ),
                    ("ks", fx, fr, len(fine) + 1),
                ]
        else:
            xs, rs = np.asarray(x).astype(str), r.astype(str)
            cats, inv = np.unique(np.concatenate([rs, xs]), return_inverse=True)
            good_x, good_r = np.ones(len(xs), bool), np.ones(len(rs), bool)
            kinds = [("chi2", inv[len(rs) :], inv[: len(rs)], len(cats))]
        for dim, c_codes, r_codes, labels in slicings:
            n_s = len(labels)
            group = np.where((ppos >= 0) & (c_codes >= 0) & good_x, ppos * n_s + c_codes, -1)
            r_group = np.where((r_codes >= 0) & good_r, r_codes, -1)
            expanded = []
            for kind, cb, rb, nb in kinds:
                cc = grouped_counts(cb, group, n_p * n_s, nb)
                rc = np.tile(grouped_counts(rb, r_group, n_s, nb), (n_p, 1))
                if kind == "ks+psi":
                    expanded.append(("ks", cc, rc))
                    expanded.append(("psi", np.add.reduceat(cc, starts, axis=1),
                                     np.add.reduceat(rc, starts, axis=1)))  # fmt: skip
                else:
                    expanded.append((kind, cc, rc))
            for kind, cc, rc in expanded:
                m_all, n_all = cc.sum(axis=1), rc.sum(axis=1)
                valid = (m_all >= min_rows) & (n_all >= min_rows)
                if kind == "psi":
                    stat, thr, pv = drift.psi_many(rc, cc, alpha=alpha)
                elif kind == "ks":
                    stat, thr, pv = drift.ks_many(rc, cc, alpha=alpha, effect_floor=ks_floor)
                for g in range(n_p * n_s):
                    w, s_i = divmod(g, n_s)
                    key = (w, dim, labels[s_i])
                    n, m = int(n_all[g]), int(m_all[g])
                    sizes[key] = (n, max(m, sizes.get(key, (0, 0))[1]))
                    if not valid[g]:
                        continue
                    if kind == "chi2":
                        res = drift.chi2_counts(rc[g], cc[g], alpha=alpha)
                    else:
                        st, th, pp = float(stat[g]), float(thr[g]), float(pv[g])
                        fired = st > th if kind == "psi" else (pp < alpha and st >= ks_floor)
                        effect = st if kind == "ks" else None
                        res = drift.DriftResult(kind, st, th, pp, n, m, effect, fired)
                    tests.setdefault(key, {}).setdefault(f, []).append(res)
    rows = []
    for w, p in enumerate(periods):
        keys = [(w, dim, label) for dim, _, _, labels in slicings for label in labels]
        family = [
            (key, f, res)
            for key in keys
            for f, results in tests.get(key, {}).items()
            for res in results
        ]
        rejected = drift.bh([res.p_value for _, _, res in family], alpha) if family else []
        drifted: dict[tuple[int, str, str], dict[str, list[dict[str, Any]]]] = {}
        for (key, f, res), rej in zip(family, rejected, strict=True):
            fired = rej and (res.test != "ks" or (res.effect or 0) >= ks_floor)
            entry = {**res.as_dict(), "fired": fired}
            drifted.setdefault(key, {}).setdefault(f, []).append(entry)
        for key in keys:
            _, dim, label = key
            n_ref, n_cur = sizes.get(key, (0, 0))
            results = drifted.get(key, {})
            if n_cur == 0:
                status = "no_data"
            elif not results:
                status = "too_few"
            elif any(e["fired"] for es in results.values() for e in es):
                status = "drift"
            else:
                status = "ok"
            rows.append(
                {
                    "period": p,
                    "slice": f"{dim}={label}" if dim else "",
                    "status": status,
                    "result": {
                        "n": n_cur,
                        "n_reference": n_ref,
                        "drifted": sorted(
                            f for f, es in results.items() if any(e["fired"] for e in es)
                        ),
                        "features": results,
                    },
                }
            )
    return rows, capped


AGGREGATES = {"sum": "SUM", "mean": "AVG", "count": "COUNT", "min": "MIN", "max": "MAX"}


def metric_series(
    table: Any,
    time_column: str,
    size: int,
    now_period: int,
    dims: Sequence[str],
    agg: str,
    column: str | None,
    cap: int,
) -> tuple[dict[str, tuple[dict[str, str], dict[int, float]]], int]:
    """Per slice (``""`` = the total; else each dimension combination, the ``cap`` largest),
    ``(dims, {period: value})`` over complete periods; returns also how many were capped.
    Periods without rows are absent (no data), never zero."""
    import duckdb

    fn = AGGREGATES[agg]
    value = "COUNT(*)" if agg == "count" else f'{fn}(CAST("{column}" AS DOUBLE))'
    period = f'CAST(floor(epoch(CAST("{time_column}" AS TIMESTAMPTZ)) / {size}) AS BIGINT)'
    dim_cols = ", ".join(f'"{d}"' for d in dims)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("src", table)
        base = f"SELECT {period} AS __p, * FROM src"
        total = con.execute(
            f"SELECT __p, {value} AS v FROM ({base}) WHERE __p < ? GROUP BY __p", [now_period]
        ).fetchall()
        out: dict[str, tuple[dict[str, str], dict[int, float]]] = {
            "": ({}, {int(p): float(v) for p, v in total if v is not None})
        }
        capped = 0
        if dims:
            top = con.execute(
                f"SELECT {dim_cols}, COUNT(*) AS n FROM src GROUP BY ALL ORDER BY n DESC"
            ).fetchall()
            capped = max(len(top) - cap, 0)
            keep = {tuple(str(x) for x in row[:-1]) for row in top[:cap]}
            rows = con.execute(
                f"SELECT __p, {dim_cols}, {value} AS v FROM ({base}) WHERE __p < ? GROUP BY ALL",
                [now_period],
            ).fetchall()
            for row in rows:
                combo = tuple(str(x) for x in row[1:-1])
                if combo not in keep or row[-1] is None:
                    continue
                d = dict(zip(dims, combo, strict=True))
                label = ",".join(f"{k}={v}" for k, v in d.items())
                out.setdefault(label, (d, {}))[1][int(row[0])] = float(row[-1])
    finally:
        con.close()
    return out, capped
