"""Both online stores keep the newest value per key: an older event (or, at the same event
time, an older knowledge time) never overwrites a newer one. Real SQLite and real Redis."""

from __future__ import annotations

import uuid

import pytest

from mlstudio.integrations.features.online import encode_key, open_store


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_newest_value_per_key_wins(kind, tmp_path):
    store = open_store(kind, tmp_path)
    view = f"t{uuid.uuid4().hex[:8]}/v@1"
    key = encode_key(["1", "23"], ["string", "string"])
    other = encode_key(["12", "3"], ["string", "string"])
    assert key != other
    try:
        assert store.write(view, [(key, 200, 200, {"x": 2, "y": "b"})]) == 1
        assert store.write(view, [(key, 100, 300, {"x": 1, "y": "a"})]) == 0  # older event
        assert store.read(view, [key, other], ["x"]) == [(200, {"x": 2}), None]
        assert store.write(view, [(key, 200, 250, {"x": 3, "y": "c"})]) == 1  # later knowledge
        assert store.write(view, [(key, 200, 240, {"x": 4, "y": "d"})]) == 0
        assert store.read(view, [key], ["x", "y", "z"]) == [(200, {"x": 3, "y": "c", "z": None})]
    finally:
        if kind == "redis":
            store.delete_view(view)
        store.close()
