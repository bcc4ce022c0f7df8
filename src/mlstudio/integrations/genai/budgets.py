"""Money budgets per namespace, enforced by reservation.

A budget is USD per rolling period (``--usd 200 --period 30d``: at most $200 spent in any 30
days). Work that costs money reserves its *estimated* cost before it starts, in the same
transaction that checks ``spent + reserved + estimate <= budget``, and settles after: the
reservation is replaced by what was actually spent. Two jobs racing for the last of a budget
are serialized on the budget row (``FOR UPDATE`` on Postgres, the write lock on SQLite), so
the later one sees the earlier one's reservation and waits or is refused: the budget is
overshot by at most the difference between one batch's estimate and its real cost, never by
a whole job.

What was spent is what the kept items cost: a batch keeps each item (and its cost) as soon as
it is computed, so a kill mid-batch loses no paid-for answer and the budget sees every one.

A reservation whose attempt died (a killed worker, a preempted task) must not hold money
forever: the next attempt of the same task drops its task's open reservations first
(:func:`release_task`), and any reservation older than :data:`RESERVATION_TTL` no longer
counts.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from mlstudio.core.clock import utcnow
from mlstudio.errors import BudgetExceededError, InvalidInputError

RESERVATION_TTL = timedelta(hours=1)
_PERIOD = re.compile(r"^\s*(\d+)\s*([hdw])\s*$")
_UNITS = {"h": 3600, "d": 86400, "w": 604800}
MAX_USD = 1e9


def parse_period(text: str) -> int:
    """``30d``, ``12h``, ``4w`` as seconds."""
    found = _PERIOD.match(str(text or ""))
    if not found or int(found.group(1)) < 1:
        raise InvalidInputError(
            f"invalid budget period {text!r}", hint="give hours, days or weeks, e.g. 30d, 12h, 4w"
        )
    return int(found.group(1)) * _UNITS[found.group(2)]


def period_text(seconds: int) -> str:
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def check_usd(usd: Any) -> float:
    if isinstance(usd, bool) or not isinstance(usd, int | float) or not math.isfinite(usd):
        raise InvalidInputError(f"invalid budget {usd!r}", hint="give a USD amount, e.g. 200")
    if usd < 0 or usd > MAX_USD:
        raise InvalidInputError(
            f"invalid budget {usd!r}: it must be between 0 and {MAX_USD:.0f} USD",
            hint="give a USD amount, e.g. 200",
        )
    return float(usd)


def budget_view(uow: Any, namespace: str) -> dict[str, Any]:
    """A namespace's budget, what it spent in the period (the last 30 days without a budget)
    and what is reserved now."""
    budget = uow.genai.budget(namespace)
    period_s = int(budget["period_s"]) if budget is not None else 30 * 86400
    now = utcnow()
    totals = uow.genai.ledger_totals(
        namespace, now - timedelta(seconds=period_s), now - RESERVATION_TTL
    )
    usd = float(budget["usd"]) if budget is not None else None
    return {
        "namespace": namespace,
        "usd": usd,
        "period": period_text(period_s) if budget is not None else None,
        "spent_usd": totals["spent"],
        "reserved_usd": totals["reserved"],
        "remaining_usd": (
            max(0.0, usd - totals["spent"] - totals["reserved"]) if usd is not None else None
        ),
    }


@dataclass(frozen=True)
class Reservation:
    id: int | None  # None: no money was reserved (no budget, or nothing to pay)
    namespace: str | None
    usd: float


def reserve(
    uow: Any,
    namespace: str | None,
    usd: float,
    *,
    run_id: str | None,
    node_id: str | None,
    what: str,
    items: int = 0,
) -> Reservation:
    """Reserve ``usd`` against ``namespace``'s budget, or refuse with the numbers. Without a
    budget nothing is reserved and nothing is refused. Work with no namespace (a workflow
    file's run, a script) may not spend money once any namespace has a budget: no budget could
    pay for it, so it would be a way around all of them."""
    if namespace is None:
        if usd > 0 and uow.genai.any_budget():
            raise BudgetExceededError(
                f"{what} would spend up to ${usd:.4f} outside any namespace, and money is "
                "budgeted per namespace here",
                hint="run it from a pushed module (its namespace's budget pays), or use a free "
                "model",
            )
        return Reservation(None, None, 0.0)
    budget = uow.genai.budget(namespace, for_update=True)  # serializes reservations
    if budget is None:
        return Reservation(None, namespace, 0.0)
    view = budget_view(uow, namespace)
    if usd > view["remaining_usd"] + 1e-12:
        raise BudgetExceededError(
            f"{what} needs up to ${usd:.4f}, but namespace {namespace} has ${view['remaining_usd']:.4f}"
            f" left of its ${view['usd']:.2f} per {view['period']} (spent ${view['spent_usd']:.4f},"
            f" reserved ${view['reserved_usd']:.4f})",
            hint=f"raise the budget (mlstudio namespace budget {namespace} --usd N) and resume "
            "the run, or wait for the period to roll on",
        )
    entry = uow.genai.add_reservation(namespace, usd, run_id, node_id, what, items)
    return Reservation(entry, namespace, usd)


def settle(
    uow: Any,
    reservation: Reservation,
    *,
    run_id: str | None,
    node_id: str | None,
    remaining: int,
) -> None:
    """End ``reservation`` (what its batch spent is in the items it kept) and record how many
    items of the task are still to compute (the run's estimate to finish)."""
    if reservation.id is not None:
        uow.genai.remove_entry(reservation.id)
    if reservation.namespace is not None and run_id is not None and node_id is not None:
        uow.genai.set_progress(reservation.namespace, run_id, node_id, remaining)


def release_task(uow: Any, run_id: str, node_id: str) -> int:
    """Drop the open reservations of a task whose earlier attempt died before settling."""
    return uow.genai.remove_reservations(run_id, node_id)
