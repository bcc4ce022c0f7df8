"""Operations: cron schedules and webhooks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlstudio.app.local.base import Area, check_page

if TYPE_CHECKING:
    from mlstudio.app.views import AttemptView, DeliveryView, ScheduleView, WebhookView

NO_LIMIT = 2**31 - 1


class LocalSchedules(Area):
    def list(
        self, *, workflow: str | None = None, limit: int | None = 100, offset: int = 0
    ) -> list[ScheduleView]:
        check_page(limit, offset)
        return self.platform.schedules.list(  # type: ignore[return-value]
            self.actor, workflow=workflow, limit=NO_LIMIT if limit is None else limit, offset=offset
        )

    def add(
        self,
        workflow: str,
        cron: str,
        *,
        tz: str = "UTC",
        catchup: str = "none",
        params: dict[str, Any] | None = None,
        domain: str = "experimentation",
    ) -> ScheduleView:
        self.refuse_working_copy(workflow, "schedule")
        return self.platform.schedules.add(  # type: ignore[return-value]
            self.actor, workflow, cron, tz=tz, catchup=catchup, params=params, domain=domain
        )

    def show(self, schedule_id: str) -> ScheduleView:
        return self.platform.schedules.get(self.actor, schedule_id)  # type: ignore[return-value]

    def pause(self, schedule_id: str) -> ScheduleView:
        return self.platform.schedules.pause(self.actor, schedule_id)  # type: ignore[return-value]

    def resume(self, schedule_id: str) -> ScheduleView:
        return self.platform.schedules.resume(self.actor, schedule_id)  # type: ignore[return-value]

    def remove(self, schedule_id: str) -> ScheduleView:
        return self.platform.schedules.remove(self.actor, schedule_id)  # type: ignore[return-value]


class LocalWebhooks(Area):
    def list(self, *, include_removed: bool = False) -> list[WebhookView]:
        return self.platform.webhooks.list(self.actor, include_removed=include_removed)  # type: ignore[return-value]

    def add(self, url: str, events: list[str], *, secret: str | None = None) -> WebhookView:
        return self.platform.webhooks.subscribe(self.actor, url, events, secret=secret)  # type: ignore[return-value]

    def remove(self, webhook_id: str) -> WebhookView:
        return self.platform.webhooks.remove(self.actor, webhook_id)  # type: ignore[return-value]

    def deliveries(
        self,
        webhook_id: str,
        *,
        state: str | None = None,
        limit: int | None = 50,
        offset: int = 0,
    ) -> list[DeliveryView]:
        check_page(limit, offset)
        return self.platform.webhooks.deliveries(  # type: ignore[return-value]
            self.actor,
            webhook_id,
            state=state,
            limit=NO_LIMIT if limit is None else limit,
            offset=offset,
        )

    def attempts(
        self, delivery_id: int | str, *, limit: int | None = None, offset: int = 0
    ) -> list[AttemptView]:
        check_page(limit, offset)
        return self.platform.webhooks.attempts(  # type: ignore[return-value]
            self.actor, delivery_id, limit=limit, offset=offset
        )

    def replay(self, delivery_id: int | str) -> DeliveryView:
        return self.platform.webhooks.replay(self.actor, delivery_id)  # type: ignore[return-value]


__all__ = ["LocalSchedules", "LocalWebhooks"]
