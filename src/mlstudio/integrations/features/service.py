"""The feature store's use cases (the ``features`` Studio area calls these with the actor)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlstudio.core.clock import iso, utcnow
from mlstudio.data.io import field_classifications
from mlstudio.errors import InvalidInputError
from mlstudio.governance.audit import refusals_audited
from mlstudio.governance.classification import UNCLASSIFIED, Classification
from mlstudio.governance.policy import enforce, evaluate_read, evaluate_write
from mlstudio.integrations.features import offline, registry


class FeatureService:
    def __init__(self, store: Any, cas: Any, home: Path) -> None:
        self.store = store
        self.cas = cas
        self.home = home
        self._online: dict[str, Any] = {}

    # --- catalog ------------------------------------------------------------------------------
    def list(self, namespace: str | None = None, search: str | None = None) -> list[dict[str, Any]]:
        """Every view at its newest version, for the catalog: owner, the join of its features'
        classifications, the models that use it and when it was last materialized. ``search``
        matches the name, description, owner or a feature's name (case-insensitive)."""
        with self.store.read() as uow:
            rows = uow.features.list_latest(namespace)
            out = []
            for row in rows:
                if search and not _matches(row, search):
                    continue
                view = registry.describe(row)
                usages = uow.features.usages(row["full_name"])
                view["consumers"] = len(usages)
                view["models"] = sorted(
                    {
                        u["consumer"].removeprefix("model:")
                        for u in usages
                        if u["consumer"].startswith("model:")
                    }
                )
                names = [f for f, _ in row["spec"]["features"]]
                view["classification"] = Classification.join_all(
                    self._classes(uow, row, names).values()
                ).spec()
                done = [
                    uow.features.last_materialization(row["full_name"], row["version"], store)
                    for store in ("sqlite", "redis")
                ]
                times = [d["finished_at"] for d in done if d and d.get("finished_at")]
                view["materialized_at"] = iso(max(times)) if times else None
                out.append(view)
        return out

    def show(self, ref: str) -> dict[str, Any]:
        with self.store.read() as uow:
            row = registry.resolve(uow, ref)
            view = registry.describe(row)
            view["versions"] = uow.features.versions(row["full_name"])
            view["classification"] = {
                f: c.spec()
                for f, c in self._classes(uow, row, [f for f, _ in row["spec"]["features"]]).items()
            }
            view["consumers"] = [
                {
                    "consumer": u["consumer"],
                    "version": u["version"],
                    "features": u["features"],
                    "by": u["used_by"],
                    "at": iso(u["used_at"]),
                }
                for u in uow.features.usages(row["full_name"])
            ]
            view["materializations"] = [
                {
                    "store": s,
                    **_mat(uow.features.last_materialization(row["full_name"], row["version"], s)),
                }
                for s in ("sqlite", "redis")
                if uow.features.last_materialization(row["full_name"], row["version"], s)
            ]
        return view

    def diff(self, a: str, b: str) -> dict[str, Any]:
        with self.store.read() as uow:
            return registry.diff(
                registry.describe(registry.resolve(uow, a)),
                registry.describe(registry.resolve(uow, b)),
            )

    def _classes(
        self, uow: Any, row: dict[str, Any], names: list[str]
    ) -> dict[str, Classification]:
        """Each feature's classification from the source metadata (no data is read)."""
        return self._metadata_check(uow, row, names)[0]

    def _metadata_check(
        self, uow: Any, row: dict[str, Any], names: list[str], policy: Any = None
    ) -> tuple[dict[str, Classification], list[Any]]:
        from mlstudio.data.catalog import classifications, get_dataset, parse_dataset_ref
        from mlstudio.errors import NotFoundError

        spec = row["spec"]
        source = spec["source"]
        violations: list[Any] = []
        keys = [k for k, _ in spec["entity"]["join_keys"]]
        try:
            if "dataset" in source:
                name, version = parse_dataset_ref(source["dataset"])
                record = get_dataset(uow, name.full, version)
                tags = classifications(record.columns)
                if policy is not None:
                    used = {c: tags[c] for c in [*keys, *names] if c in tags}
                    violations += evaluate_read(policy, record.full_name, record.domain, used)
                return {f: tags.get(f, UNCLASSIFIED) for f in names}, violations
            from mlstudio.governance.propagation import propagate_sql

            inputs = {}
            for alias, ref in source["inputs"].items():
                name, version = parse_dataset_ref(ref)
                record = get_dataset(uow, name.full, version)
                inputs[alias] = classifications(record.columns)
                if policy is not None and not policy.domain_readable(record.domain):
                    violations += evaluate_read(policy, record.full_name, record.domain, {})
            # the query's output names as the analysis reads them (its other columns, keys and
            # times, are not ``names``: passing only these would misalign them and fail closed);
            # a feature the analysis cannot name stays unclassified
            propagated = {c.name: c.classification for c in propagate_sql(source["sql"], inputs)}
            classes = {f: propagated.get(f, UNCLASSIFIED) for f in names}
            if policy is not None:
                violations += evaluate_read(
                    policy, f"{row['full_name']}@{row['version']}", None, classes
                )
            return classes, violations
        except NotFoundError:
            return {f: UNCLASSIFIED for f in names}, violations

    # --- training sets ------------------------------------------------------------------------
    def training_table(
        self,
        actor: str,
        entities: Any,
        features: list[str],
        *,
        as_of: str,
        domain: str = "experimentation",
        inclusive: bool = False,
        known_by: bool = True,
        batch_rows: int | None = None,
    ) -> tuple[Any, dict[str, Any]]:
        """The point-in-time training set (an Arrow table with classified fields) and its
        summary (views pinned, schema with per-column classification and provenance)."""
        from mlstudio.data.catalog import load_policy
        from mlstudio.data.dataset import Dataset
        from mlstudio.data.io import with_field_metadata
        from mlstudio.integrations.features.pit import DEFAULT_BATCH_ROWS, join

        if not isinstance(as_of, str) or not as_of:
            raise InvalidInputError("as_of names the label-time column", hint="as_of='label_time'")
        if isinstance(entities, str):
            dataset = self._datasets().read(actor, entities, domain=domain)
            label = dataset.name
        elif isinstance(entities, Dataset):
            dataset, label = entities, entities.name or "entities"
        else:
            raise InvalidInputError(
                "entities must be a dataset reference (NS/NAME[@V]) or a Dataset",
                hint="entities='churn/labels'",
            )
        entity_table = dataset.to_arrow()
        entity_classes = field_classifications(entity_table)
        with self.store.read() as uow:
            selections = offline.select(uow, list(features))
        with (
            refusals_audited(self.store, actor, "features.read", "features", {"domain": domain}),
            self.store.read() as uow,
        ):
            policy = load_policy(uow, domain)
        data = offline.read_views(self.store, self.cas, actor, policy, selections)
        table = join(
            entity_table,
            offline.view_inputs(data),
            as_of,
            inclusive=inclusive,
            known_by=known_by,
            batch_rows=batch_rows or DEFAULT_BATCH_ROWS,
        )
        schema = offline.result_schema(entity_classes, label, data, table.schema)
        table = with_field_metadata(table, schema)
        summary = {
            "entities": label,
            "as_of": as_of,
            "inclusive": inclusive,
            "known_by_label_time": known_by,
            "domain": domain,
            "views": [s.ref for s in selections],
            "sources": sorted({d for item in data for d in item.datasets}),
            "rows": table.num_rows,
            "columns": schema,
        }
        return table, summary

    def training_set(
        self,
        actor: str,
        entities: Any,
        features: list[str],
        *,
        as_of: str,
        domain: str = "experimentation",
        inclusive: bool = False,
        known_by: bool = True,
        save: str | None = None,
        file: str | Path | None = None,
    ) -> dict[str, Any]:
        """Build the training set; save it as a governed dataset and/or write it to ``file``."""
        if file is not None:
            from mlstudio.data.catalog import file_format
            from mlstudio.data.writes import check_target

            file_format(Path(file))
            check_target(Path(file))
        table, summary = self.training_table(
            actor,
            entities,
            features,
            as_of=as_of,
            domain=domain,
            inclusive=inclusive,
            known_by=known_by,
        )
        summary["dataset"] = self._save(actor, save, table, summary) if save else None
        if file is not None:
            from mlstudio.data.catalog import file_format
            from mlstudio.data.writes import write_table

            write_table(table, Path(file), file_format(Path(file)))
            summary["file"] = str(file)
        return summary

    def _save(self, actor: str, name: str, table: Any, summary: dict[str, Any]) -> str:
        import io

        import pyarrow.parquet as pq

        from mlstudio.data.catalog import classifications, load_policy, parse_dataset_name
        from mlstudio.governance.rbac import Authorizer

        dataset = parse_dataset_name(name)
        columns = summary["columns"]
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        data = buffer.getvalue()
        digest = self.cas.put(data)
        domain = summary["domain"]

        def work(uow: Any) -> str:
            Authorizer(uow.identity).require_namespace(actor, dataset.namespace, "write datasets")
            policy = load_policy(uow, domain)
            enforce(evaluate_write(policy, dataset.full, classifications(columns), True))
            record = uow.datasets.create_version(
                {
                    "namespace": dataset.namespace,
                    "full_name": dataset.full,
                    "digest": digest,
                    "domain": domain,
                    "num_rows": table.num_rows,
                    "size_bytes": len(data),
                    "columns": columns,
                    "source": {
                        "kind": "features",
                        "views": summary["views"],
                        "entities": summary["entities"],
                        "as_of": summary["as_of"],
                        "inclusive": summary["inclusive"],
                        "known_by_label_time": summary["known_by_label_time"],
                    },
                    "created_by": actor,
                }
            )
            for sel in summary["views"]:
                full, _, version = sel.partition("@")
                used = [c["name"] for c in columns if c["provenance"].get("view") == sel]
                uow.features.record_usage(full, int(version), f"dataset:{record.ref}", used, actor)
            uow.audit.record(
                actor,
                "features.training_set",
                f"dataset:{record.ref}",
                details={"views": summary["views"], "rows": table.num_rows, "domain": domain},
            )
            return record.ref

        with refusals_audited(
            self.store,
            actor,
            "features.training_set",
            f"dataset:{dataset.full}",
            {"domain": domain},
        ):
            return self.store.retrying(work)

    def _datasets(self) -> Any:
        from mlstudio.data.catalog import DatasetService

        return DatasetService(self.store, self.cas)

    # --- online -------------------------------------------------------------------------------
    def online(self, kind: str = "sqlite") -> Any:
        from mlstudio.integrations.features.online import open_store

        if kind not in self._online:
            self._online[kind] = open_store(kind, self.home, prefix=self.store.installation_id())
        return self._online[kind]

    def materialize(
        self,
        actor: str,
        ref: str,
        *,
        store: str = "sqlite",
        domain: str = "production",
        full: bool = False,
        batch_rows: int = 10_000,
    ) -> dict[str, Any]:
        """Write the newest value per key of ``ref`` known since the last run (``full``: all)."""
        from mlstudio.data.catalog import load_policy
        from mlstudio.integrations.features.materialize import materialize

        online = self.online(store)
        started = utcnow()
        with self.store.read() as uow:
            selection = offline.select(uow, [ref])[0]
            # incremental needs a knowledge time: without one, a backfilled row (an old event
            # time, written late) would sit below the watermark; the store keeps the newest
            # value per key, so a full run is always correct
            since = (
                None
                if full or not selection.spec.get("knowledge_time")
                else uow.features.watermark(
                    selection.row["full_name"], selection.row["version"], store
                )
            )
        with (
            refusals_audited(
                self.store, actor, "features.materialize", selection.ref, {"domain": domain}
            ),
            self.store.read() as uow,
        ):
            policy = load_policy(uow, domain)
        data = offline.read_views(
            self.store, self.cas, actor, policy, [selection], action="features.materialize"
        )
        view = offline.view_inputs(data)[0]
        result = materialize(online, selection.ref, view, since, batch_rows)

        def work(uow: Any) -> None:
            uow.features.record_materialization(
                {
                    "full_name": selection.row["full_name"],
                    "version": selection.row["version"],
                    "store": store,
                    "watermark": result["watermark"],
                    "rows": result["keys"],
                    "keys": result["written"],
                    "started_at": started,
                    "finished_at": utcnow(),
                    "actor": actor,
                }
            )
            uow.audit.record(
                actor,
                "features.materialize",
                f"feature-view:{selection.ref}",
                details={"store": store, "keys": result["written"], "domain": domain},
            )

        self.store.retrying(work)
        return {
            "view": selection.ref,
            "store": store,
            "incremental": since is not None,
            "since": iso(since),
            "rows": result["keys"],
            "written": result["written"],
            "watermark": iso(result["watermark"]),
        }

    def reader(
        self,
        actor: str,
        ref: str,
        *,
        domain: str,
        store: str = "sqlite",
        features: list[str] | None = None,
    ) -> OnlineReader:
        """An online reader of ``ref`` checked once for ``domain`` (refusal audited)."""
        from mlstudio.data.catalog import load_policy, require_domain_role

        with self.store.read() as uow:
            selection = offline.select(
                uow, [ref if not features else f"{ref}:{','.join(features)}"]
            )[0]
        names = [f for f, _ in selection.features]
        resource = f"feature-view:{selection.ref}"
        with refusals_audited(
            self.store, actor, "features.online_read", resource, {"domain": domain}
        ):
            with self.store.read() as uow:
                policy = load_policy(uow, domain)
                require_domain_role(uow, actor, domain, offline.READ_ROLES, "read features")
                classes, violations = self._metadata_check(uow, selection.row, names, policy)
            enforce(violations)
        from mlstudio.data import reads

        reads.audit_sensitive(
            self.store,
            actor,
            policy,
            classes,
            action="features.online_read",
            resource=resource,
            rows=None,
        )
        return OnlineReader(self.online(store), selection, names)

    def get(
        self,
        actor: str,
        ref: str,
        keys: list[list[Any]],
        *,
        domain: str = "production",
        store: str = "sqlite",
        features: list[str] | None = None,
    ) -> dict[str, Any]:
        reader = self.reader(actor, ref, domain=domain, store=store, features=features)
        return {
            "view": reader.selection.ref,
            "store": store,
            "domain": domain,
            "results": reader.read(keys),
        }

    def consistency(
        self,
        actor: str,
        ref: str,
        *,
        store: str = "sqlite",
        sample: int = 100,
        domain: str = "production",
    ) -> dict[str, Any]:
        """Online values vs the offline point-in-time values now, for ``sample`` keys."""
        import pyarrow as pa

        from mlstudio.data.catalog import load_policy
        from mlstudio.data.dataset import Dataset

        if sample < 1:
            raise InvalidInputError("sample must be at least 1", hint="use e.g. --sample 100")
        reader = self.reader(actor, ref, domain=domain, store=store)
        with self.store.read() as uow:
            policy = load_policy(uow, domain)
        data = offline.read_views(self.store, self.cas, actor, policy, [reader.selection])
        spec = reader.selection.spec
        key_names = [k for k, _ in spec["entity"]["join_keys"]]
        keys = data[0].table.select(key_names).group_by(key_names).aggregate([])
        keys = keys.slice(0, sample)
        now = datetime.now(UTC).replace(tzinfo=None)
        entities = keys.append_column(
            "__as_of", pa.array([now] * keys.num_rows, pa.timestamp("us"))
        )
        table, _ = self.training_table(
            actor,
            Dataset(entities, name="sample"),
            [reader.selection.ref],
            as_of="__as_of",
            domain=domain,
            inclusive=True,
        )
        offline_rows = table.to_pylist()
        online_rows = reader.read([[r[k] for k in key_names] for r in offline_rows])
        mismatches = []
        for want, got in zip(offline_rows, online_rows, strict=True):
            expected = {f: _plain(want[f]) for f in reader.features}
            have = (
                got["values"] if got["status"] == "present" else {f: None for f in reader.features}
            )
            diff = {
                f: {"offline": expected[f], "online": have.get(f)}
                for f in reader.features
                if not _same(expected[f], have.get(f))
            }
            if diff:
                mismatches.append({"key": got["key"], "status": got["status"], "features": diff})
        return {
            "view": reader.selection.ref,
            "store": store,
            "checked": len(offline_rows),
            "mismatches": len(mismatches),
            "examples": mismatches[:20],
            "consistent": not mismatches,
        }


