"""The portal's pure helpers: fan-out folding, the layered DAG layout, Gantt geometry, log
tails, the clone form's typing, and session cookies and CSRF tokens."""

from __future__ import annotations

import pytest

from mlstudio.api.portal import OpenPaths, forms, views
from mlstudio.api.portal.session import Sessions
from mlstudio.errors import InvalidInputError


def task(node: str, state: str = "succeeded", **extra):
    return {"node": node, "state": state, "task": node, "attempt": 1, "cache_hit": False, **extra}


def test_fold_groups_a_mapped_fan_out_with_state_counts():
    tasks = [task("load"), task("train[*]", "running")]
    tasks += [task(f"train[{i}]", "succeeded" if i < 7 else "running") for i in range(10)]
    tasks.append(task("report", "pending"))
    nodes = views.fold_tasks(tasks)
    assert [n.id for n in nodes] == ["load", "train[*]", "report"]
    folded = nodes[1]
    assert folded.mapped and folded.count == 10
    assert dict(folded.states) == {"succeeded": 7, "running": 3}
    assert folded.state == "running"


def test_fold_state_of_a_finished_fan_out_and_one_failure():
    ok = views.fold_tasks([task(f"m[{i}]") for i in range(3)])[0]
    assert ok.state == "succeeded"
    bad = views.fold_tasks([task("m[0]"), task("m[1]", "failed")])[0]
    assert bad.state == "failed"


def test_layout_places_each_node_right_of_its_deepest_dependency():
    tasks = [
        task("a"),
        task("b", deps=["a"]),
        task("c", deps=["a", "b"]),
        task("d"),
        task("m[0]", deps=["a"]),
        task("m[1]", deps=["a"]),
    ]
    layout = views.layout_dag(views.fold_tasks(tasks))
    x = {n.id: n.x for n in layout.nodes}
    assert x["a"] == x["d"] < x["b"] == x["m[*]"] < x["c"]
    edges = {(a.id, b.id) for a, b in layout.edges}
    assert edges == {("a", "b"), ("a", "c"), ("b", "c"), ("a", "m[*]")}
    ys = [(n.x, n.y) for n in layout.nodes]
    assert len(set(ys)) == len(ys)  # no two nodes on the same spot
    assert layout.width >= max(x.values()) + views.NODE_W


def test_depths_survive_a_cycle():
    nodes = views.fold_tasks([task("a", deps=["b"]), task("b", deps=["a"])])
    assert set(views.depths(nodes).values()) <= {0, 1}


def test_gantt_from_timestamps_is_proportional():
    tasks = [
        task("a", started_at="2026-01-01T00:00:00", finished_at="2026-01-01T00:00:10"),
        task(
            "b", started_at="2026-01-01T00:00:10", finished_at="2026-01-01T00:00:40", cache_hit=True
        ),
    ]
    bars, axis = views.gantt(tasks)
    assert axis == 40.0
    assert bars[0].x == 0 and bars[0].w == pytest.approx(0.25)
    assert bars[1].x == pytest.approx(0.25) and bars[1].w == pytest.approx(0.75)
    assert bars[1].cache_hit and not bars[0].estimated


def test_gantt_without_timestamps_follows_dependencies_and_says_so():
    tasks = [
        task("a", duration_s=2.0),
        task("b", duration_s=6.0, deps=["a"]),
        task("c", duration_s=1.0),
    ]
    bars, axis = views.gantt(tasks)
    assert axis == 8.0
    by = {b.node: b for b in bars}
    assert by["b"].x == pytest.approx(0.25) and by["c"].x == 0
    assert all(b.estimated for b in bars)


def test_tail_lines_and_load_earlier():
    text = "\n".join(f"line {i}" for i in range(1000))
    tail, start, total = views.tail_lines(text, 100)
    assert (start, total) == (900, 1000)
    assert tail.splitlines()[0] == "line 900" and tail.splitlines()[-1] == "line 999"
    earlier, start2, _ = views.tail_lines(text, 100, before=start)
    assert start2 == 800 and earlier.splitlines()[-1] == "line 899"
    first, start3, _ = views.tail_lines(text, 100, before=50)
    assert start3 == 0 and len(first.splitlines()) == 50


def test_clone_form_types_fields_and_reads_only_changes():
    params = {"n": 3, "rate": 0.5, "name": "x", "flag": True, "cfg": {"a": 1}}
    fields = {f.name: f for f in forms.param_fields(params)}
    assert {k: f.kind for k, f in fields.items()} == {
        "n": "int",
        "rate": "float",
        "name": "str",
        "flag": "bool",
        "cfg": "json",
    }
    form = {"p:n": "4", "p:rate": "0.5", "p:name": "x", "p:cfg": '{"a": 2}'}  # flag unticked
    assert forms.read_params(params, form) == {"n": 4, "flag": False, "cfg": {"a": 2}}
    assert forms.read_params(params, {"json": '{"n": 9}'}) == {"n": 9}
    with pytest.raises(InvalidInputError, match="not a valid int"):
        forms.read_params(params, {"p:n": "four"})
    with pytest.raises(InvalidInputError, match="JSON object"):
        forms.read_params(params, {"json": "[1]"})


def test_session_cookie_round_trip_tampering_and_expiry():
    issuer = Sessions(key=b"k" * 32, ttl_s=60)
    cookie, session = issuer.issue("alice", now=1000.0)
    assert issuer.read(cookie, now=1001.0) == session
    assert issuer.read(cookie, now=1061.0) is None  # expired
    payload = cookie.split(".")[1]
    forged = cookie.replace(payload, payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB"))
    assert issuer.read(forged, now=1001.0) is None
    assert Sessions(key=b"x" * 32).read(cookie, now=1001.0) is None  # another server's key
    assert issuer.read("garbage") is None and issuer.read(None) is None


def test_csrf_is_bound_to_the_session():
    issuer = Sessions(key=b"k" * 32)
    _, one = issuer.issue("alice")
    _, two = issuer.issue("alice")
    assert issuer.check_csrf(one.sid, issuer.csrf(one.sid))
    assert not issuer.check_csrf(one.sid, issuer.csrf(two.sid))
    assert not issuer.check_csrf(one.sid, "")
    assert not issuer.check_csrf(None, issuer.csrf(one.sid))


def test_open_paths_cover_the_portal_only():
    paths = OpenPaths({"/health"})
    assert "/health" in paths and "/" in paths and "/ui/runs" in paths
    assert "/api/v1/runs" not in paths and "/uix" not in paths and "/metrics" not in paths


def test_the_session_key_outlives_the_process_and_can_be_shared(tmp_path):
    import stat

    from mlstudio.api.portal.session import KEY_FILE, signing_key

    home = tmp_path / "home"
    first = signing_key(home)
    assert len(first) == 32 and signing_key(home) == first  # a restarted server: same key
    assert stat.S_IMODE((home / KEY_FILE).stat().st_mode) == 0o600
    cookie, _ = Sessions(key=first).issue("alice", now=1000.0)
    assert Sessions(key=signing_key(home)).read(cookie, now=1001.0).user == "alice"
    # a damaged key file is replaced (sessions signed with it are gone with it)
    (home / KEY_FILE).write_bytes(b"short")
    replaced = signing_key(home)
    assert len(replaced) == 32 and replaced != first
    # servers behind one address share MLSTUDIO_PORTAL_KEY: their homes do not matter
    a, b = signing_key(tmp_path / "a", "s3cret"), signing_key(tmp_path / "b", "s3cret")
    assert a == b != signing_key(tmp_path / "c", "other")
    assert not (tmp_path / "a" / KEY_FILE).exists()
