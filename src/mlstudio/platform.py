"""The composition root: settings in, wired stores and services out. No logic of its own."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from mlstudio.core.ids import os_user, validate_user
from mlstudio.settings import Settings

if TYPE_CHECKING:
    from mlstudio.core.events import EventBus
    from mlstudio.data.catalog import DatasetService
    from mlstudio.governance.declassify import DeclassifierService
    from mlstudio.governance.domains import DomainService
    from mlstudio.governance.identity import IdentityService
    from mlstudio.governance.tokens import TokenService
    from mlstudio.integrations.registry.service import RegistryService
    from mlstudio.integrations.tracking.service import TrackingService
    from mlstudio.integrations.webhooks import WebhookService
    from mlstudio.modules.envs import EnvironmentManager
    from mlstudio.modules.service import ModuleService
    from mlstudio.scheduling.schedules import ScheduleService
    from mlstudio.store.artifacts.cas import ContentStore
    from mlstudio.store.metadata.store import MetadataStore
    from mlstudio.workflows.service import RunService


class Platform:
    """Build with ``Platform.open(settings)``; every edge (CLI, API, tests) goes through it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @classmethod
    def open(cls, settings: Settings | None = None, *, bootstrap: bool = True) -> Platform:
        """Create the home if needed, migrate the schema, and make the first user admin."""
        platform = cls(settings or Settings())
        platform.settings.home.mkdir(parents=True, exist_ok=True)
        from mlstudio.store.metadata import schema

        schema.upgrade(platform.store.engine)
        if bootstrap:
            platform.identity.bootstrap(platform.actor)
        return platform

    @property
    def actor(self) -> str:
        """Embedded mode's trusted identity: MLSTUDIO_USER or the OS user."""
        return validate_user(self.settings.user or os_user())

    @cached_property
    def store(self) -> MetadataStore:
        from mlstudio.store.metadata.engine import make_engine
        from mlstudio.store.metadata.store import MetadataStore

        engine = make_engine(
            self.settings.resolved_database_url,
            busy_timeout_ms=self.settings.sqlite_busy_timeout_ms,
        )
        return MetadataStore(engine)

    @cached_property
    def events(self) -> EventBus:
        """The run events' bus: the audit log and webhooks subscribe; add a subscriber with
        ``platform.events.subscribe(handler, EventType)`` (it runs in the change's transaction)."""
        from mlstudio.core.events import TaskTracked
        from mlstudio.workflows.subscribers import default_bus

        bus = default_bus()
        bus.subscribe_batch(
            lambda uow, events: self.registry.register_tracked(uow, events), TaskTracked
        )
        return bus

    @cached_property
    def cas(self) -> ContentStore:
        from mlstudio.store.artifacts.cas import ContentStore
        from mlstudio.store.artifacts.objectstore import open_object_store

        return ContentStore(open_object_store(self.settings.resolved_artifact_url))

    @cached_property
    def envs(self) -> EnvironmentManager:
        from mlstudio.modules.envs import EnvironmentManager

        return EnvironmentManager(self.settings.cache_dir, self.settings.uv_path)

    @cached_property
    def modules(self) -> ModuleService:
        from mlstudio.modules.service import ModuleService

        return ModuleService(self.store, self.cas, self.envs, self.settings.test_timeout_s)

    @cached_property
    def identity(self) -> IdentityService:
        from mlstudio.governance.identity import IdentityService

        return IdentityService(self.store)

    @cached_property
    def runs(self) -> RunService:
        from mlstudio.workflows.service import RunService

        return RunService(self.store, self.cas, self.modules, self.envs, self.settings, self.events)

    @cached_property
    def tokens(self) -> TokenService:
        from mlstudio.governance.tokens import TokenService

        return TokenService(self.store)

    @cached_property
    def domains(self) -> DomainService:
        from mlstudio.governance.domains import DomainService

        return DomainService(self.store)

    @cached_property
    def datasets(self) -> DatasetService:
        from mlstudio.data.catalog import DatasetService

        return DatasetService(self.store, self.cas)

    @cached_property
    def declassifiers(self) -> DeclassifierService:
        from mlstudio.governance.declassify import DeclassifierService

        return DeclassifierService(self.store, self.modules)

    @cached_property
    def schedules(self) -> ScheduleService:
        from mlstudio.scheduling.schedules import ScheduleService

        return ScheduleService(self.store, self.runs, self.modules)

    @cached_property
    def webhooks(self) -> WebhookService:
        from mlstudio.integrations.webhooks import WebhookService

        return WebhookService(self.store)

    @cached_property
    def tracking(self) -> TrackingService:
        from mlstudio.integrations.tracking.service import TrackingService

        return TrackingService(self.store, self.cas)

    @cached_property
    def registry(self) -> RegistryService:
        from mlstudio.integrations.registry.service import RegistryService

        return RegistryService(self.store, self.cas)

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.engine.dispose()
