"""The dataset catalog: import, list, show, classify, export and trace named datasets.

A dataset version ``NS/NAME@V`` is a Parquet blob in the content store plus a row in the metadata
database whose ``columns`` list carries every column's classification and where it came from
(its provenance). The database is the authority for classification; the blob carries a copy in
each Arrow field's metadata (``mlstudio.classification``) as of when it was written, and exports
carry the current one.

Governance lives here, in the service layer, so the CLI and the API share it:

* importing writes into a domain, so the write must pass that domain's policy
  (:func:`~mlstudio.governance.policy.evaluate_write`) before anything is stored; unclassified
  columns count as ``restricted``;
* classifying needs the steward role and only ever raises a column's classification (lowering is
  a declassifier's job, see :mod:`mlstudio.governance.declassify`);
* exporting is a read by the target domain and passes the same check the engine applies before a
  task sees data (:func:`~mlstudio.governance.policy.evaluate_read`).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlstudio.core.clock import iso, utcnow
from mlstudio.core.ids import MODULE_RE, ModuleName, validate_name
from mlstudio.errors import (
    InvalidInputError,
    InvalidNameError,
    NotFoundError,
    PermissionDeniedError,
)
from mlstudio.governance.audit import guarded, refusals_audited
from mlstudio.governance.classification import Classification, Level, parse_column_spec
from mlstudio.governance.policy import (
    DomainPolicy,
    enforce,
    evaluate_read,
    evaluate_write,
    validate_domain,
)
from mlstudio.governance.rbac import Authorizer

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from mlstudio.data.records import DatasetRecord
    from mlstudio.store.artifacts.cas import ContentStore
    from mlstudio.store.metadata.store import MetadataStore, UnitOfWork

CLASSIFICATION_KEY = b"mlstudio.classification"
FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_FORMATS_HINT = "use a .csv or .parquet file"
EXPORT_VIEW_ROLES = ("viewer", "runner")


# --- names and refs ------------------------------------------------------------------------------
def parse_dataset_name(text: str) -> ModuleName:
    """``NS/NAME`` with the same rules as module names."""
    text = (text or "").strip()
    validate_name(
        text,
        MODULE_RE,
        "dataset name",
        "use NS/NAME in lowercase letters, digits, '-' or '_', e.g. churn/customers",
    )
    return ModuleName.parse(text)


def parse_dataset_ref(text: str) -> tuple[ModuleName, int | None]:
    """``NS/NAME`` (newest version) or ``NS/NAME@V``."""
    name, sep, version = (text or "").strip().partition("@")
    if sep and (not version.isdigit() or int(version) < 1):
        raise InvalidNameError(
            f"invalid dataset version in {text!r}",
            hint="versions are 1, 2, 3, … e.g. churn/customers@2",
        )
    return parse_dataset_name(name), int(version) if sep else None


def file_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InvalidInputError(
            f"unsupported file format {path.suffix or '(no extension)'!r} for {path.name}",
            hint=_FORMATS_HINT,
        )
    return fmt


# --- columns -------------------------------------------------------------------------------------
def column_classification(column: dict[str, Any]) -> Classification:
    return Classification.from_dict(column.get("classification") or {})


def classifications(columns: Iterable[dict[str, Any]]) -> dict[str, Classification]:
    """``{name: Classification}`` of a dataset version's column list."""
    return {c["name"]: column_classification(c) for c in columns}


def describe_column(column: dict[str, Any]) -> dict[str, Any]:
    """One column as ``data show`` prints it."""
    c = column_classification(column)
    return {
        "name": column["name"],
        "type": column.get("type", ""),
        "level": None if c.level is None else str(c.level),
        "effective_level": str(c.effective_level),
        "labels": sorted(c.labels),
        "pseudonymous": sorted(c.pseudonymous),
        "classification": c.spec(),
        "unclassified": c.unclassified,
        "provenance": column.get("provenance") or {"rule": "unclassified"},
    }


