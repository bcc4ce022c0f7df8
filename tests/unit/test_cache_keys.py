"""Cache keys: stable for the same components, different when any component changes, and
``explain`` names what changed."""

from __future__ import annotations

import copy

import pytest

from mlstudio.workflows.cache import keys

CODE = "a" * 64
DATA = "d" * 64


def _ref(digest: str = DATA, **extra) -> dict:
    return {"digest": digest, "format": "parquet", "type": "Dataset", "size": 10, **extra}


def _inputs() -> dict:
    return {
        "n": {"c": 3},
        "label": {"c": "x"},
        "data": {"v": _ref()},
        "rows": {"l": [{"v": _ref("e" * 64)}, {"c": 1}]},
    }


def _components(**overrides) -> dict:
    args = {
        "code_digest": CODE,
        "task": "fit",
        "inputs": _inputs(),
        "env": "env1",
        "cache_version": "",
    }
    args.update(overrides)
    return keys.components(**args)


def test_components_split_parameters_from_data_inputs():
    parts = _components()
    assert parts["params"] == {"n": 3, "label": "x"}
    assert set(parts["inputs"]) == {"data", "rows"}
    assert parts["code"] == CODE and parts["task"] == "fit"
    assert parts["env"] == "env1" and parts["cache_version"] == ""
    assert parts["v"] == keys.KEY_VERSION


def test_the_same_components_give_the_same_key():
    first = keys.cache_key(_components())
    assert keys.cache_key(_components()) == first
    # independent of the order arguments were given in
    reordered = dict(reversed(list(_inputs().items())))
    assert keys.cache_key(_components(inputs=reordered)) == first
    assert len(first) == 64 and int(first, 16) >= 0


def _changed_inputs(change: str) -> dict:
    inputs = _inputs()
    if change == "param value":
        inputs["n"] = {"c": 4}
    elif change == "param type":
        inputs["n"] = {"c": "3"}
    elif change == "new param":
        inputs["extra"] = {"c": None}
    elif change == "data digest":
        inputs["data"] = {"v": _ref("f" * 64)}
    elif change == "data path":
        inputs["data"] = {"v": _ref(), "p": ["x"]}
    elif change == "nested digest":
        inputs["rows"]["l"][0] = {"v": _ref("0" * 64)}
    elif change == "argument renamed":
        inputs["frame"] = inputs.pop("data")
    return inputs


@pytest.mark.parametrize(
    "overrides",
    [
        {"code_digest": "b" * 64},
        {"task": "predict"},
        {"env": "env2"},
        {"cache_version": "2"},
    ],
    ids=["code", "task", "env", "cache_version"],
)
def test_each_component_changes_the_key(overrides):
    assert keys.cache_key(_components(**overrides)) != keys.cache_key(_components())


@pytest.mark.parametrize(
    "change",
    [
        "param value",
        "param type",
        "new param",
        "data digest",
        "data path",
        "nested digest",
        "argument renamed",
    ],
)
def test_each_input_change_changes_the_key(change):
    changed = _components(inputs=_changed_inputs(change))
    assert keys.cache_key(changed) != keys.cache_key(_components())


def test_only_the_digest_of_a_stored_input_counts():
    """Metadata of a value ref (size, type, inline copy) is not identity; its digest is."""
    inputs = _inputs()
    inputs["data"] = {"v": _ref(size=999, type="Table", inline=None)}
    assert keys.cache_key(_components(inputs=inputs)) == keys.cache_key(_components())
    assert keys.input_digest({"v": _ref()}) == keys.input_digest({"v": _ref(size=1)})
    assert keys.input_digest({"v": _ref()}) != keys.input_digest({"v": _ref("f" * 64)})


def test_explain_without_a_previous_run():
    assert keys.explain(None, _components()) == ["first run of this task (nothing to compare with)"]


def test_explain_with_nothing_changed_says_the_entry_was_unusable():
    assert keys.explain(_components(), copy.deepcopy(_components())) == [
        "same key: the cached result was unusable (missing blob, or caching was off)"
    ]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"code_digest": "b" * 64},
            f"code changed (module digest {'a' * 12} → {'b' * 12})",
        ),
        ({"task": "predict"}, "task changed (fit → predict)"),
        ({"env": "env2"}, "environment changed (requirements lock or installed packages)"),
        ({"cache_version": "v2"}, "cache_version changed ('' → 'v2')"),
    ],
    ids=["code", "task", "env", "cache_version"],
)
def test_explain_names_the_component_that_changed(overrides, expected):
    assert keys.explain(_components(), _components(**overrides)) == [expected]


def test_explain_names_changed_parameters_and_inputs():
    inputs = _inputs()
    inputs["n"] = {"c": 4}
    inputs["data"] = {"v": _ref("f" * 64)}
    del inputs["label"]
    inputs["alpha"] = {"c": 0.5}
    reasons = keys.explain(_components(), _components(inputs=inputs))
    old_data = keys.input_digest({"v": _ref()})[:12]
    new_data = keys.input_digest({"v": _ref("f" * 64)})[:12]
    assert reasons == [
        "parameter alpha changed (∅ → 0.5)",
        'parameter label changed ("x" → ∅)',
        "parameter n changed (3 → 4)",
        f"input data changed (upstream output {old_data} → {new_data})",
    ]


def test_explain_lists_every_change_and_shortens_long_values():
    inputs = _inputs()
    inputs["label"] = {"c": "y" * 100}
    reasons = keys.explain(
        _components(), _components(code_digest="b" * 64, cache_version="2", inputs=inputs)
    )
    assert [r.split(" ")[0] for r in reasons] == ["code", "cache_version", "parameter"]
    assert reasons[2].endswith("…)")
    assert len(reasons[2]) < 100


def test_host_environment_is_stable_and_remembered(tmp_path):
    first = keys.host_environment(tmp_path)
    assert len(first) == 64
    markers = list(tmp_path.glob("hostenv-*.txt"))
    assert len(markers) == 1 and markers[0].read_text() == first
    assert keys.host_environment(tmp_path) == first
    # the remembered fingerprint is what is used (it is not recomputed every time)
    markers[0].write_text("f" * 64)
    assert keys.host_environment(tmp_path) == "f" * 64


def test_explain_shows_text_as_written():
    inputs = _inputs()
    inputs["label"] = {"c": "café ∅"}
    assert keys.explain(_components(), _components(inputs=inputs)) == [
        'parameter label changed ("x" → "café ∅")'
    ]
