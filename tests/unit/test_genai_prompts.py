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


def test_combine_crosses_instructions_templates_and_few_shot_selections():
    from mlstudio.integrations.genai.prompt_variants import combine

    examples = [{"input": f"ticket {i} {{x}}", "answer": f"t{i}"} for i in range(5)]
    found = combine(
        "topic",
        templates=["Ticket: {body}\nTopic:"],
        instructions=["Answer in one word.", "Name the topic."],
        examples=examples,
        shots=[0, 2],
        seed=1,
    )
    assert [p.name for p in found] == ["topic_1", "topic_2", "topic_3", "topic_4"]
    assert all(list(p.variables or {}) == ["body"] for p in found)
    zero, two = found[0], found[1]
    assert zero.template == "Answer in one word.\n\nTicket: {body}\nTopic:"
    assert two.template.count("Example:") == 2 and "{{x}}" in two.template  # braces escaped
    assert two.render({"body": "b"})[-1]["content"].count("{x}") == 2
    assert found[1].template == combine(
        "topic", templates=["Ticket: {body}\nTopic:"], instructions=["Answer in one word.",
        "Name the topic."], examples=examples, shots=[0, 2], seed=1)[1].template  # fmt: skip
    with pytest.raises(InvalidInputError, match="need up to 9 examples, 5 given"):
        combine("t", templates=["{a}"], examples=examples, shots=[9])
    with pytest.raises(InvalidInputError, match="no field 'question'"):
        combine("t", templates=["{a}"], examples=examples, shots=[1],
                example_format="{question}")  # fmt: skip


def test_proposals_keep_the_rewrites_that_keep_the_placeholders():
    from mlstudio.integrations.genai.prompt_variants import proposals

    base = Prompt("ask", "Q: {question}")
    answer = "1. Answer briefly: {question}\n- {question} Think first.\nbad {nope}\n\nQ: {question}"
    found, dropped = proposals(base, answer, n=3)
    assert [p.template for p in found] == [
        "Q: {question}",
        "Answer briefly: {question}",
        "{question} Think first.",
    ]
    assert [p.name for p in found] == ["ask", "ask_1", "ask_2"] and dropped == 1