def with_classification(table: pa.Table, columns: Sequence[dict[str, Any]]) -> pa.Table:
    """``table`` with each field's classification JSON in its Arrow field metadata."""
    import pyarrow as pa

    by_name = {c["name"]: c.get("classification") or {} for c in columns}
    fields = []
    for field in table.schema:
        meta = dict(field.metadata or {})
        meta[CLASSIFICATION_KEY] = json.dumps(by_name.get(field.name, {}), sort_keys=True).encode()
        fields.append(field.with_metadata(meta))
    schema = pa.schema(fields, metadata=table.schema.metadata)
    return pa.Table.from_arrays(table.columns, schema=schema)


def _parquet_bytes(table: pa.Table) -> bytes:
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def _read_file(path: Path, fmt: str) -> pa.Table:
    import pyarrow as pa

    try:
        if fmt == "csv":
            import pyarrow.csv as pacsv

            return pacsv.read_csv(path)
        import pyarrow.parquet as pq

        return pq.read_table(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InvalidInputError(
            f"cannot read {path.name} as {fmt}: {reason}",
            hint=f"check that the file is valid {fmt}",
        ) from None


def _check_column_names(names: Sequence[str], file_name: str) -> None:
    if not names:
        raise InvalidInputError(f"{file_name} has no columns", hint="import a table with columns")
    seen: set[str] = set()
    for name in names:
        if not name or not name.strip():
            raise InvalidInputError(
                f"{file_name} has a column without a name", hint="name every column"
            )
        if name in seen:
            raise InvalidInputError(
                f"{file_name} has two columns named {name!r}", hint="column names must be unique"
            )
        seen.add(name)


def parse_specs(specs: Iterable[str]) -> dict[str, Classification]:
    """``COL=LEVEL[+LABEL...]`` specs -> ``{column: Classification}`` (each column once)."""
    out: dict[str, Classification] = {}
    for spec in specs:
        column, classification = parse_column_spec(spec)
        if column in out:
            raise InvalidInputError(
                f"column {column!r} is classified twice", hint="give each column one COL=SPEC"
            )
        out[column] = classification
    return out


def _check_columns_exist(wanted: Iterable[str], available: Sequence[str], dataset: str) -> None:
    missing = [c for c in wanted if c not in available]
    if missing:
        raise InvalidInputError(
            f"{dataset} has no column {', '.join(repr(c) for c in missing)}",
            hint=f"its columns are {', '.join(available)}",
        )


# --- shared checks -------------------------------------------------------------------------------
def load_policy(uow: UnitOfWork, domain: str) -> DomainPolicy:
    validate_domain(domain)
    data = uow.domains.get(domain)
    if data is None:
        known = ", ".join(p["name"] for p in uow.domains.list())
        raise NotFoundError(f"domain {domain} does not exist", hint=f"use one of: {known}")
    return DomainPolicy.from_dict(data)


def require_domain_role(
    uow: UnitOfWork, user: str, domain: str, roles: tuple[str, ...], action: str
) -> None:
    """Admins, or an active holder of one of ``roles`` on ``domain`` (default deny)."""
    Authorizer(uow.identity).require_domain(user, domain, roles, action)


def get_dataset(uow: UnitOfWork, name: str, version: int | None = None) -> DatasetRecord:
    record = uow.datasets.get(name, version)
    if record is not None:
        return record
    deleted = uow.maintenance.deletion("dataset", name, version) if version else None
    versions = uow.datasets.versions(name)
    if deleted is not None:
        raise NotFoundError(
            f"{name}@{version} was deleted by {deleted['deleted_by']} at "
            f"{iso(deleted['deleted_at'])}",
            hint=f"see the versions left: mlstudio data show {name}"
            if versions
            else "see: mlstudio data list",
        )
    if not versions:
        raise NotFoundError(f"dataset {name} does not exist", hint="see: mlstudio data list")
    raise NotFoundError(
        f"{name}@{version} does not exist ({name} has versions "
        f"{version_span([v.version for v in versions])})",
        hint=f"see: mlstudio data show {name}",
    )


def version_span(numbers: list[int]) -> str:
    """``1..5`` when nothing is missing, else the numbers (``1, 3, 4``)."""
    if numbers == list(range(1, len(numbers) + 1)):
        return f"1..{len(numbers)}"
    return ", ".join(str(n) for n in numbers)


# --- the service ---------------------------------------------------------------------------------
class DatasetService:
    """Named, versioned, classified datasets (see the module docstring)."""

    def __init__(self, store: MetadataStore, cas: ContentStore) -> None:
        self.store = store
        self.cas = cas

    # --- import ---------------------------------------------------------------------------------
    def import_file(
        self,
        actor: str,
        path: str | Path,
        name: str,
        domain: str = "production",
        classify: Sequence[str] = (),
    ) -> DatasetRecord:
        """Import a CSV or Parquet file as the next version of ``name`` in ``domain``."""
        dataset = parse_dataset_name(name)
        path = Path(path)
        fmt = file_format(path)
        validate_domain(domain)
        tags = parse_specs(classify)
        if not path.is_file():
            raise NotFoundError(f"file {path} does not exist", hint="check the path")

        def authorize(uow: UnitOfWork) -> DomainPolicy:
            if not uow.modules.get_namespace(dataset.namespace):
                raise NotFoundError(
                    f"namespace {dataset.namespace} does not exist",
                    hint=f"ask an admin: mlstudio namespace create {dataset.namespace}",
                )
            auth = Authorizer(uow.identity)
            auth.require_namespace(actor, dataset.namespace, "import datasets")
            if tags:
                auth.require_steward(actor, "classify columns")
            return load_policy(uow, domain)

        context = {"domain": domain, "file": path.name}
        with refusals_audited(self.store, actor, "data.import", f"dataset:{dataset.full}", context):
            with self.store.read() as uow:
                policy = authorize(uow)

            table = _read_file(path, fmt)
            names = list(table.column_names)
            _check_column_names(names, path.name)
            _check_columns_exist(tags, names, path.name)

            columns = _imported_columns(table, tags, actor)
            enforce(evaluate_write(policy, dataset.full, classifications(columns), True))

            data = _parquet_bytes(with_classification(table, columns))
            digest = self.cas.put(data)
            source = {"kind": "import", "file": path.name, "format": fmt}

            def work(uow: UnitOfWork) -> DatasetRecord:
                # again, inside the write: grants or the policy may have changed meanwhile
                enforce(
                    evaluate_write(authorize(uow), dataset.full, classifications(columns), True)
                )
                record = uow.datasets.create_version(
                    {
                        "namespace": dataset.namespace,
                        "full_name": dataset.full,
                        "digest": digest,
                        "domain": domain,
                        "num_rows": table.num_rows,
                        "size_bytes": len(data),
                        "columns": columns,
                        "source": source,
                        "created_by": actor,
                    }
                )
                resource = f"dataset:{record.ref}"
                uow.audit.record(
                    actor,
                    "data.import",
                    resource,
                    details={
                        "domain": domain,
                        "file": path.name,
                        "format": fmt,
                        "rows": table.num_rows,
                        "digest": digest,
                        "unclassified": [
                            c["name"] for c in columns if c["provenance"]["rule"] == "unclassified"
                        ],
                    },
                )
                for column, tag in tags.items():
                    if not tag.unclassified:
                        uow.audit.record(
                            actor,
                            "data.classify",
                            resource,
                            details={"column": column, "from": "unclassified", "to": tag.spec()},
                        )
                return record

            return self.store.retrying(work)

    # --- catalog --------------------------------------------------------------------------------
    def list(self, namespace: str | None = None, search: str | None = None) -> list[dict[str, Any]]:
        """The newest version of every dataset, optionally of one namespace or matching text."""
        with self.store.read() as uow:
            records = uow.datasets.list(namespace=namespace or None, search=search or None)
        out = []
        for r in records:
            tags = classifications(r.columns)
            out.append(
                {
                    "name": r.full_name,
                    "version": r.version,
                    "ref": r.ref,
                    "domain": r.domain,
                    "rows": r.num_rows,
                    "columns": len(r.columns),
                    "unclassified": sum(1 for c in tags.values() if c.unclassified),
                    "max_level": str(
                        max((c.effective_level for c in tags.values()), default=Level.PUBLIC)
                    ),
                    "labels": sorted(set().union(*(c.labels for c in tags.values()))),
                    "source": r.source.get("kind", ""),
                    "created_by": r.created_by,
                    "created_at": iso(r.created_at),
                }
            )
        return out

    def show(self, ref: str) -> dict[str, Any]:
        """A version's schema with each column's classification and provenance."""
        name, version = parse_dataset_ref(ref)
        with self.store.read() as uow:
            record = get_dataset(uow, name.full, version)
            versions = [v.version for v in uow.datasets.versions(name.full)]
        return self._describe(record, versions)

    def changes_from_previous(self, name: str, version: int) -> dict[str, Any] | None:
        """How version ``version`` of ``name`` changed the schema of the version before it:
        ``{"previous": REF, "columns_added", "columns_removed", "types_changed"}``, or None
        for a first version."""
        from mlstudio.data.changes import schema_changes

        with self.store.read() as uow:
            current = get_dataset(uow, name, version)
            previous = uow.datasets.get(name, version - 1) if version > 1 else None
        if previous is None:
            return None
        return {"previous": previous.ref, **schema_changes(previous.columns, current.columns)}

    @staticmethod
    def _describe(record: DatasetRecord, versions: list[int] | None = None) -> dict[str, Any]:
        columns = [describe_column(c) for c in record.columns]
        return {
            "name": record.full_name,
            "version": record.version,
            "ref": record.ref,
            "namespace": record.namespace,
            "domain": record.domain,
            "digest": record.digest,
            "rows": record.num_rows,
            "size_bytes": record.size_bytes,
            "source": record.source,
            "created_by": record.created_by,
            "created_at": iso(record.created_at),
            "versions": versions if versions is not None else [record.version],
            "columns": columns,
            "unclassified": [c["name"] for c in columns if c["unclassified"]],
        }

    # --- classify -------------------------------------------------------------------------------
    def classify(self, actor: str, ref: str, specs: Sequence[str]) -> dict[str, Any]:
        """Raise (or first assign) columns' classification; lowering is refused."""
        name, version = parse_dataset_ref(ref)
        tags = parse_specs(specs)
        if not tags:
            raise InvalidInputError(
                "nothing to classify", hint="give at least one COL=LEVEL[+LABEL...]"
            )

        with self.store.read() as uow:  # the version the refusal, if any, is about
            found = get_dataset(uow, name.full, version)

        def work(uow: UnitOfWork) -> tuple[DatasetRecord, list[int], list[dict[str, Any]]]:
            Authorizer(uow.identity).require_steward(actor, "classify columns")
            record = get_dataset(uow, found.full_name, found.version)
            names = [c["name"] for c in record.columns]
            _check_columns_exist(tags, names, record.ref)
            now = iso(utcnow())
            changes: list[dict[str, Any]] = []
            columns = []
            for column in record.columns:
                new = tags.get(column["name"])
                if new is None:
                    columns.append(column)
                    continue
                old = column_classification(column)
                _check_raise(record.ref, column["name"], old, new)
                if new == old:
                    columns.append(column)
                    continue
                provenance: dict[str, Any] = {"rule": "manual", "actor": actor, "at": now}
                previous = column.get("provenance") or {}
                if previous.get("sources") or previous.get("previous"):
                    provenance["previous"] = previous  # keep the column's lineage
                columns.append(
                    {**column, "classification": new.to_dict(), "provenance": provenance}
                )
                changes.append({"column": column["name"], "from": old.spec(), "to": new.spec()})
            if changes:
                uow.datasets.update_columns(record.full_name, record.version, columns)
                for change in changes:
                    uow.audit.record(
                        actor, "data.classify", f"dataset:{record.ref}", details=change
                    )
            versions = [v.version for v in uow.datasets.versions(record.full_name)]
            return get_dataset(uow, record.full_name, record.version), versions, changes

        context = {"columns": {column: tag.spec() for column, tag in tags.items()}}
        record, versions, changes = guarded(
            self.store, actor, "data.classify", f"dataset:{found.ref}", work, context
        )
        return {**self._describe(record, versions), "changes": changes}

    # --- export ---------------------------------------------------------------------------------
    def export(
        self, actor: str, ref: str, file: str | Path, domain: str = "experimentation"
    ) -> dict[str, Any]:
        """Write a version to ``file`` (.csv or .parquet), read as ``domain`` would read it."""
        from mlstudio.data.writes import check_target, write_table

        name, version = parse_dataset_ref(ref)
        target = Path(file)
        fmt = file_format(target)
        validate_domain(domain)
        check_target(target)

        record, table = self._checked_read(
            actor,
            name.full,
            version,
            domain,
            "data.export",
            {"file": target.name, "format": fmt},
            "export datasets",
        )
        write_table(table, target, fmt)
        return {
            "dataset": record.ref,
            "file": str(target),
            "format": fmt,
            "domain": domain,
            "rows": table.num_rows,
            "columns": list(table.column_names),
        }

    def read(self, actor: str, ref: str, domain: str = "experimentation") -> Any:
        """A dataset as a ``Dataset``, read as a run in ``domain`` would read it (same checks)."""
        from mlstudio.data.dataset import Dataset

        name, version = parse_dataset_ref(ref)
        validate_domain(domain)
        record, table = self._checked_read(
            actor, name.full, version, domain, "data.read", {}, "read datasets"
        )
        return Dataset(table, digest=record.digest, name=record.ref)

    def _checked_read(
        self,
        actor: str,
        full_name: str,
        version: int | None,
        domain: str,
        action: str,
        extra: dict[str, Any],
        what: str,
    ) -> tuple[Any, Any]:
        """Role and policy checks, audit, then the table (with its current classification)."""
        from mlstudio.data import reads

        with self.store.read() as uow:
            record = get_dataset(uow, full_name, version)
            policy = load_policy(uow, domain)
        resource = f"dataset:{record.ref}"
        tags = classifications(record.columns)
        checks = {"action": action, "resource": resource, "extra": extra}
        with refusals_audited(self.store, actor, action, resource, {"domain": domain, **extra}):
            with self.store.read() as uow:
                require_domain_role(uow, actor, domain, EXPORT_VIEW_ROLES, what)
            enforce(evaluate_read(policy, record.full_name, record.domain, tags))

        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(self.cas.get(record.digest)))
        table = with_classification(table, record.columns)
        # an allowed read of sensitive data: audited before the data leaves
        reads.audit_sensitive(self.store, actor, policy, tags, rows=table.num_rows, **checks)
        return record, table

    # --- lineage --------------------------------------------------------------------------------
    def lineage(self, ref: str, column: str | None = None) -> dict[str, Any]:
        """Each requested column's upstream graph: datasets, task outputs, runs, imports."""
        from mlstudio.data.lineage import LineageWalker

        name, version = parse_dataset_ref(ref)
        with self.store.read() as uow:
            record = get_dataset(uow, name.full, version)
            names = [c["name"] for c in record.columns]
            if column is not None:
                _check_columns_exist([column], names, record.ref)
            walker = LineageWalker(uow)
            graphs = [walker.column_graph(record, c) for c in ([column] if column else names)]
        return {"dataset": record.ref, "columns": graphs}


