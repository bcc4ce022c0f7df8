"""Prompts: typed variables checked where they are defined and where they are rendered."""

from __future__ import annotations

import pytest

from mlstudio.errors import InvalidInputError, InvalidNameError
from mlstudio.integrations.genai.prompts import Prompt, PromptRef


def test_a_prompt_renders_its_system_and_user_messages():
    p = Prompt("ask", "Q: {question} ({n} words)", variables={"question": "string", "n": "int64"},
               system="Answer in {n} words.")  # fmt: skip
    assert p.render({"question": "why?", "n": 3}) == [
        {"role": "system", "content": "Answer in 3 words."},
        {"role": "user", "content": "Q: why? (3 words)"},
    ]
    assert list(p.variables or {}) == ["question", "n"]


def test_the_digest_names_the_content():
    a = Prompt("ask", "Q: {question}")
    assert a.digest == Prompt("ask", "Q: {question}", description="other words").digest
    assert a.digest != Prompt("ask", "Question: {question}").digest
    assert Prompt.from_spec(a.describe()) == a


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Ask", "template": "x"}, "invalid prompt name 'Ask'"),
        ({"name": "ask", "template": "  "}, "prompt ask has an empty template"),
        ({"name": "ask", "template": "{q.attr}"}, "which is not a plain variable name"),
        ({"name": "ask", "template": "{q:>10}"}, "which is not a plain variable name"),
        ({"name": "ask", "template": "{q"}, "is not a valid template"),
        ({"name": "ask", "template": "{q}", "variables": {}}, "uses {q} but does not declare it"),
        (
            {"name": "ask", "template": "{q}", "variables": {"q": "string", "r": "string"}},
            "declares variable 'r' but never uses it",
        ),
        ({"name": "ask", "template": "{q}", "variables": {"q": "text"}}, "unknown type 'text'"),
    ],
)
def test_a_bad_prompt_is_refused_where_it_is_defined(kwargs, message):
    with pytest.raises(InvalidInputError, match=message.replace("{", r"\{").replace("(", r"\(")):
        Prompt(**kwargs)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "needs variable 'n'"),
        ({"n": None}, "variable 'n' is NoneType"),
        ({"n": "3"}, "variable 'n' is str '3', not int64"),
        ({"n": True}, "variable 'n' is bool"),
    ],
)
def test_a_missing_or_mistyped_value_is_refused_before_any_call(values, message):
    with pytest.raises(InvalidInputError, match=message):
        Prompt("count", "{n} items", variables={"n": "int64"}).render(values)


def test_check_columns_names_the_missing_column_and_the_mapping():
    p = Prompt("ask", "Q: {question}")
    p.check_columns({"question": "q"}, ["q"])
    with pytest.raises(
        InvalidInputError, match="needs variable 'question', but the input has no column 'question'"
    ):
        p.check_columns({}, ["q"])


def test_prompt_references():
    ref = PromptRef.parse("support/tickets/summarize")
    assert (ref.module, ref.name, ref.module_ref) == (
        "support/tickets",
        "summarize",
        "support/tickets:latest",
    )
    assert PromptRef.parse("support/tickets/summarize@3").module_ref == "support/tickets@3"
    assert (
        str(PromptRef.parse("support/tickets/summarize:prod")) == "support/tickets/summarize:prod"
    )
    for bad in ("summarize", "support/summarize", "a/b/c/d", "support/tickets/Sum"):
        with pytest.raises(InvalidInputError, match="invalid prompt reference"):
            PromptRef.parse(bad)
    with pytest.raises(InvalidNameError):
        PromptRef.parse("support/tickets/summarize@0")
