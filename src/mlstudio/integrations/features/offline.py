"""Governed offline reads: a view's source data, checked against the reading domain, and the
point-in-time training set built from it.

Every read goes through :func:`read_views`: the columns a view takes from each source dataset
(keys, times, the selected features; every column an SQL source's query reads) pass
:func:`~mlstudio.governance.policy.evaluate_read` for the domain, and so does each selected
feature's classification (propagated through the SQL when the source is a query). A refusal is
audited (``features.read``, ``decision=deny``) before it is raised; an allowed read of sensitive
columns is audited before the data leaves. The training set's columns carry the
classification of their sources and a ``feature`` provenance naming them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlstudio.errors import InvalidInputError
from mlstudio.governance.audit import refusals_audited
from mlstudio.governance.classification import UNCLASSIFIED, Classification
from mlstudio.governance.policy import Violation, enforce, evaluate_read

if TYPE_CHECKING:
    from mlstudio.governance.policy import DomainPolicy

READ_ROLES = ("viewer", "runner")


@dataclass
class Selection:
    """The features taken from one view version."""

    row: dict[str, Any]
    features: list[tuple[str, str]]  # (name, type)

    @property
    def ref(self) -> str:
        return f"{self.row['full_name']}@{self.row['version']}"

    @property
    def spec(self) -> dict[str, Any]:
        return self.row["spec"]


@dataclass
class ViewData:
    selection: Selection
    table: Any
    classes: dict[str, Classification]  # feature -> classification
    sources: dict[str, list[str]] = field(default_factory=dict)  # feature -> dataset.column
    datasets: list[str] = field(default_factory=list)  # NS/NAME@V read


def select(uow: Any, refs: list[str]) -> list[Selection]:
    """``NS/VIEW[@V]`` (every feature) or ``NS/VIEW[@V]:f1,f2`` -> one selection per view."""
    from mlstudio.integrations.features.registry import resolve

    if not refs:
        raise InvalidInputError("no features selected", hint="pass NS/VIEW[@V][:FEATURE,...]")
    out: dict[str, Selection] = {}
    for ref in refs:
        view_ref, _, names = str(ref).partition(":")
        row = resolve(uow, view_ref)
        declared = [tuple(f) for f in row["spec"]["features"]]
        types = dict(declared)
        wanted = [n.strip() for n in names.split(",") if n.strip()] if names else list(types)
        unknown = [n for n in wanted if n not in types]
        if unknown:
            raise InvalidInputError(
                f"{row['full_name']}@{row['version']} has no feature {unknown[0]} "
                f"(its features: {', '.join(types)})",
                hint=f"see: mlstudio features show {row['full_name']}@{row['version']}",
            )
        key = row["full_name"]
        if key in out and out[key].row["version"] != row["version"]:
            raise InvalidInputError(
                f"{key} is selected at two versions ({out[key].row['version']} and "
                f"{row['version']})",
                hint="pin one version of each view",
            )
        sel = out.setdefault(key, Selection(row, []))
        for name in wanted:
            if (name, types[name]) not in sel.features:
                sel.features.append((name, types[name]))
    return list(out.values())


def _dataset(uow: Any, cas: Any, ref: str) -> tuple[Any, Any]:
    import pyarrow.parquet as pq

    from mlstudio.data.catalog import get_dataset, parse_dataset_ref

    name, version = parse_dataset_ref(ref)
    record = get_dataset(uow, name.full, version)
    table = pq.read_table(io.BytesIO(cas.get(record.digest)))
    return record, table


def _classes(record: Any) -> dict[str, Classification]:
    from mlstudio.data.catalog import classifications

    return classifications(record.columns)


def read_views(
    store: Any,
    cas: Any,
    actor: str,
    policy: DomainPolicy,
    selections: list[Selection],
    *,
    action: str = "features.read",
) -> list[ViewData]:
    """Each selection's source table, after the domain's read checks (refusals audited)."""
    from mlstudio.data import reads
    from mlstudio.data.catalog import require_domain_role

    resource = "feature-view:" + ",".join(s.ref for s in selections)
    out: list[ViewData] = []
    audits: list[tuple[str, dict[str, Classification], int]] = []
    with refusals_audited(store, actor, action, resource, {"domain": policy.name}):
        with store.read() as uow:
            require_domain_role(uow, actor, policy.name, READ_ROLES, "read features")
            violations: list[Violation] = []
            for sel in selections:
                data, checked = _load(uow, cas, sel, policy, violations)
                out.append(data)
                audits.extend(checked)
        enforce(violations)
    for label, columns, rows in audits:
        reads.audit_sensitive(
            store, actor, policy, columns, action=action, resource=f"dataset:{label}", rows=rows
        )
    return out


def _load(
    uow: Any, cas: Any, sel: Selection, policy: DomainPolicy, violations: list[Violation]
) -> tuple[ViewData, list[tuple[str, dict[str, Classification], int]]]:
    spec = sel.spec
    names = [f for f, _ in sel.features]
    source = spec["source"]
    checked = []
    if "dataset" in source:
        record, table = _dataset(uow, cas, source["dataset"])
        tags = _classes(record)
        used = {c: tags.get(c, UNCLASSIFIED) for c in view_columns(spec, names) if c in tags}
        violations.extend(evaluate_read(policy, record.full_name, record.domain, used))
        checked.append((record.ref, used, table.num_rows))
        classes = {f: tags.get(f, UNCLASSIFIED) for f in names}
        sources = {f: [f"{record.ref}.{f}"] for f in names}
        return ViewData(sel, table, classes, sources, [record.ref]), checked
    return _load_sql(uow, cas, sel, policy, violations, names)


def _load_sql(
    uow: Any,
    cas: Any,
    sel: Selection,
    policy: DomainPolicy,
    violations: list[Violation],
    names: list[str],
) -> tuple[ViewData, list[tuple[str, dict[str, Classification], int]]]:
    from mlstudio.data.io import classify_output
    from mlstudio.data.sql import run_sql

    source = sel.spec["source"]
    tables: dict[str, Any] = {}
    inputs: dict[str, dict[str, Classification]] = {}
    refs: dict[str, str] = {}
    records: dict[str, Any] = {}
    for alias, ref in source["inputs"].items():
        record, table = _dataset(uow, cas, ref)
        tables[alias], inputs[alias], refs[alias], records[alias] = (
            table,
            _classes(record),
            record.ref,
            record,
        )
    refused, reads = sql_source_reads(source["sql"], records, inputs, policy)
    violations.extend(refused)
    checked = [(records[a].ref, read, tables[a].num_rows) for a, read in reads.items()]
    result = run_sql(source["sql"], tables).to_arrow()
    propagated = {
        c.name: c
        for c in classify_output(
            sql=source["sql"], inputs=inputs, output_columns=result.column_names, options={}
        )
    }
    classes = {f: propagated[f].classification if f in propagated else UNCLASSIFIED for f in names}
    label = f"{sel.ref} (sql)"
    violations.extend(evaluate_read(policy, label, None, classes))
    sources = {}
    for f in names:
        prov = propagated[f].provenance.sources if f in propagated else ()
        sources[f] = [
            f"{refs.get(s.split('.')[0], s.split('.')[0])}.{s.split('.', 1)[-1]}" for s in prov
        ]
    return ViewData(sel, result, classes, sources, sorted(refs.values())), checked


def view_columns(spec: dict[str, Any], features: list[str]) -> list[str]:
    """The columns a dataset view takes from its source: keys, times and ``features``."""
    keys = [k for k, _ in spec["entity"]["join_keys"]]
    times = [spec["event_time"], *([spec["knowledge_time"]] if spec.get("knowledge_time") else [])]
    return [*keys, *times, *features]


def sql_source_reads(
    sql: str,
    records: dict[str, Any],
    inputs: dict[str, dict[str, Classification]],
    policy: DomainPolicy,
) -> tuple[list[Violation], dict[str, dict[str, Classification]]]:
    """(the domain's refusals, the columns read per input) for an SQL view's query: every
    column it names of each input dataset (all of them when the query cannot be analysed)."""
    from mlstudio.data.io import sql_columns_used

    used = sql_columns_used(sql, {alias: list(columns) for alias, columns in inputs.items()})
    violations: list[Violation] = []
    reads: dict[str, dict[str, Classification]] = {}
    for alias, record in records.items():
        columns = inputs[alias]
        read = (
            columns
            if used is None
            else {c: columns[c] for c in used.get(alias, ()) if c in columns}
        )
        violations.extend(evaluate_read(policy, record.full_name, record.domain, read))
        reads[alias] = read
    return violations, reads


def view_inputs(data: list[ViewData]) -> list[Any]:
    from mlstudio.integrations.features.pit import ViewInput

    out = []
    for index, item in enumerate(data):
        spec = item.selection.spec
        out.append(
            ViewInput(
                alias=f"fv{index}",
                table=item.table,
                join_keys=[tuple(k) for k in spec["entity"]["join_keys"]],
                event_time=spec["event_time"],
                knowledge_time=spec.get("knowledge_time"),
                max_age_s=spec.get("max_age_s"),
                features=[(f, t, f) for f, t in item.selection.features],
            )
        )
    return out


def result_schema(
    entity_columns: dict[str, Classification], entity_label: str, data: list[ViewData], arrow: Any
) -> list[dict[str, Any]]:
    """The governed schema of a training set: classification and provenance per column."""
    types = {f.name: str(f.type) for f in arrow}
    schema = []
    for name, tag in entity_columns.items():
        schema.append(
            {
                "name": name,
                "type": types.get(name, "null"),
                "classification": tag.to_dict(),
                "provenance": {"rule": "entity", "sources": [f"{entity_label}.{name}"]},
            }
        )
    for item in data:
        for feature, _ in item.selection.features:
            schema.append(
                {
                    "name": feature,
                    "type": types.get(feature, "null"),
                    "classification": item.classes[feature].to_dict(),
                    "provenance": {
                        "rule": "feature",
                        "view": item.selection.ref,
                        "sources": item.sources.get(feature, []),
                    },
                }
            )
    return schema
