"""The task baseline's calling convention: the reference forms it reads, the rows it is given
and the answers it accepts."""

from __future__ import annotations

import asyncio
import math
import re
import threading

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlstudio.errors import InvalidInputError
from mlstudio.integrations.serving.fallback import FallbackChain, NoAnswerError
from mlstudio.integrations.serving.task_baseline import (
    TaskBaseline,
    as_numbers,
    with_defaults,
    workflow_form,
)
from mlstudio.workflows.planner import parse_workflow_ref


@pytest.mark.parametrize(
    ("ref", "tag", "version"),
    [
        ("shop/rules/rule", "latest", None),
        ("shop/rules@3/rule", None, 3),
        ("shop/rules@stable/rule", "stable", None),
        ("shop/rules:stable/rule", "stable", None),
        ("shop/rules/rule@3", None, 3),
        ("shop/rules/rule:stable", "stable", None),
    ],
)
def test_every_reference_form_reads_as_the_workflow_parser_reads_it(ref, tag, version):
    target = parse_workflow_ref(workflow_form(ref))
    assert str(target.module_ref.module) == "shop/rules" and target.workflow == "rule"
    assert (target.module_ref.tag, target.module_ref.version) == (tag, version)


@pytest.mark.parametrize(
    "out",
    [
        [0.5, 1],
        (0.5, 1),
        np.asarray([0.5, 1.0]),
        pd.Series([0.5, 1.0]),
        pa.array([0.5, 1.0]),
        pa.chunked_array([[0.5], [1.0]]),
        [np.float32(0.5), np.int64(1)],
    ],
)
def test_lists_series_and_arrays_of_numbers_are_accepted(out):
    assert as_numbers(out, 2, "b") == [0.5, 1.0]


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ([0.5], "returned 1 values for 2 rows"),
        (np.asarray([[0.5], [1.0]]), "returned [0.5] for row 0"),
        ([0.5, "x"], "returned 'x' for row 1"),
        ([0.5, None], "returned None for row 1"),
        ([True, 0.5], "returned True for row 0"),
        ([0.5, math.nan], "returned nan for row 1"),
        ({"a": 1, "b": 2}, "returned dict, not a list of numbers"),
        (0.5, "returned float, not a list of numbers"),
    ],
)
def test_anything_else_is_a_one_line_invalid_input_error(out, message):
    with pytest.raises(InvalidInputError, match=re.escape(message)) as raised:
        as_numbers(out, 2, "shop/rules@1/rule")
    assert raised.value.message.startswith("baseline shop/rules@1/rule ") and raised.value.hint


def test_the_rows_take_the_defaults_where_missing_or_null_and_the_callers_are_unchanged():
    rows = [{"a": 1.0}, {"a": 2.0, "b": None}, {"a": 3.0, "b": 4.0}]
    filled = with_defaults(rows, {"b": 5.0})
    assert filled == [{"a": 1.0, "b": 5.0}, {"a": 2.0, "b": 5.0}, {"a": 3.0, "b": 4.0}]
    assert rows[0] == {"a": 1.0} and rows[1]["b"] is None

    seen = []
    baseline = TaskBaseline("shop/rules@1/rule", lambda r: seen.append(r) or [0.0] * len(r), {})
    assert baseline.predict(rows) == [0.0, 0.0, 0.0]
    assert seen == [rows] and seen[0][0] is not rows[0]  # a copy: the task cannot edit the log


def test_a_baseline_that_hangs_or_raises_is_a_failed_step_and_a_503_listing_the_attempts():
    release = threading.Event()
    hanging = TaskBaseline("shop/rules@1/slow", lambda rows: release.wait(5) and [0.0], {})
    chain = FallbackChain(baseline=hanging, timeout_s=0.05)
    try:
        with pytest.raises(NoAnswerError) as caught:
            asyncio.run(chain.run([{"a": 1.0}], None, forced="kill_switch"))
    finally:
        release.set()
        chain.pool.shutdown(wait=True)
    assert caught.value.details["attempts"] == [
        {
            "target": "baseline:shop/rules@1/slow",
            "outcome": "timeout",
            "detail": "no answer in 0.05s",
        }
    ]

    def raising(rows):
        raise KeyError("a")

    chain = FallbackChain(baseline=TaskBaseline("shop/rules@1/r", raising, {}))
    with pytest.raises(NoAnswerError, match=re.escape("baseline:shop/rules@1/r error")) as caught:
        asyncio.run(chain.run([{"a": 1.0}], None))
    assert caught.value.details["attempts"][0]["detail"] == "KeyError: 'a'"
