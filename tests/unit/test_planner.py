"""The planner's pure parts: workflow references, parameters, plan validation and tracing."""

from __future__ import annotations

import inspect

import pytest

from mlstudio import sql_task, task, when, workflow
from mlstudio.errors import InvalidInputError, NotFoundError, ParameterError
from mlstudio.workflows.plan import CHOOSE, MAP, TASK, Node, Plan, find_cycle, validate_plan
from mlstudio.workflows.planner import bind_params, coerce_param, parse_workflow_ref
from mlstudio.workflows.tracing import Tracer


# --- parse_workflow_ref -----------------------------------------------------------------------
def test_a_pushed_workflow_defaults_to_the_latest_tag():
    target = parse_workflow_ref("churn/features/build")
    assert target.workflow == "build"
    assert target.path is None
    assert str(target.module_ref.module) == "churn/features"
    assert (target.module_ref.tag, target.module_ref.version) == ("latest", None)
    assert target.display == "churn/features/build"


def test_a_pushed_workflow_by_tag_or_version():
    by_tag = parse_workflow_ref(" churn/features/build:latestAlpha ")
    assert (by_tag.workflow, by_tag.module_ref.tag, by_tag.module_ref.version) == (
        "build",
        "latestAlpha",
        None,
    )
    by_version = parse_workflow_ref("churn/features/build@12")
    assert (by_version.workflow, by_version.module_ref.tag, by_version.module_ref.version) == (
        "build",
        None,
        12,
    )


@pytest.mark.parametrize(
    "text",
    ["churn/build", "churn/features/build/extra", "churn//build", "/features/build", "build"],
)
def test_malformed_workflow_references_are_refused(text):
    with pytest.raises(InvalidInputError, match="invalid workflow") as info:
        parse_workflow_ref(text)
    assert "NS/MODULE/WORKFLOW" in (info.value.hint or "")


@pytest.mark.parametrize("text", ["churn/features/build@0", "churn/features/build@x"])
def test_a_bad_version_is_refused(text):
    with pytest.raises(InvalidInputError, match="version"):
        parse_workflow_ref(text)


def test_a_working_copy_reference(tmp_path, monkeypatch):
    flow = tmp_path / "flow.py"
    flow.write_text("")
    target = parse_workflow_ref(f"{flow}:main")
    assert (target.workflow, target.path, target.module_ref) == ("main", flow.resolve(), None)
    # relative to the current directory, resolved
    monkeypatch.chdir(tmp_path)
    assert parse_workflow_ref("flow.py:main").path == flow.resolve()


def test_a_working_copy_reference_needs_an_existing_file_and_a_function_name(tmp_path):
    with pytest.raises(NotFoundError, match="does not exist"):
        parse_workflow_ref(f"{tmp_path / 'missing.py'}:main")
    (tmp_path / "flow.py").write_text("")
    with pytest.raises(InvalidInputError, match="not a function name"):
        parse_workflow_ref(f"{tmp_path / 'flow.py'}:not-a-name")


# --- coerce_param and bind_params -------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "annotation", "expected"),
    [
        ("42", int, 42),
        ("-3", int, -3),
        ("0.25", float, 0.25),
        ("2", float, 2.0),
        ("true", bool, True),
        ("Yes", bool, True),
        ("0", bool, False),
        ("off", bool, False),
        ("007", str, "007"),
        ("[1, 2]", list, [1, 2]),
        ("[1, 2]", list[int], [1, 2]),
        ('{"a": 1}', dict, {"a": 1}),
        ('{"a": 1}', dict[str, int], {"a": 1}),
        ("12", "int", 12),  # string annotations (from __future__ import annotations)
        ("plain text", inspect.Parameter.empty, "plain text"),
        ("[1]", inspect.Parameter.empty, [1]),  # untyped: JSON when it parses, else the string
        (5, int, 5),  # already typed (the Python API)
        (5, float, 5.0),
    ],
)
def test_coerce_param_turns_strings_into_the_declared_type(raw, annotation, expected):
    value = coerce_param("p", raw, annotation)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("raw", "annotation", "message"),
    [
        ("abc", int, "p='abc' is not an int"),
        ("1.5", int, "p='1.5' is not an int"),
        ("x", float, "p='x' is not a float"),
        ("maybe", bool, "p='maybe' is not a bool"),
        ("not json", list, "is not JSON"),
        ("[1]", dict, "p expects a dict, got list [1]"),
        (True, int, "p=True is not a int"),  # a bool is not an int
        ("x", list[int], "is not JSON"),
    ],
)
def test_coerce_param_names_the_parameter_on_a_mismatch(raw, annotation, message):
    with pytest.raises(ValueError) as info:
        coerce_param("p", raw, annotation)
    assert message in str(info.value)


