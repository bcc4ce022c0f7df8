"""The point-in-time join: exclusive label time, max_age, knowledge time, composite keys, and a
hypothesis cross-check against a brute-force Python reference."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlstudio.errors import InvalidInputError
from mlstudio.integrations.features.pit import ViewInput, join

T0 = datetime(2026, 1, 1)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def view(rows, *, keys=(("cid", "string"),), knowledge=True, max_age_s=None, alias="fv0"):
    cols = {k: [r[i] for r in rows] for i, (k, _) in enumerate(keys)}
    n = len(keys)
    cols["ts"] = pa.array([r[n] for r in rows], pa.timestamp("us"))
    if knowledge:
        cols["known"] = pa.array([r[n + 1] for r in rows], pa.timestamp("us"))
    cols["x"] = pa.array([r[-1] for r in rows], pa.int64())
    return ViewInput(
        alias=alias,
        table=pa.table(cols),
        join_keys=[list(k) for k in keys],
        event_time="ts",
        knowledge_time="known" if knowledge else None,
        max_age_s=max_age_s,
        features=[("x", "int64", "x")],
    )


def entities(rows, keys=("cid",)):
    cols = {k: [r[i] for r in rows] for i, k in enumerate(keys)}
    cols["label_time"] = pa.array([r[len(keys)] for r in rows], pa.timestamp("us"))
    return pa.table(cols)


def xs(table):
    return table.column("x").to_pylist()


def test_value_exactly_at_label_time_is_excluded_by_default():
    v = view([("a", day(1), day(1), 1), ("a", day(5), day(5), 2)])
    e = entities([("a", day(5))])
    assert xs(join(e, [v], "label_time")) == [1]
    assert xs(join(e, [v], "label_time", inclusive=True)) == [2]


def test_late_correction_not_used_before_its_knowledge_time():
    # value 1 at day 1; a correction (99) of day 2 is only known at day 10
    v = view([("a", day(1), day(1), 1), ("a", day(2), day(10), 99)])
    e = entities([("a", day(5)), ("a", day(11))])
    assert xs(join(e, [v], "label_time")) == [1, 99]
    # the leak the default prevents: without the knowledge filter the day-5 label sees 99
    assert xs(join(e, [v], "label_time", known_by=False)) == [99, 99]


def test_older_than_max_age_is_missing():
    v = view([("a", day(1), day(1), 1)], max_age_s=3 * 86400)
    e = entities([("a", day(3)), ("a", day(4)), ("a", day(4.5))])
    assert xs(join(e, [v], "label_time")) == [1, 1, None]
    assert xs(join(e, [v], "label_time", known_by=False)) == [1, 1, None]


def test_composite_keys_are_typed_tuples():
    keys = (("a", "string"), ("b", "string"))
    v = view([("1", "23", day(0), day(0), 7), ("12", "3", day(0), day(0), 8)], keys=keys)
    e = entities([("1", "23", day(1)), ("12", "3", day(1)), ("123", "", day(1))], keys=("a", "b"))
    assert xs(join(e, [v], "label_time")) == [7, 8, None]


def test_entity_rows_keep_their_order_across_batches():
    v = view([(str(i % 7), day(0), day(0), i % 7) for i in range(7)])
    e = entities([(str(i % 7), day(1)) for i in range(50)])
    out = join(e, [v], "label_time", batch_rows=8)
    assert out.column("cid").to_pylist() == [str(i % 7) for i in range(50)]
    assert xs(out) == [i % 7 for i in range(50)]


def test_missing_label_column_is_a_clear_error():
    v = view([("a", day(1), day(1), 1)])
    with pytest.raises(InvalidInputError, match="no column label_at"):
        join(entities([("a", day(2))]), [v], "label_at")


def reference(erows, vrows, inclusive, known_by, max_age_s):
    out = []
    for key, t in erows:
        best = None
        for i, (k, et, kt, x) in enumerate(vrows):
            if k != key or (et > t if inclusive else et >= t):
                continue
            if known_by and kt > t:
                continue
            if max_age_s is not None and (t - et).total_seconds() > max_age_s:
                continue
            rank = (et, kt, i)
            if best is None or rank > best[0]:
                best = (rank, x)
        out.append(best[1] if best else None)
    return out


hours = st.integers(min_value=0, max_value=40)


@settings(max_examples=150, deadline=None)
@given(
    vrows=st.lists(
        st.tuples(st.sampled_from(["a", "b", "ab"]), hours, st.integers(0, 10), st.integers()),
        max_size=25,
    ),
    erows=st.lists(st.tuples(st.sampled_from(["a", "b", "ab", "c"]), hours), max_size=15),
    inclusive=st.booleans(),
    known_by=st.booleans(),
    max_age_h=st.one_of(st.none(), st.integers(1, 20)),
)
def test_join_matches_brute_force(vrows, erows, inclusive, known_by, max_age_h):
    vr = [
        (k, T0 + timedelta(hours=h), T0 + timedelta(hours=h + lag), x % 1000)
        for k, h, lag, x in vrows
    ]
    er = [(k, T0 + timedelta(hours=h)) for k, h in erows]
    max_age_s = max_age_h * 3600 if max_age_h else None
    v = view(vr, max_age_s=max_age_s)
    got = xs(join(entities(er), [v], "label_time", inclusive=inclusive, known_by=known_by))
    assert got == reference(er, vr, inclusive, known_by, max_age_s)
