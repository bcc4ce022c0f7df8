"""Canonical JSON: one byte string per value, and refusals that name the offending path."""

from __future__ import annotations

import math

import pytest

from mlstudio.core.canonical import canonical_json
from mlstudio.errors import InvalidInputError


def test_keys_are_sorted_at_every_level_and_whitespace_is_dropped():
    assert canonical_json({"b": 1, "a": [1.5, {"z": None, "y": True}]}) == (
        '{"a":[1.5,{"y":true,"z":null}],"b":1}'
    )
    assert canonical_json(("x", "é")) == '["x","é"]'


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"a": math.nan}, "a is nan; only finite numbers can be hashed"),
        ({"a": [{"b": math.inf}]}, "a[0].b is inf; only finite numbers can be hashed"),
        ([1, -math.inf], "[1] is -inf; only finite numbers can be hashed"),
        ({"a": {1: "x"}}, "a has a non-string key 1"),
        ([{"ok": 1}, {None: 2}], "[1] has a non-string key None"),
    ],
)
def test_values_json_would_coerce_or_reject_are_refused_naming_the_path(value, message):
    with pytest.raises(InvalidInputError) as caught:
        canonical_json(value)
    assert caught.value.message == message