@workflow
def _train(rows: int, alpha: float = 0.5, name: str = "m", tags: list | None = None) -> None:
    return None


def test_bind_params_fills_defaults_and_coerces():
    assert bind_params(_train, {"rows": "10"}) == {
        "rows": 10,
        "alpha": 0.5,
        "name": "m",
        "tags": None,
    }
    assert bind_params(_train, {"rows": "1", "alpha": "2", "name": "x"})["alpha"] == 2.0


def test_bind_params_reports_every_problem_at_once():
    with pytest.raises(ParameterError) as info:
        bind_params(_train, {"alpha": "lots", "colour": "red", "size": "1"})
    details = info.value.details
    assert details[0] == "unknown parameter(s) colour, size; _train takes: rows, alpha, name, tags"
    assert "missing parameter rows (int)" in details
    assert "alpha='lots' is not a float" in details
    assert len(details) == 3
    assert info.value.exit_code == 2
    assert "_train:" in info.value.message


# --- plan validation --------------------------------------------------------------------------
def _node(node_id: str, *deps: str, guard: str | None = None) -> Node:
    return Node(
        id=node_id,
        kind=TASK,
        task=node_id,
        inputs={f"in{i}": {"r": dep} for i, dep in enumerate(deps)},
        guards=[[guard, [], True]] if guard else [],
    )


def _plan(*nodes: Node) -> Plan:
    return Plan(
        workflow="wf", params={}, nodes={n.id: n for n in nodes}, output={"c": None}, code={}
    )


def test_an_acyclic_plan_is_valid():
    plan = _plan(_node("a"), _node("b", "a"), _node("c", "a", "b"))
    assert find_cycle(plan.nodes) is None
    assert validate_plan(plan) == []


def test_a_cycle_is_found_and_reported_as_a_path():
    plan = _plan(_node("start"), _node("a", "start", "c"), _node("b", "a"), _node("c", "b"))
    cycle = find_cycle(plan.nodes)
    assert cycle is not None
    assert cycle[0] == cycle[-1]
    assert set(cycle) == {"a", "b", "c"}
    assert len(cycle) == 4
    problems = validate_plan(plan)
    assert problems == [f"cycle: {' -> '.join(cycle)}"]


def test_a_self_loop_and_a_cycle_through_a_guard_are_cycles():
    assert find_cycle(_plan(_node("a", "a")).nodes) == ["a", "a"]
    guarded = _plan(_node("cond", "act"), _node("act", guard="cond"))
    assert set(find_cycle(guarded.nodes) or []) == {"cond", "act"}


def test_nested_bindings_count_as_dependencies():
    a = _node("a")
    b = Node(id="b", kind=TASK, inputs={"xs": {"l": [{"c": 1}, {"d": {"k": {"r": "a"}}}]}})
    a.inputs = {"x": {"r": "b", "p": [0]}}
    assert set(find_cycle(_plan(a, b).nodes) or []) == {"a", "b"}


def test_unknown_dependencies_and_cycles_are_all_listed():
    plan = _plan(_node("a", "ghost"), _node("b", "c"), _node("c", "b"), _node("d", "phantom"))
    problems = validate_plan(plan)
    assert "a: depends on unknown node 'ghost'" in problems
    assert "d: depends on unknown node 'phantom'" in problems
    assert any(p.startswith("cycle: ") for p in problems)
    assert len(problems) == 3


def test_find_cycle_handles_a_deep_chain_without_recursion():
    nodes = [_node("n0")] + [_node(f"n{i}", f"n{i - 1}") for i in range(1, 20_000)]
    plan = _plan(*nodes)
    assert find_cycle(plan.nodes) is None
    plan.nodes["n0"].inputs = {"loop": {"r": "n19999"}}
    assert len(find_cycle(plan.nodes) or []) == 20_001


