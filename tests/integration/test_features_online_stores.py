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


def test_installations_sharing_one_redis_keep_their_own_values(tmp_path):
    view = f"t{uuid.uuid4().hex[:8]}/v@1"
    key = encode_key(["1"], ["string"])
    ours, theirs = (open_store("redis", tmp_path, prefix=p) for p in ("install_a", "install_b"))
    try:
        assert ours.write(view, [(key, 100, 100, {"x": 1})]) == 1
        assert theirs.write(view, [(key, 50, 50, {"x": 2})]) == 1  # not "older than ours"
        assert ours.read(view, [key], ["x"]) == [(100, {"x": 1})]
        assert theirs.read(view, [key], ["x"]) == [(50, {"x": 2})]
        theirs.delete_view(view)
        assert ours.read(view, [key], ["x"]) == [(100, {"x": 1})]
        assert theirs.read(view, [key], ["x"]) == [None]
    finally:
        ours.delete_view(view)
        ours.close()
        theirs.close()


def test_each_installation_has_its_own_id_and_its_redis_keys_use_it(tmp_path):
    from mlstudio.integrations.features.service import FeatureService
    from mlstudio.platform import Platform
    from mlstudio.settings import Settings

    ids = []
    for name in ("one", "two"):
        home = tmp_path / name
        home.mkdir()
        platform = Platform.open(
            Settings(home=home, database_url=f"sqlite:///{home / 'studio.db'}", user="alice")
        )
        try:
            ids.append(platform.store.installation_id())
            service = FeatureService(platform.store, platform.cas, home)
            assert service.online("redis").prefix == ids[-1]
        finally:
            platform.close()
    assert ids[0] != ids[1] and all(len(i) == 16 for i in ids)
