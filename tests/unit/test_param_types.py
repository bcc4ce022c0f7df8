"""Element types of workflow parameters: lists, dicts, tuples, sets, optionals, unions, nested."""

from __future__ import annotations

import typing
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Optional, Union

import pytest

from mlstudio.errors import ParameterError
from mlstudio.workflows.planner import bind_params, coerce_param
from mlstudio.workflows.sdk import workflow


@pytest.mark.parametrize(
    ("raw", "annotation", "message"),
    [
        ('["a","b"]', list[int], 'xs[0]: expected int, got str "a"'),
        ('["a","b"]', list[int], 'xs[1]: expected int, got str "b"'),
        ("[1, 2.5]", list[int], "xs[1]: expected int, got float 2.5"),
        ("[1, true]", list[int], "xs[1]: expected int, got bool true"),  # a bool is not an int
        ('[[1], [2, "x"]]', list[list[int]], 'xs[1][1]: expected int, got str "x"'),
        ('{"a": 1, "b": "2"}', dict[str, int], 'xs["b"]: expected int, got str "2"'),
        ('{"a": [1, "z"]}', dict[str, list[int]], 'xs["a"][1]: expected int, got str "z"'),
        ("[1, 2, 3]", tuple[int, int], "xs expects a tuple (int, int), got list [1, 2, 3]"),
        ('[1, "a"]', tuple[int, int], 'xs[1]: expected int, got str "a"'),
        ('[1, "a"]', tuple[int, ...], 'xs[1]: expected int, got str "a"'),
        ('["a", 2]', set[str], "xs[1]: expected str, got int 2"),
        ('["a"]', Optional[list[int]], 'xs[0]: expected int, got str "a"'),  # noqa: UP045
        ('["a"]', list[int] | None, 'xs[0]: expected int, got str "a"'),
        ("[null]", list[int], "xs[0]: expected int, got None"),
        ("[1, null]", list[int | None], None),  # accepted
        ('[1, "a", [2]]', list[int | str], "xs[2]: expected int or str, got list [2]"),
        ('["x"]', list[Union[int, float]], 'xs[0]: expected int or float, got str "x"'),  # noqa: UP007
        ('"gbm"', list[str], 'xs expects a list of str, got str "gbm"'),
        ("gbm", list[str], 'xs expects a list of str, got str "gbm"'),
        ('{"a": 1}', list[int], 'xs expects a list of int, got dict {"a": 1}'),
        ("[1]", dict[str, int], "xs expects a dict of str to int, got list [1]"),
        ('["c"]', list[Literal["a", "b"]], 'xs[0]: expected one of "a", "b", got str "c"'),
        ("[1]", Sequence[str], "xs[0]: expected str, got int 1"),
        ('{"a": "b"}', Mapping[str, int], 'xs["a"]: expected int, got str "b"'),
        ('{"1": 2}', dict[int, int], 'xs key "1": expected int, got str "1"'),
        ('"a"', int | None, 'xs expects int or None, got str "a"'),
        ("abc", int | None, 'xs expects int or None, got str "abc", which is not JSON'),
    ],
)
def test_every_offending_element_is_named(raw, annotation, message):
    if message is None:
        coerce_param("xs", raw, annotation)
        return
    with pytest.raises(ValueError) as info:
        coerce_param("xs", raw, annotation)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("raw", "annotation", "expected"),
    [
        ("[1, 2]", list[int], [1, 2]),
        ("[1, 2]", list[float], [1.0, 2.0]),  # ints where floats are declared become floats
        ('{"a": [1]}', dict[str, list[float]], {"a": [1.0]}),
        ("[1, 2]", tuple[int, int], (1, 2)),
        ("[1, 2]", tuple[float, ...], (1.0, 2.0)),
        ('["a", "b"]', set[str], ["a", "b"]),  # kept JSON (a list) for the plan
        ("null", list[int] | None, None),
        ("[1, null]", list[int | None], [1, None]),
        ("5", int | str, 5),
        ("hello", str | None, "hello"),  # not JSON, but the type takes a string
        ("123", str | None, "123"),  # JSON 123 is not a str: the text is
        ('"a"', Literal["a", "b"], "a"),
        ("[[1], [2, 3]]", list[list[int]], [[1], [2, 3]]),
        ('{"x": 1}', typing.Dict[str, int], {"x": 1}),  # noqa: UP006
        ("[1]", typing.List, [1]),  # noqa: UP006
        ('[1, "a"]', list[Any], [1, "a"]),
        ('[1, "a"]', list, [1, "a"]),
    ],
)
def test_values_of_the_declared_type_are_accepted(raw, annotation, expected):
    value = coerce_param("xs", raw, annotation)
    assert value == expected
    assert type(value) is type(expected)
    if isinstance(value, list | tuple):
        assert [type(v) for v in value] == [type(v) for v in expected]


def test_api_values_are_checked_the_same_way():
    """The API and schedules pass JSON values, not strings: the same checks apply."""
    with pytest.raises(ValueError, match=r'xs\[1\]: expected int, got str "b"'):
        coerce_param("xs", [1, "b"], list[int])
    with pytest.raises(ValueError, match='xs expects a list of str, got str "gbm"'):
        coerce_param("xs", "gbm", list[str])  # a JSON string where a list is declared
    assert coerce_param("xs", [1, 2], list[float]) == [1.0, 2.0]


def test_a_long_list_of_wrong_elements_is_one_bounded_message():
    with pytest.raises(ValueError) as info:
        coerce_param("xs", ["x"] * 1000, list[int])
    text = str(info.value)
    assert text.count("expected int") == 5 and "(and 995 more)" in text


@workflow
def _typed(xs: list[int], kinds: list[str] = ["a"], weights: dict[str, float] | None = None):  # noqa: B006
    return None


def test_bind_params_reports_element_problems_of_every_parameter_at_once():
    with pytest.raises(ParameterError) as info:
        bind_params(_typed, {"xs": '["a","b"]', "kinds": "gbm", "weights": '{"w": "heavy"}'})
    details = info.value.details
    assert details == [
        'xs[0]: expected int, got str "a"; xs[1]: expected int, got str "b"',
        'kinds expects a list of str, got str "gbm", which is not JSON',
        'weights["w"]: expected float, got str "heavy"',
    ]
    assert info.value.message.count("\n") == 0
    assert bind_params(_typed, {"xs": "[1, 2]", "weights": '{"w": 1}'}) == {
        "xs": [1, 2],
        "kinds": ["a"],
        "weights": {"w": 1.0},
    }