def test_a_plan_round_trips_through_json():
    plan = _plan(_node("a"), _node("b", "a", guard="a"))
    plan.uses = {"team/lib": "team/lib@1"}
    again = Plan.from_json(plan.to_json())
    assert again.to_json() == plan.to_json()
    assert again.nodes["b"].deps() == {"a"}


# --- tracing ----------------------------------------------------------------------------------
@task
def _numbers(n: int) -> list[int]:
    return list(range(n))


@task
def _square(x: int) -> int:
    return x * x


@task
def _total(xs: list[int]) -> int:
    return sum(xs)


@task
def _word() -> str:
    return "w"


@task
def _positive(x: int) -> bool:
    return x > 0


_agg = sql_task("agg", "SELECT k, COUNT(*) AS n FROM events GROUP BY k")


def _trace(fn, **params):
    tracer = Tracer(lambda definition: "mod", lambda ref: None)
    output = tracer.run(fn, params)
    return tracer, output


def test_tracing_records_a_dag_instead_of_running_tasks():
    @workflow
    def fan(n: int):
        return _total(_square.map(x=_numbers(n)))

    tracer, output = _trace(fan.fn, n=3)
    assert tracer.problems == []
    assert set(tracer.nodes) == {"_numbers", "_square[*]", "_total"}
    mapped = tracer.nodes["_square[*]"]
    assert (mapped.kind, mapped.mapped, mapped.returns) == (MAP, "x", "list[int]")
    assert mapped.inputs == {"x": {"r": "_numbers"}}
    assert tracer.nodes["_numbers"].inputs == {"n": {"c": 3}}
    assert tracer.binding(output) == {"r": "_total"}


def test_a_static_map_makes_one_node_per_element():
    @workflow
    def static(xs: list):
        return _total(_square.map(x=xs))

    tracer, _ = _trace(static.fn, xs=[4, 5])
    assert set(tracer.nodes) == {"_square[0]", "_square[1]", "_total"}
    assert tracer.nodes["_square[1]"].inputs == {"x": {"c": 5}}
    assert tracer.nodes["_total"].inputs == {
        "xs": {"l": [{"r": "_square[0]"}, {"r": "_square[1]"}]}
    }


def test_when_guards_both_branches_and_adds_a_choice():
    @workflow
    def gate(x: int):
        return when(_positive(x), then=lambda: _square(x), otherwise=lambda: _word())

    tracer, _ = _trace(gate.fn, x=1)
    assert tracer.nodes["_square"].guards == [["_positive", [], True]]
    assert tracer.nodes["_word"].guards == [["_positive", [], False]]
    choice = tracer.nodes["when"]
    assert choice.kind == CHOOSE
    assert choice.inputs == {
        "cond": {"r": "_positive"},
        "then": {"r": "_square"},
        "else": {"r": "_word"},
    }


def test_a_sql_task_gets_each_table_as_its_own_input():
    @workflow
    def counts(n: int):
        return _agg(events=_numbers(n))

    tracer, _ = _trace(counts.fn, n=2)
    assert tracer.problems == []
    assert tracer.nodes["agg"].inputs == {"events": {"r": "_numbers"}}


def test_tracing_collects_every_problem_instead_of_stopping():
    @workflow
    def broken():
        w = _word()
        _square(w)  # str where an int is expected
        _square()  # missing argument
        _square(x="text")  # a constant of the wrong type
        return _total(xs=[1])

    tracer, _ = _trace(broken.fn)
    assert len(tracer.problems) == 3, tracer.problems
    assert "_square: argument 'x' expects int but _word returns str" in tracer.problems
    assert any("missing a required argument: 'x'" in p for p in tracer.problems)
    assert any("expects int but got str 'text'" in p for p in tracer.problems)


def test_branching_on_a_result_with_if_is_refused_with_a_hint():
    @workflow
    def naive():
        if _positive(1):
            return _word()
        return None

    with pytest.raises(InvalidInputError, match="not known while the workflow is planned") as info:
        _trace(naive.fn)
    assert "when(" in (info.value.hint or "")
