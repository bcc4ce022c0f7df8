from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Text, cast, delete, func, insert, or_, select, update

from mlstudio.core.clock import utcnow
from mlstudio.modules.records import (
    ModuleRecord,
    ModuleVersionRecord,
    NamespaceRecord,
    TagEventRecord,
    TagRecord,
)
from mlstudio.store.metadata.tables import (
    deleted_versions,
    module_versions,
    modules,
    namespaces,
    tag_events,
    tags,
)

PROMOTED_TAG = "latest"  # the tag whose version describes a module in the catalog


def _namespace(r) -> NamespaceRecord:
    return NamespaceRecord(
        r.name,
        r.description,
        r.created_by,
        r.created_at,
        max_running_runs=r.max_running_runs,
        max_running_tasks=r.max_running_tasks,
    )


def _module(r) -> ModuleRecord:
    return ModuleRecord(
        id=r.id,
        full_name=r.full_name,
        namespace=r.namespace,
        name=r.name,
        description=r.description,
        latest_version=r.latest_version,
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


def _version(r, module: str) -> ModuleVersionRecord:
    return ModuleVersionRecord(
        module=module,
        version=r.version,
        digest=r.digest,
        archive_digest=r.archive_digest,
        size_bytes=r.size_bytes,
        file_count=r.file_count,
        manifest=r.manifest,
        tasks=r.tasks,
        requirements=r.requirements,
        env_digest=r.env_digest,
        pushed_by=r.pushed_by,
        pushed_at=r.pushed_at,
        message=r.message,
        git_commit=r.git_commit,
        git_dirty=r.git_dirty,
        tests_passed=r.tests_passed,
        test_summary=r.test_summary,
    )


class ModuleRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- namespaces ---------------------------------------------------------------------------
    def get_namespace(self, name: str) -> NamespaceRecord | None:
        r = self.conn.execute(select(namespaces).where(namespaces.c.name == name)).first()
        return _namespace(r) if r else None

    def create_namespace(self, name: str, description: str, created_by: str) -> NamespaceRecord:
        self.conn.execute(
            insert(namespaces).values(
                name=name, description=description, created_by=created_by, created_at=utcnow()
            )
        )
        ns = self.get_namespace(name)
        assert ns is not None
        return ns

    def list_namespaces(self) -> list[NamespaceRecord]:
        rows = self.conn.execute(select(namespaces).order_by(namespaces.c.name))
        return [_namespace(r) for r in rows]

    def set_namespace_quota(self, name: str, values: dict[str, int | None]) -> None:
        """Store quota columns (``max_running_runs``, ``max_running_tasks``) of a namespace."""
        if values:
            self.conn.execute(update(namespaces).where(namespaces.c.name == name).values(**values))

    # --- modules ------------------------------------------------------------------------------
    def get_module(self, full_name: str, *, for_update: bool = False) -> ModuleRecord | None:
        q = select(modules).where(modules.c.full_name == full_name)
        if for_update:
            q = q.with_for_update()
        r = self.conn.execute(q).first()
        return _module(r) if r else None

    def create_module(self, namespace: str, name: str, description: str) -> ModuleRecord:
        now = utcnow()
        self.conn.execute(
            insert(modules).values(
                namespace=namespace,
                name=name,
                full_name=f"{namespace}/{name}",
                description=description,
                latest_version=0,
                created_at=now,
                updated_at=now,
            )
        )
        module = self.get_module(f"{namespace}/{name}")
        assert module is not None
        return module

    def search_modules(
        self,
        text: str | None = None,
        namespace: str | None = None,
        *,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[ModuleRecord]:
        """Modules ordered by name whose name, description or newest task/workflow names
        contain ``text`` (case-insensitive; ``%`` and ``_`` are plain characters).

        Task names live in the newest version's task list (JSON). JSON functions differ between
        SQLite and Postgres, so SQL only narrows the candidates (a superset: the names appear in
        the JSON text) and the match itself is decided here, the same way on every backend.
        """
        limit, offset = max(0, limit), max(0, offset)
        q = select(modules).order_by(modules.c.full_name)
        if namespace:
            q = q.where(modules.c.namespace == namespace)
        if not text:
            return [_module(r) for r in self.conn.execute(q.limit(limit).offset(offset))]
        needle = _fold(text, text)
        newest = module_versions.c.tasks
        q = q.add_columns(newest.label("newest_tasks")).outerjoin(
            module_versions,
            (module_versions.c.module_id == modules.c.id)
            & (module_versions.c.version == modules.c.latest_version),
        )
        if text.isascii():
            # An ASCII needle found by Python's matching below is also found by SQL's lower()
            # (ASCII case folding is the same everywhere), so this only drops non-matches.
            q = q.where(
                or_(
                    func.lower(modules.c.full_name).contains(needle, autoescape=True),
                    func.lower(modules.c.description).contains(needle, autoescape=True),
                    func.lower(cast(newest, Text())).contains(needle, autoescape=True),
                )
            )
        found: list[ModuleRecord] = []
        for r in self.conn.execute(q):
            names = [t.get("name", "") for t in (r.newest_tasks or []) if isinstance(t, dict)]
            if any(needle in _fold(text, value) for value in (r.full_name, r.description, *names)):
                found.append(_module(r))
        return found[offset : offset + limit]

    # --- versions -----------------------------------------------------------------------------
    def version_by_digest(self, module: ModuleRecord, digest: str) -> ModuleVersionRecord | None:
        r = self.conn.execute(
            select(module_versions).where(
                module_versions.c.module_id == module.id, module_versions.c.digest == digest
            )
        ).first()
        return _version(r, module.full_name) if r else None

    def get_version(self, module: ModuleRecord, version: int) -> ModuleVersionRecord | None:
        r = self.conn.execute(
            select(module_versions).where(
                module_versions.c.module_id == module.id, module_versions.c.version == version
            )
        ).first()
        return _version(r, module.full_name) if r else None

    def archive_digest(self, module: ModuleRecord, version: int) -> str:
        found = self.get_version(module, version)
        if found is None:
            raise LookupError(f"{module.full_name}@{version}")
        return found.archive_digest

    def list_versions(self, module: ModuleRecord) -> list[ModuleVersionRecord]:
        rows = self.conn.execute(
            select(module_versions)
            .where(module_versions.c.module_id == module.id)
            .order_by(module_versions.c.version)
        )
        return [_version(r, module.full_name) for r in rows]

    def add_version(self, module: ModuleRecord, values: dict[str, Any]) -> ModuleVersionRecord:
        """Publish the next version number; the caller holds the module row lock. Numbers of
        deleted versions are never given out again."""
        current = self.conn.execute(
            select(func.max(module_versions.c.version)).where(
                module_versions.c.module_id == module.id
            )
        ).scalar()
        deleted = self.conn.execute(
            select(func.max(deleted_versions.c.version)).where(
                deleted_versions.c.kind == "module", deleted_versions.c.name == module.full_name
            )
        ).scalar()
        number = max(current or 0, deleted or 0) + 1
        self.conn.execute(
            insert(module_versions).values(module_id=module.id, version=number, **values)
        )
        changes: dict[str, Any] = {"latest_version": number, "updated_at": utcnow()}
        if self.get_tag(module, PROMOTED_TAG) is None:
            # the catalog shows the promoted version's description once there is one
            changes["description"] = values["manifest"].get("description", "")
        self.conn.execute(update(modules).where(modules.c.id == module.id).values(**changes))
        record = self.get_version(module, number)
        assert record is not None
        return record

    def record_tests(
        self, module: ModuleRecord, version: int, summary: dict[str, Any]
    ) -> ModuleVersionRecord:
        """Record a (re-)run of a version's tests; its content and number never change."""
        self.conn.execute(
            update(module_versions)
            .where(module_versions.c.module_id == module.id, module_versions.c.version == version)
            .values(tests_passed=bool(summary.get("ok")), test_summary=summary)
        )
        record = self.get_version(module, version)
        assert record is not None
        return record

    def delete_version(self, module: ModuleRecord, version: int) -> None:
        """Remove a version row; ``latest_version`` becomes the newest remaining one."""
        self.conn.execute(
            delete(module_versions).where(
                module_versions.c.module_id == module.id, module_versions.c.version == version
            )
        )
        newest = self.conn.execute(
            select(func.max(module_versions.c.version)).where(
                module_versions.c.module_id == module.id
            )
        ).scalar()
        self.conn.execute(
            update(modules)
            .where(modules.c.id == module.id)
            .values(latest_version=newest or 0, updated_at=utcnow())
        )

    def set_archive_digest(self, module: ModuleRecord, version: int, digest: str) -> None:
        """Point a version at a re-stored archive of the same content (repair only)."""
        self.conn.execute(
            update(module_versions)
            .where(module_versions.c.module_id == module.id, module_versions.c.version == version)
            .values(archive_digest=digest)
        )

    # --- tags ---------------------------------------------------------------------------------
    def get_tag(self, module: ModuleRecord, tag: str) -> TagRecord | None:
        r = self.conn.execute(
            select(tags).where(tags.c.module_id == module.id, tags.c.name == tag)
        ).first()
        return (
            TagRecord(module.full_name, r.name, r.version, r.updated_by, r.updated_at)
            if r
            else None
        )

    def list_tags(self, module: ModuleRecord) -> list[TagRecord]:
        rows = self.conn.execute(
            select(tags).where(tags.c.module_id == module.id).order_by(tags.c.name)
        )
        return [
            TagRecord(module.full_name, r.name, r.version, r.updated_by, r.updated_at) for r in rows
        ]

    def move_tag(
        self, module: ModuleRecord, tag: str, version: int, actor: str, action: str
    ) -> TagEventRecord:
        now = utcnow()
        existing = self.get_tag(module, tag)
        if existing:
            self.conn.execute(
                update(tags)
                .where(tags.c.module_id == module.id, tags.c.name == tag)
                .values(version=version, updated_by=actor, updated_at=now)
            )
        else:
            self.conn.execute(
                insert(tags).values(
                    module_id=module.id, name=tag, version=version, updated_by=actor, updated_at=now
                )
            )
        if tag == PROMOTED_TAG:  # the catalog describes a module by its promoted version
            promoted = self.get_version(module, version)
            if promoted is not None:
                self.conn.execute(
                    update(modules)
                    .where(modules.c.id == module.id)
                    .values(description=promoted.manifest.get("description", ""))
                )
        event = {
            "module_id": module.id,
            "tag": tag,
            "from_version": existing.version if existing else None,
            "to_version": version,
            "action": action,
            "actor": actor,
            "at": now,
        }
        self.conn.execute(insert(tag_events).values(**event))
        return TagEventRecord(
            module.full_name, tag, event["from_version"], version, action, actor, now
        )

    def tag_history(self, module: ModuleRecord, tag: str | None = None) -> list[TagEventRecord]:
        q = select(tag_events).where(tag_events.c.module_id == module.id).order_by(tag_events.c.id)
        if tag:
            q = q.where(tag_events.c.tag == tag)
        return [
            TagEventRecord(
                module.full_name, r.tag, r.from_version, r.to_version, r.action, r.actor, r.at
            )
            for r in self.conn.execute(q)
        ]


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _fold(needle: str, value: str) -> str:
    """Case folding for search: ASCII-only for an ASCII needle (what SQL's lower() does on every
    backend, so the SQL pre-filter never drops a match), full Unicode otherwise."""
    value = value or ""
    return value.translate(_ASCII_LOWER) if needle.isascii() else value.lower()
