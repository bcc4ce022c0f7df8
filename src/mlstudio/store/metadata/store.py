"""The metadata store: an engine plus units of work that bind repositories to one transaction."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy import exc as sa_exc

from mlstudio.errors import ConflictError, InvalidInputError

if TYPE_CHECKING:
    from mlstudio.store.metadata.repositories.audit import AuditRepository
    from mlstudio.store.metadata.repositories.deployments import DeploymentRepository
    from mlstudio.store.metadata.repositories.evaluation import EvaluationRepository
    from mlstudio.store.metadata.repositories.features import FeatureRepository
    from mlstudio.store.metadata.repositories.flags import FlagRepository
    from mlstudio.store.metadata.repositories.genai import GenAIRepository
    from mlstudio.store.metadata.repositories.governance import (
        DatasetRepository,
        DeclassifierRepository,
        DomainRepository,
        TokenRepository,
    )
    from mlstudio.store.metadata.repositories.identity import IdentityRepository
    from mlstudio.store.metadata.repositories.maintenance import MaintenanceRepository
    from mlstudio.store.metadata.repositories.modules import ModuleRepository
    from mlstudio.store.metadata.repositories.monitoring import MonitorRepository
    from mlstudio.store.metadata.repositories.queue import QueueRepository
    from mlstudio.store.metadata.repositories.registry import RegistryRepository
    from mlstudio.store.metadata.repositories.runs import RunRepository
    from mlstudio.store.metadata.repositories.schedules import ScheduleRepository
    from mlstudio.store.metadata.repositories.tracking import TrackingRepository
    from mlstudio.store.metadata.repositories.webhooks import WebhookRepository

T = TypeVar("T")


class UnitOfWork:
    """Repositories sharing one connection (and so one transaction); each is created (and its
    module imported) on first use, so a command imports only the repositories it touches."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @cached_property
    def modules(self) -> ModuleRepository:
        from mlstudio.store.metadata.repositories.modules import ModuleRepository

        return ModuleRepository(self.conn)

    @cached_property
    def identity(self) -> IdentityRepository:
        from mlstudio.store.metadata.repositories.identity import IdentityRepository

        return IdentityRepository(self.conn)

    @cached_property
    def audit(self) -> AuditRepository:
        from mlstudio.store.metadata.repositories.audit import AuditRepository

        return AuditRepository(self.conn)

    @cached_property
    def runs(self) -> RunRepository:
        from mlstudio.store.metadata.repositories.runs import RunRepository

        return RunRepository(self.conn)

    @cached_property
    def tokens(self) -> TokenRepository:
        from mlstudio.store.metadata.repositories.governance import TokenRepository

        return TokenRepository(self.conn)

    @cached_property
    def domains(self) -> DomainRepository:
        from mlstudio.store.metadata.repositories.governance import DomainRepository

        return DomainRepository(self.conn)

    @cached_property
    def datasets(self) -> DatasetRepository:
        from mlstudio.store.metadata.repositories.governance import DatasetRepository

        return DatasetRepository(self.conn)

    @cached_property
    def declassifiers(self) -> DeclassifierRepository:
        from mlstudio.store.metadata.repositories.governance import DeclassifierRepository

        return DeclassifierRepository(self.conn)

    @cached_property
    def schedules(self) -> ScheduleRepository:
        from mlstudio.store.metadata.repositories.schedules import ScheduleRepository

        return ScheduleRepository(self.conn)

    @cached_property
    def webhooks(self) -> WebhookRepository:
        from mlstudio.store.metadata.repositories.webhooks import WebhookRepository

        return WebhookRepository(self.conn)

    @cached_property
    def queue(self) -> QueueRepository:
        from mlstudio.store.metadata.repositories.queue import QueueRepository

        return QueueRepository(self.conn)

    @cached_property
    def registry(self) -> RegistryRepository:
        from mlstudio.store.metadata.repositories.registry import RegistryRepository

        return RegistryRepository(self.conn)

    @cached_property
    def evaluation(self) -> EvaluationRepository:
        from mlstudio.store.metadata.repositories.evaluation import EvaluationRepository

        return EvaluationRepository(self.conn)

    @cached_property
    def deployments(self) -> DeploymentRepository:
        from mlstudio.store.metadata.repositories.deployments import DeploymentRepository

        return DeploymentRepository(self.conn)

    @cached_property
    def flags(self) -> FlagRepository:
        from mlstudio.store.metadata.repositories.flags import FlagRepository

        return FlagRepository(self.conn)

    @cached_property
    def monitoring(self) -> MonitorRepository:
        from mlstudio.store.metadata.repositories.monitoring import MonitorRepository

        return MonitorRepository(self.conn)

    @cached_property
    def features(self) -> FeatureRepository:
        from mlstudio.store.metadata.repositories.features import FeatureRepository

        return FeatureRepository(self.conn)

    @cached_property
    def genai(self) -> GenAIRepository:
        from mlstudio.store.metadata.repositories.genai import GenAIRepository

        return GenAIRepository(self.conn)

    @cached_property
    def maintenance(self) -> MaintenanceRepository:
        from mlstudio.store.metadata.repositories.maintenance import MaintenanceRepository

        return MaintenanceRepository(self.conn)

    @cached_property
    def tracking(self) -> TrackingRepository:
        from mlstudio.store.metadata.repositories.tracking import TrackingRepository

        return TrackingRepository(self.conn)


class MetadataStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._installation_id: str | None = None

    @contextmanager
    def transaction(self) -> Iterator[UnitOfWork]:
        """A write transaction: committed on success, rolled back on any error."""
        with _unstorable_input(), self.engine.begin() as conn:
            yield UnitOfWork(conn)

    @contextmanager
    def read(self) -> Iterator[UnitOfWork]:
        # Read-only units of work take a deferred BEGIN on SQLite, so they never wait on writers.
        with (
            _unstorable_input(),
            self.engine.connect().execution_options(mlstudio_readonly=True) as conn,
        ):
            yield UnitOfWork(conn)
            conn.rollback()

    def held(self) -> HeldConnection:
        """One connection kept for a series of write transactions (an engine's steps): each
        :meth:`HeldConnection.transaction` is a transaction like :meth:`transaction`'s, without
        checking a connection out of the pool and back for each. Close it when done."""
        return HeldConnection(self.engine)

    def installation_id(self) -> str:
        """This installation's random id (made with its database; the same for every process)."""
        if self._installation_id is None:
            from sqlalchemy import select

            from mlstudio.store.metadata.tables import installation

            with self.read() as uow:
                self._installation_id = uow.conn.execute(select(installation.c.id)).scalar_one()
        return self._installation_id

    def retrying(self, fn: Callable[[UnitOfWork], T], attempts: int = 8) -> T:
        """Run ``fn`` in a transaction, retrying when a concurrent writer won a unique race."""
        for attempt in range(attempts):
            try:
                with self.transaction() as uow:
                    return fn(uow)
            except (sa_exc.IntegrityError, sa_exc.OperationalError) as exc:
                if attempt == attempts - 1 or not _is_race(exc):
                    raise ConflictError(
                        f"a concurrent change conflicted: {str(exc.orig).splitlines()[0]}",
                        hint="retry the command",
                    ) from exc
                time.sleep(0.01 * (2**attempt))
        raise AssertionError("unreachable")


class HeldConnection:
    """A connection checked out once for many short write transactions.

    Checking a connection out of the pool and back costs more than a small SQLite transaction
    (and on Postgres a ping and a reset: two round trips). A connection idle for longer than
    ``IDLE_S`` goes back to the pool before the next transaction and a fresh one is checked
    out (pinged where the pool pings), so a connection the server dropped while the engine
    waited for a long task is not used; one invalidated by an error is replaced on next use.
    """

    IDLE_S = 1.0

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None
        self._last = 0.0

    @contextmanager
    def transaction(self) -> Iterator[UnitOfWork]:
        """A write transaction on the held connection: committed on success, rolled back on
        any error."""
        now = time.monotonic()
        if self._conn is not None and (now - self._last > self.IDLE_S or self._conn.closed):
            self.close()
        if self._conn is None:
            self._conn = self._engine.connect()
        conn = self._conn
        try:
            with _unstorable_input(), conn.begin():
                yield UnitOfWork(conn)
        finally:
            self._last = time.monotonic()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


@contextmanager
def _unstorable_input() -> Iterator[None]:
    """A value no database can hold (a NUL character in text, a number past its column's
    range) is the caller's bad input, whatever path brought it here: a 400, never a 500."""
    try:
        yield
    except sa_exc.DataError as exc:
        text = str(exc.orig).lower()
        if "nul" in text or "0x00" in text:
            raise InvalidInputError(
                "text may not contain NUL (0x00) characters",
                hint="remove the NUL character from the value",
            ) from exc
        if "out of range" in text:
            raise InvalidInputError(
                f"a number is out of range: {str(exc.orig).splitlines()[0]}",
                hint="use a smaller number",
            ) from exc
        raise
    except OverflowError as exc:  # SQLite's driver refuses a number past 64 bits itself
        raise InvalidInputError(
            f"a number is out of range: {exc}", hint="use a smaller number"
        ) from exc


def _is_race(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(
        s in text for s in ("unique", "duplicate key", "database is locked", "deadlock", "serializ")
    )
