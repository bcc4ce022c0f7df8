"""Property (issue 10.4): over generated modules, an unchanged task's key is the same (a hit)
whatever cosmetic edits are made, and any change to a referenced helper or constant, an
imported package's version (or one it requires), an input or a data file of the module changes
it (a miss), with ``explain`` naming the change; a change to anything the task does not reach
keeps the key.

A generated module has helpers ``h0..hN`` that call each other, read constants ``C0..CK`` and
use packages ``pk0..pkM`` (``import pkJ as aJ``); the task ``t`` calls some helpers. The test's
own oracle computes what ``t`` reaches from the generated call graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from mlstudio.core.hashing import digest_of
from mlstudio.modules.code_identity import TaskLocation, task_identities
from mlstudio.workflows.cache import keys
from mlstudio.workflows.cache.environment import Installed, environment_part


@dataclass
class Spec:
    helpers: list[dict]  # {"value": int, "calls": [i], "constants": [k], "packages": [j]}
    constants: list[int]
    packages: list[str]  # versions of pk-0.. pk-M
    requires: dict[int, list[int]]  # package j requires packages
    task_calls: list[int]
    data: str = "x\n1\n"
    input_digest: str = "d" * 64
    unrelated: str = "1.0"
    cosmetic: int = 0  # a seed for comments, blank lines and docstrings
    extra: dict = field(default_factory=dict)


@st.composite
def specs(draw) -> Spec:
    n = draw(st.integers(1, 6))
    k = draw(st.integers(0, 3))
    m = draw(st.integers(1, 4))
    helpers = [
        {
            "value": draw(st.integers(0, 9)),
            "calls": sorted(draw(st.sets(st.integers(0, n - 1), max_size=3))),
            "constants": sorted(draw(st.sets(st.integers(0, k - 1), max_size=2))) if k else [],
            "packages": sorted(draw(st.sets(st.integers(0, m - 1), max_size=2))),
        }
        for _ in range(n)
    ]
    requires = {j: sorted(draw(st.sets(st.integers(j + 1, m), max_size=2))) for j in range(m)}
    requires = {j: [r for r in rs if r < m] for j, rs in requires.items()}
    return Spec(
        helpers=helpers,
        constants=[draw(st.integers(0, 99)) for _ in range(k)],
        packages=[f"1.{draw(st.integers(0, 5))}" for _ in range(m)],
        requires=requires,
        task_calls=sorted(draw(st.sets(st.integers(0, n - 1), max_size=3))),
        cosmetic=draw(st.integers(0, 2**16)),
    )


def render(spec: Spec) -> dict[str, bytes]:
    seed = spec.cosmetic
    out = [f"import pk{j} as a{j}" for j in range(len(spec.packages))]
    out += ["from mlstudio import task", ""]
    out += [f"C{i} = {v}" for i, v in enumerate(spec.constants)]
    for i, h in enumerate(spec.helpers):
        terms = [str(h["value"])]
        terms += [f"h{c}(x)" for c in h["calls"]]
        terms += [f"C{c}" for c in h["constants"]]
        terms += [f"a{p}.f(x)" for p in h["packages"]]
        if seed >> (i % 16) & 1:
            out += ["", f"# helper {i} (seed {seed})", ""]
        out.append(f"def h{i}(x):")
        if seed >> ((i + 3) % 16) & 1:
            out.append(f'    """Helper {i}, documented {seed}."""')
        out += [f"    return {' + '.join(terms)}", ""]
    out.append("@task")
    out.append("def t(x: int) -> int:")
    out.append(f"    return {' + '.join(['0', *(f'h{c}(x)' for c in spec.task_calls)])}")
    if seed & 1:
        out.append("# trailing comment")
    return {
        "tasks.py": ("\n".join(out) + "\n").encode(),
        "points.csv": spec.data.encode(),
    }


def installed(spec: Spec) -> Installed:
    versions = {f"pk-{j}": v for j, v in enumerate(spec.packages)}
    versions["unrelated"] = spec.unrelated
    requires = {f"pk-{j}": [f"pk-{r}" for r in rs] for j, rs in spec.requires.items()}
    providers = {f"pk{j}": [f"pk-{j}"] for j in range(len(spec.packages))}
    providers["unrelated"] = ["unrelated"]
    return Installed(versions, requires, providers)


def components(spec: Spec) -> dict:
    files = render(spec)
    identity = task_identities(files, [TaskLocation("t", "tasks.py", "t")], ["tasks.py"])["t"]
    assert "parts" in identity, identity
    code = keys.code_part({"digest": digest_of(sorted(files))}, identity)
    env = environment_part(installed(spec), identity["imports"])
    inputs = {"x": {"c": 1}, "rows": {"v": {"digest": spec.input_digest}}}
    return keys.components(code, "t", inputs, env, "")


# --- the oracle -------------------------------------------------------------------------------
def reached_helpers(spec: Spec) -> set[int]:
    seen: set[int] = set()
    stack = list(spec.task_calls)
    while stack:
        i = stack.pop()
        if i not in seen:
            seen.add(i)
            stack.extend(spec.helpers[i]["calls"])
    return seen


def reached_packages(spec: Spec) -> set[int]:
    helpers = reached_helpers(spec)
    used_anywhere = {p for h in spec.helpers for p in h["packages"]}
    # packages a reached helper uses, and imports nothing uses (they count for every task)
    direct = {p for i in helpers for p in spec.helpers[i]["packages"]}
    direct |= set(range(len(spec.packages))) - used_anywhere
    seen: set[int] = set()
    stack = list(direct)
    while stack:
        j = stack.pop()
        if j not in seen:
            seen.add(j)
            stack.extend(spec.requires.get(j, []))
    return seen


def mutated(spec: Spec, **changes) -> Spec:
    return Spec(**{**spec.__dict__, **changes})


def with_helper(spec: Spec, i: int, **changes) -> Spec:
    helpers = [dict(h) for h in spec.helpers]
    helpers[i].update(changes)
    return mutated(spec, helpers=helpers)


# --- properties -------------------------------------------------------------------------------
SETTINGS = settings(max_examples=80, deadline=None)


@SETTINGS
@given(specs(), st.integers(0, 2**16))
def test_an_unchanged_task_is_a_hit_whatever_the_comments_and_docstrings(spec, cosmetic):
    assert keys.cache_key(components(spec)) == keys.cache_key(
        components(mutated(spec, cosmetic=cosmetic))
    )


@SETTINGS
@given(specs(), st.data())
def test_a_changed_helper_is_a_miss_exactly_when_the_task_reaches_it(spec, data):
    i = data.draw(st.integers(0, len(spec.helpers) - 1))
    before = components(spec)
    after = components(with_helper(spec, i, value=spec.helpers[i]["value"] + 1))
    if i in reached_helpers(spec):
        assert keys.cache_key(after) != keys.cache_key(before)
        assert keys.explain(before, after) == [f"code changed: function h{i} in tasks.py"]
    else:
        assert keys.cache_key(after) == keys.cache_key(before)


@SETTINGS
@given(specs(), st.data())
def test_a_changed_constant_is_a_miss_exactly_when_a_reached_helper_reads_it(spec, data):
    if not spec.constants:
        return
    k = data.draw(st.integers(0, len(spec.constants) - 1))
    values = list(spec.constants)
    values[k] += 1
    before, after = components(spec), components(mutated(spec, constants=values))
    read = any(k in spec.helpers[i]["constants"] for i in reached_helpers(spec))
    assert (keys.cache_key(after) != keys.cache_key(before)) == read
    if read:
        assert keys.explain(before, after) == [f"code changed: constant C{k} in tasks.py"]


@SETTINGS
@given(specs(), st.data())
def test_a_package_version_is_a_miss_exactly_when_the_task_imports_or_requires_it(spec, data):
    j = data.draw(st.integers(0, len(spec.packages) - 1))
    versions = list(spec.packages)
    versions[j] = versions[j] + ".post1"
    before, after = components(spec), components(mutated(spec, packages=versions))
    if j in reached_packages(spec):
        assert keys.cache_key(after) != keys.cache_key(before)
        assert keys.explain(before, after) == [
            f"environment changed: pk-{j} {spec.packages[j]} → {versions[j]}"
        ]
    else:
        assert keys.cache_key(after) == keys.cache_key(before)
    # a distribution nothing imports never counts
    other = components(mutated(spec, unrelated="2.0"))
    assert keys.cache_key(other) == keys.cache_key(before)


@SETTINGS
@given(specs(), st.text(min_size=1, max_size=20), st.sampled_from("0123456789abcdef"))
def test_a_changed_input_or_data_file_is_always_a_miss(spec, data, digit):
    before = components(spec)
    if data != spec.data:
        changed = components(mutated(spec, data=data))
        assert keys.cache_key(changed) != keys.cache_key(before)
        assert keys.explain(before, changed) == [
            "code changed: the module's files that are not Python (data, configuration)"
        ]
    if digit * 64 != spec.input_digest:
        moved = components(mutated(spec, input_digest=digit * 64))
        assert keys.cache_key(moved) != keys.cache_key(before)
        assert keys.explain(before, moved)[0].startswith("input rows changed")