class OnlineReader:
    """Reads one view version from an online store; expired values come back missing."""

    def __init__(self, store: Any, selection: Any, features: list[str]) -> None:
        self.store = store
        self.selection = selection
        self.features = features
        spec = selection.spec
        self.types = [t for _, t in spec["entity"]["join_keys"]]
        self.max_age_us = spec["max_age_s"] * 1_000_000 if spec.get("max_age_s") else None

    def read(self, keys: list[list[Any]], now: datetime | None = None) -> list[dict[str, Any]]:
        from mlstudio.integrations.features.online import encode_key

        encoded = [encode_key(k if isinstance(k, list | tuple) else [k], self.types) for k in keys]
        found = self.store.read(self.selection.ref, encoded, self.features)
        clock = (
            int((now or datetime.now(UTC)).timestamp() * 1_000_000) if now or self.max_age_us else 0
        )
        out = []
        for key, hit in zip(keys, found, strict=True):
            key_list = list(key) if isinstance(key, list | tuple) else [key]
            if hit is None:
                out.append(
                    {"key": key_list, "status": "missing", "values": None, "event_time": None}
                )
                continue
            et, values = hit
            event = datetime.fromtimestamp(et / 1_000_000, UTC)
            if self.max_age_us is not None and clock - et > self.max_age_us:
                out.append(
                    {"key": key_list, "status": "expired", "values": None, "event_time": iso(event)}
                )
                continue
            out.append(
                {
                    "key": key_list,
                    "status": "present",
                    "values": values,
                    "event_time": event.isoformat(),
                }
            )
        return out


def _matches(row: dict[str, Any], search: str) -> bool:
    spec = row["spec"]
    text = " ".join(
        [
            row["full_name"],
            spec.get("description") or "",
            spec.get("owner") or "",
            *(f for f, _ in spec["features"]),
        ]
    )
    return search.lower() in text.lower()


def _mat(row: dict[str, Any] | None) -> dict[str, Any]:
    if not row:
        return {}
    return {
        "watermark": iso(row["watermark"]),
        "rows": row["rows"],
        "written": row["keys"],
        "at": iso(row["finished_at"]),
        "by": row["actor"],
    }


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-9 * max(1.0, abs(a))
    return a == b
