"""What every local area shares: the platform, the actor, and paging of whole lists."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from mlstudio.errors import InvalidInputError

if TYPE_CHECKING:
    from mlstudio.platform import Platform

T = TypeVar("T")


SERVER_EXECUTOR = "queue"  # a server's runs are driven by its run driver on its workers


class Area:
    def __init__(self, platform: Platform, actor: str, served: bool = False) -> None:
        self.platform = platform
        self.actor = actor
        self.served = served

    def refuse_working_copy(self, ref: str, verb: str) -> None:
        """A server runs pushed workflows only: ``PATH.py:FUNCTION`` names a file on the
        caller's machine, not the server's."""
        text = ref.strip()
        if self.served and (".py:" in text or text.endswith(".py")):
            raise InvalidInputError(
                f"{ref!r} is a working copy: a server runs pushed workflows only",
                hint=f"push the module, then {verb} NS/MODULE/WORKFLOW[:TAG|@N]",
            )


def check_page(limit: int | None, offset: int) -> None:
    if (limit is not None and limit < 1) or offset < 0:
        raise InvalidInputError(
            f"invalid page (limit {limit}, offset {offset})",
            hint="use a limit of at least 1 and an offset of at least 0",
        )


def page(items: list[T], limit: int | None, offset: int) -> list[T]:
    """``items[offset : offset + limit]`` (all from ``offset`` when ``limit`` is None)."""
    check_page(limit, offset)
    return items[offset:] if limit is None else items[offset : offset + limit]


def as_dicts(records: list[Any]) -> list[Any]:
    return [r.to_dict() for r in records]
