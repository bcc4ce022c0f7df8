"""Cache keys: stable for the same components, different when any component changes, and
``explain`` names what changed."""

from __future__ import annotations

import copy

import pytest

from mlstudio.workflows.cache import keys

CODE = {"digest": "a" * 64, "parts": {"tasks.py:fit": "function:" + "1" * 16}}
ENV = {"python": "CPython 3.11.9", "platform": "linux-x86_64", "packages": {"numpy": "1.26.4"}}
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
        "code": copy.deepcopy(CODE),
        "task": "fit",
        "inputs": _inputs(),
        "env": copy.deepcopy(ENV),
        "cache_version": "",
    }
    args.update(overrides)
    return keys.components(**args)


def test_components_split_parameters_from_data_inputs():
    parts = _components()
    assert parts["params"] == {"n": 3, "label": "x"}
    assert set(parts["inputs"]) == {"data", "rows"}
    assert parts["code"] == CODE and parts["task"] == "fit"
    assert parts["env"] == ENV and parts["cache_version"] == ""
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
        {"code": {**CODE, "digest": "b" * 64}},
        {"task": "predict"},
        {"env": {**ENV, "packages": {"numpy": "2.0.0"}}},
        {"env": {**ENV, "python": "CPython 3.12.1"}},
        {"cache_version": "2"},
    ],
    ids=["code", "task", "package version", "python", "cache_version"],
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


def _code(**parts: str) -> dict:
    from mlstudio.modules.code_identity import identity_digest

    return {"digest": identity_digest(parts), "parts": parts}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"code": _code(**{"tasks.py:fit": "function:" + "2" * 16})},
            "code changed: function fit in tasks.py",
        ),
        ({"task": "predict"}, "task changed (fit → predict)"),
        (
            {"env": {**ENV, "packages": {"numpy": "2.0.0"}}},
            "environment changed: numpy 1.26.4 → 2.0.0",
        ),
        ({"cache_version": "v2"}, "cache_version changed ('' → 'v2')"),
    ],
    ids=["code", "task", "env", "cache_version"],
)
def test_explain_names_the_component_that_changed(overrides, expected):
    assert keys.explain(_components(), _components(**overrides)) == [expected]


def test_explain_names_every_definition_that_changed_appeared_or_went():
    before = _code(
        **{
            "tasks.py:fit": "function:" + "1" * 16,
            "helpers.py:clean": "function:" + "3" * 16,
            "tasks.py:LIMIT": "constant:" + "4" * 16,
            "tasks.py:<top-level code>": "code:" + "5" * 16,
            "<module files>": "files:" + "6" * 16,
        }
    )
    after = _code(
        **{
            "tasks.py:fit": "function:" + "1" * 16,
            "helpers.py:clean": "function:" + "9" * 16,
            "tasks.py:LIMIT": "function:" + "4" * 16,
            "tasks.py:scale": "function:" + "7" * 16,
            "tasks.py:<top-level code>": "code:" + "8" * 16,
            "<module files>": "files:" + "0" * 16,
        }
    )
    assert keys.explain(_components(code=before), _components(code=after)) == [
        "code changed: function clean in helpers.py",
        "code changed: LIMIT in tasks.py (constant → function)",
        "code changed: fit now uses function scale in tasks.py",
        "code changed: the top-level code of tasks.py",
        "code changed: the module's files that are not Python (data, configuration)",
    ]
    assert keys.explain(_components(code=after), _components(code=before))[2] == (
        "code changed: fit no longer uses function scale in tasks.py"
    )


def test_explain_of_a_task_keyed_on_its_whole_module_gives_the_reason():
    whole = keys.code_part({"digest": "c" * 64}, {"whole_module": "tasks.py:3: exec() …"})
    assert whole == {"digest": "c" * 64, "whole_module": "tasks.py:3: exec() …"}
    assert keys.explain(_components(), _components(code=whole)) == [
        f"code changed (module digest {'a' * 12} → {'c' * 12}; fit is keyed on its whole "
        "module: tasks.py:3: exec() …)"
    ]
    assert keys.explain(_components(code=whole), _components()) == [
        "code changed: fit is now keyed on the code it uses (it was keyed on its whole "
        "module: tasks.py:3: exec() …)"
    ]
    # a plan from before identities existed is keyed on the module, and says so
    assert "planned before" in keys.code_part({"digest": "c" * 64}, None)["whole_module"]


def test_explain_names_packages_python_and_missing_imports():
    old = {**ENV, "packages": {"numpy": "1.26.4", "scipy": "1.13.0", "joblib": "1.4.0"}}
    new = {
        **ENV,
        "python": "CPython 3.11.10",
        "packages": {"numpy": "1.26.4", "scipy": "1.14.1", "threadpoolctl": "3.5.0"},
        "missing": ["torch"],
    }
    assert keys.explain(_components(env=old), _components(env=new)) == [
        "environment changed: Python CPython 3.11.9 → CPython 3.11.10",
        "environment changed: joblib 1.4.0 → ∅ (uninstalled, or no longer imported)",
        "environment changed: scipy 1.13.0 → 1.14.1",
        "environment changed: threadpoolctl ∅ → 3.5.0 (installed, or newly imported)",
        "environment changed: torch is imported but no installed package has it",
    ]
    everything = {**ENV, "all": True}
    assert keys.explain(_components(), _components(env=everything)) == [
        "environment changed: every installed package counts now (the code's imports cannot "
        "be found statically)"
    ]


def test_components_stored_before_key_version_2_do_not_break_explain():
    old = {
        "v": 1,
        "code": "a" * 64,
        "task": "fit",
        "params": {"n": 3, "label": "x"},
        "inputs": _components()["inputs"],
        "env": "f" * 64,
        "cache_version": "",
    }
    assert keys.explain(old, _components()) == [
        "cache key format changed (key version 1 → 2): results cached before it are not reused"
    ]
    assert keys.cache_key(old) != keys.cache_key(_components())


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
        _components(),
        _components(code=_code(**{"tasks.py:fit": "function:0"}), cache_version="2", inputs=inputs),
    )
    assert [r.split(" ")[0] for r in reasons] == ["code", "cache_version", "parameter"]
    assert reasons[2].endswith("…)")
    assert len(reasons[2]) < 100


def test_explain_shows_text_as_written():
    inputs = _inputs()
    inputs["label"] = {"c": "café ∅"}
    assert keys.explain(_components(), _components(inputs=inputs)) == [
        'parameter label changed ("x" → "café ∅")'
    ]
