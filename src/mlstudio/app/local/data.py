"""The dataset catalog (import, classify, lineage, export) and declassifiers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlstudio.app.local.base import Area, page

if TYPE_CHECKING:
    from mlstudio.app.views import (
        DatasetListView,
        DatasetView,
        DeclassifierView,
        DeletionView,
        ExportView,
        HeadView,
        LineageView,
    )


class LocalDatasets(Area):
    def list(
        self,
        namespace: str | None = None,
        search: str | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[DatasetListView]:
        rows = self.platform.datasets.list(namespace=namespace, search=search)
        return page(rows, limit, offset)  # type: ignore[arg-type]

    def show(self, ref: str) -> DatasetView:
        return self.platform.datasets.show(ref)  # type: ignore[return-value]

    def import_file(
        self,
        file: str | Path,
        name: str,
        *,
        domain: str = "production",
        classify: list[str] | None = None,
    ) -> DatasetView:
        datasets = self.platform.datasets
        record = datasets.import_file(
            self.actor, file, name, domain=domain, classify=classify or []
        )
        view = self.show(record.ref)
        view["schema_changes"] = datasets.changes_from_previous(record.full_name, record.version)
        return view

    def classify(self, ref: str, specs: list[str]) -> DatasetView:
        return self.platform.datasets.classify(self.actor, ref, specs)  # type: ignore[return-value]

    def lineage(self, ref: str, column: str | None = None) -> LineageView:
        return self.platform.datasets.lineage(ref, column)  # type: ignore[return-value]

    def export(self, ref: str, file: str | Path, *, domain: str = "experimentation") -> ExportView:
        return self.platform.datasets.export(self.actor, ref, file, domain=domain)  # type: ignore[return-value]

    def head(
        self,
        ref: str,
        *,
        rows: int = 20,
        columns: list[str] | None = None,
        domain: str = "experimentation",
    ) -> HeadView:
        from mlstudio.data.preview import head

        return head(  # type: ignore[return-value]
            self.platform.store,
            self.platform.cas,
            self.actor,
            ref,
            rows=rows,
            columns=columns,
            domain=domain,
        )

    def delete(self, ref: str) -> DeletionView:
        from mlstudio.data.deletion import delete_dataset

        return delete_dataset(self.platform.store, self.actor, ref)  # type: ignore[return-value]


class LocalDeclassifiers(Area):
    def list(self, state: str | None = None) -> list[DeclassifierView]:
        return [r.to_dict() for r in self.platform.declassifiers.list(state)]  # type: ignore[misc]

    def create(
        self,
        module: str,
        task: str,
        columns: list[str],
        *,
        lower_to: str | None = None,
        remove_labels: list[str] | None = None,
        justification: str = "",
    ) -> DeclassifierView:
        record = self.platform.declassifiers.create(
            self.actor,
            module,
            task,
            columns,
            lower_to=lower_to,
            remove_labels=remove_labels or [],
            justification=justification,
        )
        return record.to_dict()  # type: ignore[return-value]

    def approve(self, declassifier_id: str) -> DeclassifierView:
        return self.platform.declassifiers.approve(self.actor, declassifier_id).to_dict()  # type: ignore[return-value]

    def revoke(self, declassifier_id: str) -> DeclassifierView:
        return self.platform.declassifiers.revoke(self.actor, declassifier_id).to_dict()  # type: ignore[return-value]