def _imported_columns(
    table: pa.Table, tags: dict[str, Classification], actor: str
) -> list[dict[str, Any]]:
    """The column list of an imported table: manual tags where given, else unclassified."""
    now = iso(utcnow())
    columns: list[dict[str, Any]] = []
    for field in table.schema:
        tag = tags.get(field.name)
        if tag is None or tag.unclassified:
            classification, provenance = Classification(), {"rule": "unclassified"}
        else:
            classification = tag
            provenance = {"rule": "manual", "actor": actor, "at": now}
        columns.append(
            {
                "name": field.name,
                "type": str(field.type),
                "classification": classification.to_dict(),
                "provenance": provenance,
            }
        )
    return columns


def _check_raise(ref: str, column: str, old: Classification, new: Classification) -> None:
    """Manual classification may only raise: refuse anything that would lower ``old``."""
    if old.unclassified:
        return
    hint = (
        "tags are lowered only by an approved declassifier (mlstudio data declassify "
        "NS/MODULE TASK --column C --to LEVEL --justification TEXT), or import a corrected version"
    )
    if new.unclassified:
        raise PermissionDeniedError(
            f"{ref}.{column} is {old.spec()}: it cannot be set back to unclassified",
            hint="raise it to restricted instead, or " + hint,
        )
    if not new.is_at_least(old):
        raise PermissionDeniedError(
            f"{ref}.{column} is {old.spec()}: {new.spec()} would lower it "
            "(manual classification can only raise)",
            hint=hint,
        )
