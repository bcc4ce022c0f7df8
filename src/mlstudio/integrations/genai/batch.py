"""Batch inference: a table through a model in bounded batches, checkpointed per batch.

Each row is one *item*. Its key is the digest of what determines its answer: the provider and
model, the operation and its options, the prompt's digest and the item's values. Items already
kept under their key (``genai_items``) are taken, not computed: a resumed run (after a kill, a
preemption, a budget stop) or a re-run with one changed prompt computes only what is new, and
never pays for an item twice.

Per batch, in this order: reserve the batch's estimated cost against the namespace budget
(one transaction: refused with the numbers when it does not fit), call the model, keeping each
generated answer as it arrives (an embedding batch, one call, when it returns), then end the
reservation: what was spent is what the kept items cost. A kill mid-batch loses only the calls
in flight; a resumed run never asks again for an answer it kept.

An item the provider fails to answer (after the provider's own retries: timeouts, malformed
JSON, 5xx) is marked ``failed`` with its error and is not kept, so the next run retries it; the
batch goes on. Bad input (a missing column, a null or mistyped value, an unknown provider) is
refused before any call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from mlstudio.errors import InvalidInputError, ProviderError
from mlstudio.integrations.genai import budgets
from mlstudio.integrations.genai.prompts import Prompt
from mlstudio.integrations.genai.providers import Price, Provider, Usage

OPERATIONS = ("generate", "embed")
MAX_BATCH = 10_000
RESULT_COLUMNS = (
    "status",
    "error",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "latency_s",
    "cached",
)


@dataclass(frozen=True)
class BatchSpec:
    """What to compute: the operation, the prompt (generate) or text column (embed), options."""

    operation: str
    prompt: Prompt | None = None
    text_column: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)  # prompt variable -> column
    output: str = "output"
    batch_size: int = 16
    concurrency: int = 4
    max_tokens: int = 256
    temperature: float = 0.0

    def __post_init__(self) -> None:
        if self.operation not in OPERATIONS:
            raise InvalidInputError(
                f"unknown operation {self.operation!r}", hint=f"use one of: {', '.join(OPERATIONS)}"
            )
        if self.operation == "generate" and self.prompt is None:
            raise InvalidInputError(
                "generate needs a prompt", hint="pass prompt=Prompt(...) or a prompt reference"
            )
        if self.operation == "embed" and (self.text_column is None) == (self.prompt is None):
            raise InvalidInputError(
                "embed takes the text from one column or from a prompt",
                hint="pass text_column='COLUMN' (or prompt=, not both)",
            )
        for name, value, low, high in (
            ("batch_size", self.batch_size, 1, MAX_BATCH),
            ("concurrency", self.concurrency, 1, 64),
            ("max_tokens", self.max_tokens, 1, 1_000_000),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise InvalidInputError(
                    f"invalid {name} {value!r}", hint=f"give a whole number from {low} to {high}"
                )


@dataclass
class Item:
    index: int
    key: str
    request: Any  # chat messages (generate) or a text (embed)
    output: Any = None
    status: str = "ok"
    error: str | None = None
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    cached: bool = False


class Ledger:
    """Where a batch keeps its items and settles its money: the metadata store, with the
    run and task it belongs to and the namespace whose budget it spends."""

    def __init__(
        self, store: Any, namespace: str | None, run_id: str | None, node_id: str | None
    ) -> None:
        self.store = store
        self.namespace = namespace
        self.run_id = run_id
        self.node_id = node_id

    def start(self) -> None:
        if self.run_id is not None and self.node_id is not None:
            with self.store.transaction() as uow:
                budgets.release_task(uow, self.run_id, self.node_id)

    def kept(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        with self.store.read() as uow:
            return uow.genai.items(keys)

    def reserve(self, usd: float, what: str, items: int = 0) -> budgets.Reservation:
        if usd <= 0:  # nothing to reserve, nothing a budget could refuse: no transaction
            return budgets.Reservation(None, self.namespace, 0.0)
        with self.store.transaction() as uow:
            return budgets.reserve(
                uow,
                self.namespace,
                usd,
                run_id=self.run_id,
                node_id=self.node_id,
                what=what,
                items=items,
            )

    def keep(self, items: list[Item]) -> None:
        """Keep computed items (their answers and what they cost) in one transaction."""
        from mlstudio.core.clock import utcnow

        now = utcnow()
        rows = [
            {
                "key": item.key,
                "output": item.output,
                "input_tokens": item.usage.input_tokens,
                "output_tokens": item.usage.output_tokens,
                "cost_usd": item.cost_usd,
                "latency_s": item.usage.compute_s,
                "namespace": self.namespace,
                "run_id": self.run_id,
                "node_id": self.node_id,
                "created_at": now,
            }
            for item in items
            if item.status == "ok" and not item.cached
        ]
        if rows:
            with self.store.transaction() as uow:
                uow.genai.put_items(rows)

    def settle(self, reservation: budgets.Reservation, remaining: int) -> None:
        if reservation.id is None and (self.run_id is None or self.node_id is None):
            return  # no reservation to end and no run whose progress to record
        with self.store.transaction() as uow:
            budgets.settle(
                uow, reservation, run_id=self.run_id, node_id=self.node_id, remaining=remaining
            )


def model_identity(provider: Provider) -> str:
    return f"{provider.name}|{provider.model}|{getattr(provider, 'version', '')}"


def plan_items(table: Any, spec: BatchSpec, provider: Provider) -> list[Item]:
    """One item per row, each with its key and its request; bad input refused here."""
    from mlstudio.core.hashing import digest_of

    names = list(table.column_names)
    if spec.output in names:
        raise InvalidInputError(
            f"the input already has a column {spec.output!r}", hint="pass output='ANOTHER_NAME'"
        )
    clash = [c for c in RESULT_COLUMNS if c in names]
    if clash:
        raise InvalidInputError(
            f"the input has a column {clash[0]!r}, which batch inference adds",
            hint="rename that column in the input",
        )
    if spec.prompt is not None:
        spec.prompt.check_columns(spec.columns, names)
        wanted = {v: spec.columns.get(v, v) for v in spec.prompt.variables or {}}
    else:
        assert spec.text_column is not None
        if spec.text_column not in names:
            raise InvalidInputError(
                f"the input has no column {spec.text_column!r} (it has: {', '.join(names)})",
                hint="pass text_column= one of the input's columns",
            )
        wanted = {"text": spec.text_column}
    values = {v: table.column(c).to_pylist() for v, c in wanted.items()}
    fixed = {
        "model": model_identity(provider),
        "operation": spec.operation,
        "options": (
            {"max_tokens": spec.max_tokens, "temperature": spec.temperature}
            if spec.operation == "generate"
            else {}
        ),
        "prompt": spec.prompt.digest if spec.prompt is not None else None,
    }
    items: list[Item] = []
    for index in range(table.num_rows):
        row = {v: column[index] for v, column in values.items()}
        try:
            if spec.prompt is not None:
                messages = spec.prompt.render(row)
                request: Any = messages if spec.operation == "generate" else messages[-1]["content"]
            else:
                request = row["text"]
                if not isinstance(request, str):
                    raise InvalidInputError(
                        f"column {spec.text_column!r} holds {type(request).__name__}, not text",
                        hint="embed a text column without nulls",
                    )
        except InvalidInputError as exc:
            raise InvalidInputError(
                f"row {index}: {exc.message}", hint=exc.hint or "fix the input"
            ) from None
        items.append(Item(index, digest_of({**fixed, "values": row}), request))
    return items


def _estimate(provider: Provider, spec: BatchSpec, items: list[Item]) -> float:
    """The most a batch can cost: its input tokens counted here, ``max_tokens`` per answer,
    and (for a compute-priced model) an assumed second per item. A free model is not
    tokenized twice: its estimate is 0."""
    price: Price = provider.price
    if not (price.per_1k_input or price.per_1k_output or price.per_compute_s):
        return 0.0
    tokens = 0
    if price.per_1k_input:
        for item in items:
            tokens += provider.count_tokens(_text_of(item.request))
    out = spec.max_tokens * len(items) if spec.operation == "generate" else 0
    return price.cost(Usage(tokens, out, float(len(items))))


def _text_of(request: Any) -> str:
    return "\n".join(m["content"] for m in request) if isinstance(request, list) else request


def _compute(
    provider: Provider, spec: BatchSpec, batch: list[Item], keep: Callable[[list[Item]], None]
) -> None:
    """Compute ``batch``, keeping what is computed: an embedding batch (one call) when it
    returns, each generated answer as soon as it arrives (a kill loses no answer)."""
    if spec.operation == "embed":
        try:
            answer = provider.embed_with_usage([item.request for item in batch])
        except ProviderError as exc:
            for item in batch:
                item.status, item.error = "failed", exc.one_line()
            return
        # one call for the batch: its tokens and time are shared by the items' text lengths
        sizes = [len(item.request) + 1 for item in batch]
        total = sum(sizes)
        for item, vector, size in zip(batch, answer.vectors, sizes, strict=True):
            share = size / total
            item.output = [float(x) for x in vector]
            item.usage = Usage(round(answer.input_tokens * share), 0, answer.latency_s * share)
            item.cost_usd = provider.price.cost(item.usage)
        keep(batch)
        return

    def one(item: Item) -> Item:
        try:
            answer = provider.generate(
                item.request, max_tokens=spec.max_tokens, temperature=spec.temperature
            )
        except ProviderError as exc:
            item.status, item.error = "failed", exc.one_line()
            return item
        item.output = answer.text
        item.usage = answer.usage
        item.cost_usd = provider.price.cost(item.usage)
        return item

    if spec.concurrency == 1 or len(batch) == 1:
        for item in batch:
            keep([one(item)])
        return
    with ThreadPoolExecutor(max_workers=min(spec.concurrency, len(batch))) as pool:
        for done in as_completed([pool.submit(one, item) for item in batch]):
            keep([done.result()])  # in this thread: one writer to the store


@dataclass
class BatchReport:
    items: int = 0
    computed: int = 0
    cached: int = 0
    failed: int = 0
    batches: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def run_batch(
    table: Any,
    spec: BatchSpec,
    provider: Provider,
    ledger: Ledger,
    *,
    progress: Callable[[str], None] | None = None,
    on_item: Callable[[Item], None] | None = None,
) -> tuple[Any, BatchReport]:
    """Compute every item of ``table`` (an Arrow table); returns the table with the output
    and per-item result columns, and the report."""
    started = time.perf_counter()
    items = plan_items(table, spec, provider)
    ledger.start()
    kept = ledger.kept([item.key for item in items])
    report = BatchReport(items=len(items))
    todo: list[Item] = []
    for item in items:
        row = kept.get(item.key)
        if row is None:
            todo.append(item)
            continue
        item.cached = True
        item.output = row["output"]
        item.usage = Usage(row["input_tokens"], row["output_tokens"], row["latency_s"])
        item.cost_usd = float(row["cost_usd"])
        report.cached += 1
    total_batches = -(-len(todo) // spec.batch_size)
    for number, start in enumerate(range(0, len(todo), spec.batch_size), 1):
        batch = todo[start : start + spec.batch_size]
        what = f"batch {number}/{total_batches} ({len(batch)} items)"
        reservation = ledger.reserve(_estimate(provider, spec, batch), what, len(batch))
        _compute(provider, spec, batch, ledger.keep)
        ledger.settle(reservation, len(todo) - start - len(batch))
        report.batches += 1
        report.computed += sum(1 for item in batch if item.status == "ok")
        report.failed += sum(1 for item in batch if item.status == "failed")
        report.cost_usd += sum(item.cost_usd for item in batch)
        if progress is not None:
            progress(
                f"{what}: {report.computed + report.cached}/{len(items)} done "
                f"({report.cached} kept, {report.failed} failed), ${report.cost_usd:.4f}"
            )
    for item in items:
        report.input_tokens += item.usage.input_tokens
        report.output_tokens += item.usage.output_tokens
        if on_item is not None:
            on_item(item)
    report.seconds = time.perf_counter() - started
    return _result_table(table, spec, items), report


def _result_table(table: Any, spec: BatchSpec, items: list[Item]) -> Any:
    import pyarrow as pa

    if spec.operation == "embed":
        output = pa.array([item.output for item in items], type=pa.list_(pa.float32()))
    else:
        output = pa.array([item.output for item in items], type=pa.string())
    columns = {
        spec.output: output,
        "status": pa.array([item.status for item in items], type=pa.string()),
        "error": pa.array([item.error for item in items], type=pa.string()),
        "input_tokens": pa.array([item.usage.input_tokens for item in items], type=pa.int64()),
        "output_tokens": pa.array([item.usage.output_tokens for item in items], type=pa.int64()),
        "cost_usd": pa.array([item.cost_usd for item in items], type=pa.float64()),
        "latency_s": pa.array([item.usage.compute_s for item in items], type=pa.float64()),
        "cached": pa.array([item.cached for item in items], type=pa.bool_()),
    }
    out = table
    for name, values in columns.items():
        out = out.append_column(name, values)
    return out
