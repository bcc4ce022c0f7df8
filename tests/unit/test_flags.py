"""Flag evaluation (OpenFeature semantics): reasons, sticky splits, never raising."""

from __future__ import annotations

from collections import Counter

from mlstudio.integrations.serving.flags import BUCKETS, bucket_of, resolve


def flag(**over):
    base = {
        "key": "serve.m.route",
        "kind": "string",
        "enabled": True,
        "variants": {"champion": "champion", "challenger": "challenger"},
        "default_variant": "champion",
        "rules": [],
        "split": None,
        "salt": "s1",
    }
    return {**base, **over}


def test_static_default_and_the_callers_default_on_every_error():
    r = resolve(flag(), "serve.m.route", "x")
    assert (r.value, r.variant, r.reason, r.error_code) == ("champion", "champion", "STATIC", None)
    missing = resolve(None, "nope", "safe")
    assert (missing.value, missing.reason, missing.error_code) == (
        "safe",
        "ERROR",
        "FLAG_NOT_FOUND",
    )
    mistyped = resolve(flag(), "serve.m.route", False)
    assert (mistyped.value, mistyped.error_code) == (False, "TYPE_MISMATCH")
    disabled = resolve(flag(enabled=False), "serve.m.route", "safe")
    assert (disabled.value, disabled.reason) == ("safe", "DISABLED")
    broken = resolve(flag(default_variant="gone"), "serve.m.route", "safe")
    assert (broken.value, broken.reason, broken.error_code) == ("safe", "ERROR", "GENERAL")


def test_rules_match_first_and_split_without_subject_is_the_default():
    f = flag(
        rules=[{"attribute": "plan", "in": ["enterprise"], "variant": "challenger"}],
        split=[{"variant": "champion", "weight": 1}, {"variant": "challenger", "weight": 1}],
    )
    hit = resolve(f, f["key"], "x", "u1", {"plan": "enterprise"})
    assert (hit.variant, hit.reason) == ("challenger", "TARGETING_MATCH")
    nobody = resolve(f, f["key"], "x", None, {"plan": "starter"})
    assert (nobody.variant, nobody.reason) == ("champion", "DEFAULT")


def test_split_is_sticky_proportional_and_widening_never_moves_a_subject_back():
    ten = flag(
        split=[{"variant": "champion", "weight": 90}, {"variant": "challenger", "weight": 10}]
    )
    twenty = flag(
        split=[{"variant": "champion", "weight": 80}, {"variant": "challenger", "weight": 20}]
    )
    subjects = [f"user-{i}" for i in range(10_000)]
    first = {s: resolve(ten, ten["key"], "x", s).variant for s in subjects}
    again = {s: resolve(ten, ten["key"], "x", s).variant for s in subjects}
    assert first == again
    counts = Counter(first.values())
    assert 850 <= counts["challenger"] <= 1150  # 10 % of 10,000, within ~3.3 sigma
    wider = {s: resolve(twenty, twenty["key"], "x", s).variant for s in subjects}
    assert all(wider[s] == "challenger" for s in subjects if first[s] == "challenger")
    assert 1750 <= Counter(wider.values())["challenger"] <= 2250
    r = resolve(ten, ten["key"], "x", "user-1")
    assert r.reason == "SPLIT" and r.bucket == bucket_of("s1", ten["key"], "user-1")
    assert 0 <= r.bucket < BUCKETS


def test_the_salt_and_the_key_decorrelate_buckets():
    subjects = [f"u{i}" for i in range(2000)]
    a = [bucket_of("s1", "k1", s) < BUCKETS // 2 for s in subjects]
    b = [bucket_of("s2", "k1", s) < BUCKETS // 2 for s in subjects]
    c = [bucket_of("s1", "k2", s) < BUCKETS // 2 for s in subjects]
    agree_ab = sum(x == y for x, y in zip(a, b, strict=True)) / len(subjects)
    agree_ac = sum(x == y for x, y in zip(a, c, strict=True)) / len(subjects)
    assert 0.45 < agree_ab < 0.55 and 0.45 < agree_ac < 0.55
