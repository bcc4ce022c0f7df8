"""The application interface over HTTP, area by area: each method sends its route's request.

The shapes are the server's (built there by the local implementation), so each method returns
the JSON as it came. Paths quote every user-given segment.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from mlstudio.client.http import LONG, Http
from mlstudio.errors import InvalidInputError, InvalidNameError, MlstudioError
from mlstudio.workflows.options import RunOptions

if TYPE_CHECKING:
    from mlstudio.app.interface import Observer, Progress
    from mlstudio.app.views import (
        AttemptView,
        AuditEventView,
        CacheClearView,
        CacheStatsView,
        DatasetListView,
        DatasetView,
        DeclassifierView,
        DeletionView,
        DeliveryView,
        DetachedView,
        DomainRemovalView,
        DomainView,
        ExportView,
        GcView,
        GrantChangeView,
        HeadView,
        LineageView,
        LogTailView,
        LogView,
        ModuleShowView,
        ModuleView,
        NamespaceGrantView,
        NamespaceView,
        OutputView,
        PinView,
        PushView,
        QuotaView,
        RunShowView,
        RunStatesView,
        RunView,
        ScheduleView,
        TagMoveView,
        TokenView,
        UserView,
        WebhookView,
        WhoamiView,
    )

TERMINAL = ("succeeded", "failed", "cancelled")


def seg(text: str) -> str:
    """One path segment, quoted."""
    return quote(str(text), safe="")


def ref_path(ref: str, kind: str) -> str:
    """``NS/NAME[@V|:TAG]`` as the two path segments the API routes take."""
    namespace, sep, rest = ref.strip().partition("/")
    if sep and namespace and rest and "/" not in rest:
        return f"{seg(namespace)}/{quote(rest, safe=':@')}"
    # not of that shape: let the same parser as the server name the problem
    try:
        if kind == "dataset":
            from mlstudio.data.catalog import parse_dataset_ref

            parse_dataset_ref(ref)
        else:
            from mlstudio.core.ids import ModuleRef

            ModuleRef.parse(ref)
    except MlstudioError:
        raise
    raise InvalidNameError(f"invalid {kind} reference {ref!r}", hint="use NS/NAME")


class RemoteArea:
    def __init__(self, http: Http) -> None:
        self.http = http


# --- identity ---------------------------------------------------------------------------------
class RemoteUsers(RemoteArea):
    def whoami(self) -> WhoamiView:
        return self.http.json("GET", "/whoami")

    def list(self, *, limit: int | None = None, offset: int = 0) -> list[UserView]:
        return self.http.list("/users", {}, limit, offset)

    def add(self, name: str, role: str | None = None) -> UserView:
        return self.http.json("POST", "/users", json={"name": name, "role": role})

    def grant(
        self, user: str, role: str, *, namespace: str | None = None, domain: str | None = None
    ) -> GrantChangeView:
        body = {"role": role, "namespace": namespace, "domain": domain}
        return self.http.json("POST", f"/users/{seg(user)}/grants", json=body)

    def revoke(
        self, user: str, role: str, *, namespace: str | None = None, domain: str | None = None
    ) -> GrantChangeView:
        return self.http.json(
            "DELETE",
            f"/users/{seg(user)}/grants/{seg(role)}",
            params={"namespace": namespace, "domain": domain},
        )

    def disable(self, name: str) -> UserView:
        return self.http.json("POST", f"/users/{seg(name)}/disable")

    def enable(self, name: str) -> UserView:
        return self.http.json("POST", f"/users/{seg(name)}/enable")


class RemoteTokens(RemoteArea):
    def create(
        self, user: str | None = None, *, ttl_days: float = 90.0, description: str = ""
    ) -> TokenView:
        body = {"user": user, "ttl_days": ttl_days, "description": description}
        return self.http.json("POST", "/tokens", json=body)

    def list(self, user: str | None = None) -> list[TokenView]:
        return self.http.list("/tokens", {"user": user}, None)

    def revoke(self, token_id: str) -> TokenView:
        return self.http.json("DELETE", f"/tokens/{seg(token_id)}")


class RemoteAudit(RemoteArea):
    def list(
        self,
        *,
        since: datetime | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int | None = 100,
        offset: int = 0,
    ) -> list[AuditEventView]:
        params = {"since": since.isoformat() if since else None, "actor": actor, "action": action}
        return self.http.list("/audit", params, limit, offset)


# --- governance -------------------------------------------------------------------------------
class RemoteDomains(RemoteArea):
    def list(self) -> list[DomainView]:
        return self.http.list("/domains", {}, None)

    def show(self, name: str) -> DomainView:
        return self.http.json("GET", f"/domains/{seg(name)}")

    def set(self, name: str, **changes: Any) -> DomainView:
        """Only the given fields are sent: the server keeps the others."""
        return self.http.json("PUT", f"/domains/{seg(name)}", json=changes)

    def create(self, name: str, **policy: Any) -> DomainView:
        return self.http.json("POST", "/domains", json={"name": name, **policy})

    def remove(self, name: str) -> DomainRemovalView:
        return self.http.json("DELETE", f"/domains/{seg(name)}")


class RemoteNamespaces(RemoteArea):
    def list(self) -> list[NamespaceView]:
        return self.http.list("/namespaces", {}, None)

    def create(self, name: str, owner: str | None = None, description: str = "") -> NamespaceView:
        body = {"name": name, "owner": owner, "description": description}
        return self.http.json("POST", "/namespaces", json=body)

    def grant(self, namespace: str, user: str, role: str) -> NamespaceGrantView:
        body = {"user": user, "role": role}
        return self.http.json("POST", f"/namespaces/{seg(namespace)}/grants", json=body)

    def quota(self, namespace: str) -> QuotaView:
        return self.http.json("GET", f"/namespaces/{seg(namespace)}/quota")

    def set_quota(self, namespace: str, **changes: int | None) -> QuotaView:
        return self.http.json("PUT", f"/namespaces/{seg(namespace)}/quota", json=changes)


# --- modules ----------------------------------------------------------------------------------
class RemoteModules(RemoteArea):
    def list(
        self,
        search: str | None = None,
        namespace: str | None = None,
        *,
        limit: int | None = 100,
        offset: int = 0,
    ) -> list[ModuleView]:
        params = {"search": search, "namespace": namespace}
        return self.http.list("/modules", params, limit, offset)

    def show(self, ref: str) -> ModuleShowView:
        return self.http.json("GET", f"/modules/{ref_path(ref, 'module')}")

    def push(
        self,
        directory: str | Path,
        *,
        message: str = "",
        run_tests: bool = True,
        progress: Progress | None = None,
    ) -> PushView:
        """Build the module's archive here (as a local push would) and push it to the server,
        which validates, tests and publishes it as the token's user."""
        from mlstudio.modules.archive import build_module
        from mlstudio.modules.manifest import load_manifest
        from mlstudio.modules.provenance import git_info

        directory = Path(directory).resolve()
        manifest = load_manifest(directory)
        if progress:
            progress("building the archive")
        build = build_module(directory, manifest.exclude)
        if progress:
            progress(f"uploading {len(build.archive) / 1024:.0f} KiB and pushing on the server")
        commit, dirty = git_info(directory)
        return self.push_archive(
            build.archive, message=message, run_tests=run_tests, git_commit=commit, git_dirty=dirty
        )

    def push_archive(
        self,
        archive: bytes,
        *,
        message: str = "",
        run_tests: bool = True,
        git_commit: str | None = None,
        git_dirty: bool | None = None,
    ) -> PushView:
        """Push a built archive; ``git_commit``/``git_dirty`` record where it was built from."""
        params = {
            "message": message,
            "run_tests": run_tests,
            "git_commit": git_commit,
            "git_dirty": git_dirty,
        }
        return self.http.json(
            "POST",
            "/modules",
            params=params,
            content=archive,
            headers={"Content-Type": "application/gzip"},
            timeout=LONG,  # the module's tests run on the server
        )

    def promote(
        self, module: str, version: int, *, override_reason: str | None = None
    ) -> TagMoveView:
        path = f"/modules/{ref_path(module, 'module')}/promote"
        body = {"version": version, "override_reason": override_reason}
        return self.http.json("POST", path, json=body)

    def tag(
        self, module: str, tag: str, version: int, *, override_reason: str | None = None
    ) -> TagMoveView:
        path = f"/modules/{ref_path(module, 'module')}/tags/{seg(tag)}"
        body = {"version": version, "override_reason": override_reason}
        return self.http.json("PUT", path, json=body)

    def rollback(self, module: str, tag: str = "latest") -> TagMoveView:
        path = f"/modules/{ref_path(module, 'module')}/rollback"
        return self.http.json("POST", path, json={"tag": tag})

    def delete(self, ref: str) -> DeletionView:
        from mlstudio.modules.deletion import parse_version_ref

        parse_version_ref(ref)  # the same refusal as the server, before any request
        return self.http.json("DELETE", f"/modules/{ref_path(ref, 'module')}")


# --- runs -------------------------------------------------------------------------------------
class RemoteRuns(RemoteArea):
    def start(
        self, workflow: str, params: dict[str, Any], options: RunOptions = RunOptions()
    ) -> RunView:
        """Queue a run of a pushed workflow on the server's workers (they pick the executor:
        ``--executor`` other than local/queue is refused here)."""
        if options.executor not in ("local", "queue"):
            raise InvalidInputError(
                f"--executor {options.executor} is not available against a server",
                hint="a server runs workflows on its worker pools: choose one with --pool",
            )
        body = {
            "params": params,
            "domain": options.domain,
            "no_cache": options.no_cache,
            "fail_fast": options.fail_fast,
            "pool": options.pool,
            "priority": options.priority,
            "preemptible": options.preemptible,
            "experiment": options.experiment,
        }
        return self.http.json("POST", f"/workflows/{quote(workflow, safe='/:@')}/runs", json=body)

    def wait(self, run_id: str, observe: Observer | None = None) -> RunShowView:
        """Follow the run (the server's driver runs it) until it ends."""
        started = time.monotonic()
        delay = 0.1
        while True:
            data = self.show(run_id)
            if observe:
                tasks = [t for t in data.get("tasks", []) if t.get("kind", "task") == "task"]
                counts: dict[str, int] = {}
                for t in tasks:
                    counts[t["state"]] = counts.get(t["state"], 0) + 1
                observe(
                    {
                        "counts": counts,
                        "total": len(tasks),
                        "elapsed_s": time.monotonic() - started,
                    }
                )
            if data["state"] in TERMINAL:
                return data
            time.sleep(delay)
            delay = min(delay * 1.5, 1.0)

    def detach(self, run_id: str) -> DetachedView:
        """Nothing to do: the server goes on driving the run."""
        return {"id": run_id, "state": "queued"}

    def list(
        self,
        *,
        state: str | None = None,
        workflow: str | None = None,
        user: str | None = None,
        domain: str | None = None,
        namespace: str | None = None,
        since: datetime | None = None,
        limit: int | None = 20,
        offset: int = 0,
    ) -> list[RunView]:
        params = {
            "state": state,
            "workflow": workflow,
            "user": user,
            "domain": domain,
            "namespace": namespace,
            "since": since.isoformat() if since else None,
        }
        return self.http.list("/runs", params, limit, offset)

    def show(self, run_id: str, *, explain: bool = False) -> RunShowView:
        return self.http.json("GET", f"/runs/{seg(run_id)}", params={"explain": explain})

    def states(self, run_id: str) -> RunStatesView:
        return self.http.json("GET", f"/runs/{seg(run_id)}/states")

    def logs(self, run_id: str, *, task: str | None = None) -> list[LogView]:
        return self.http.list(f"/runs/{seg(run_id)}/logs", {"task": task}, None)

    def log_tail(
        self, run_id: str, *, task: str | None = None, cursor: str | None = None
    ) -> LogTailView:
        params = {"task": task, "cursor": cursor}
        return self.http.json("GET", f"/runs/{seg(run_id)}/logs/tail", params=params)

    def cancel(self, run_id: str) -> RunView:
        return self.http.json("POST", f"/runs/{seg(run_id)}/cancel")

    def clone(
        self, run_id: str, params: dict[str, Any] | None = None, *, no_cache: bool = False
    ) -> RunView:
        body = {"params": params or {}, "no_cache": no_cache}
        return self.http.json("POST", f"/runs/{seg(run_id)}/clone", json=body)

    def resume(self, run_id: str) -> RunView:
        return self.http.json("POST", f"/runs/{seg(run_id)}/resume")

    def output(
        self,
        run_id: str,
        file: str | Path,
        *,
        task: str | None = None,
        domain: str | None = None,
        fmt: str | None = None,
    ) -> OutputView:
        """Download the output into ``file``, streamed (the server picks the format from
        ``fmt`` or the file's name, as a local call would)."""
        from mlstudio.data.writes import check_target

        target = Path(file)
        check_target(target)  # the same checks as a local call, before any download
        params = {"task": task, "domain": domain, "format": fmt, "filename": target.name}
        path = f"/runs/{seg(run_id)}/output"
        summary = self.http.download(path, params, target, "X-Mlstudio-Output")
        return {**summary, "file": str(target)}

    def pin(self, run_id: str, reason: str = "") -> PinView:
        return self.http.json("POST", f"/runs/{seg(run_id)}/pin", json={"reason": reason})

    def unpin(self, run_id: str) -> PinView:
        return self.http.json("DELETE", f"/runs/{seg(run_id)}/pin")


class RemoteCache(RemoteArea):
    def stats(self) -> CacheStatsView:
        return self.http.json("GET", "/cache/stats")

    def clear(
        self,
        workflow: str | None = None,
        task: str | None = None,
        older_than_days: float | None = None,
    ) -> CacheClearView:
        body = {"workflow": workflow, "task": task, "older_than_days": older_than_days}
        return self.http.json("POST", "/cache/clear", json=body)


# --- data -------------------------------------------------------------------------------------
class RemoteDatasets(RemoteArea):
    def list(
        self,
        namespace: str | None = None,
        search: str | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[DatasetListView]:
        return self.http.list(
            "/datasets", {"namespace": namespace, "search": search}, limit, offset
        )

    def show(self, ref: str) -> DatasetView:
        return self.http.json("GET", f"/datasets/{ref_path(ref, 'dataset')}")

    def import_file(
        self,
        file: str | Path,
        name: str,
        *,
        domain: str = "production",
        classify: list[str] | None = None,
    ) -> DatasetView:
        """Upload a .csv or .parquet file as the next version of ``name``."""
        from mlstudio.errors import NotFoundError

        path = Path(file)
        if not path.is_file():
            raise NotFoundError(f"file {path} does not exist", hint="check the path")
        params = {"name": name, "domain": domain, "classify": classify or [], "filename": path.name}
        with path.open("rb") as handle:
            return self.http.json(
                "POST",
                "/datasets",
                params=params,
                content=handle,
                headers={"Content-Type": "application/octet-stream"},
                timeout=LONG,
            )

    def classify(self, ref: str, specs: list[str]) -> DatasetView:
        path = f"/datasets/{ref_path(ref, 'dataset')}/classify"
        return self.http.json("POST", path, json={"specs": specs})

    def lineage(self, ref: str, column: str | None = None) -> LineageView:
        path = f"/datasets/{ref_path(ref, 'dataset')}/lineage"
        return self.http.json("GET", path, params={"column": column})

    def export(self, ref: str, file: str | Path, *, domain: str = "experimentation") -> ExportView:
        """Download a version to ``file`` (format from its suffix), read under ``domain``."""
        import json
        import os

        from mlstudio.data.catalog import file_format
        from mlstudio.errors import NotFoundError

        target = Path(file)
        fmt = file_format(target)  # the same checks as a local export, before any download
        if not target.parent.is_dir():
            raise NotFoundError(
                f"folder {target.parent} does not exist", hint="create it or pick another path"
            )
        if target.is_dir():
            raise InvalidInputError(f"{target} is a folder", hint="give a file name")
        path = f"/datasets/{ref_path(ref, 'dataset')}/export"
        response = self.http.call(
            "GET", path, params={"domain": domain, "format": fmt}, timeout=LONG
        )
        summary = json.loads(response.headers["X-Mlstudio-Export"])
        partial = target.with_name(f".{target.name}.part")
        partial.write_bytes(response.content)
        os.replace(partial, target)
        return {**summary, "file": str(target)}

    def head(
        self,
        ref: str,
        *,
        rows: int = 20,
        columns: list[str] | None = None,
        domain: str = "experimentation",
    ) -> HeadView:
        from mlstudio.data.preview import MAX_ROWS

        if not 1 <= rows <= MAX_ROWS:  # the server's message, not a 422
            raise InvalidInputError(
                f"-n {rows}: a preview shows 1 to {MAX_ROWS} rows",
                hint="for the whole table: mlstudio data export NS/NAME FILE",
            )
        params = {"rows": rows, "columns": list(columns or []) or None, "domain": domain}
        return self.http.json("GET", f"/datasets/{ref_path(ref, 'dataset')}/head", params=params)

    def delete(self, ref: str) -> DeletionView:
        return self.http.json("DELETE", f"/datasets/{ref_path(ref, 'dataset')}")


class RemoteDeclassifiers(RemoteArea):
    def list(self, state: str | None = None) -> list[DeclassifierView]:
        return self.http.list("/declassifiers", {"state": state}, None)

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
        body = {
            "module": module,
            "task": task,
            "columns": list(columns),
            "lower_to": lower_to,
            "remove_labels": list(remove_labels or []),
            "justification": justification,
        }
        return self.http.json("POST", "/declassifiers", json=body)

    def approve(self, declassifier_id: str) -> DeclassifierView:
        return self.http.json("POST", f"/declassifiers/{seg(declassifier_id)}/approve")

    def revoke(self, declassifier_id: str) -> DeclassifierView:
        return self.http.json("POST", f"/declassifiers/{seg(declassifier_id)}/revoke")


# --- storage ----------------------------------------------------------------------------------
class RemoteStorage(RemoteArea):
    def gc(
        self,
        *,
        dry_run: bool = False,
        keep_runs_days: float | None = None,
        grace_hours: float = 1.0,
    ) -> GcView:
        from mlstudio.maintenance.gc import check_options

        check_options(keep_runs_days, grace_hours)  # the same message as locally, not a 422
        body = {"dry_run": dry_run, "keep_runs_days": keep_runs_days, "grace_hours": grace_hours}
        return self.http.json("POST", "/storage/gc", json=body, timeout=LONG)


# --- tracking ---------------------------------------------------------------------------------
class RemoteTracking(RemoteArea):
    def experiments(self, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        params = {"include_deleted": include_deleted}
        return self.http.json("GET", "/tracking/experiments", params=params)["items"]

    def experiment(self, ref: str, *, limit: int = 20) -> dict[str, Any]:
        params = {"limit": limit}
        return self.http.json("GET", f"/tracking/experiments/{seg(ref)}", params=params)

    def get(self, run_id: str) -> dict[str, Any]:
        return self.http.json("GET", f"/tracking/runs/{seg(run_id)}")

    def runs_of(self, ref: str) -> list[dict[str, Any]]:
        return self.http.json("GET", f"/tracking/runs/{seg(ref)}/all")["items"]

    def search(
        self,
        filter: str | None = None,
        *,
        order_by: list[str] | None = None,
        experiment: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> dict[str, Any]:
        body = {
            "filter": filter,
            "order_by": order_by or [],
            "experiment": experiment,
            "limit": limit,
            "offset": offset,
        }
        return self.http.json("POST", "/tracking/search", json=body)

    def compare(self, refs: list[str], *, only_differences: bool = False) -> dict[str, Any]:
        body = {"runs": list(refs), "only_differences": only_differences}
        return self.http.json("POST", "/tracking/compare", json=body)

    def history(self, ref: str, metric: str) -> list[dict[str, Any]]:
        params = {"metric": metric}
        return self.http.json("GET", f"/tracking/runs/{seg(ref)}/history", params=params)["items"]


# --- schedules and webhooks -------------------------------------------------------------------
class RemoteSchedules(RemoteArea):
    def list(
        self, *, workflow: str | None = None, limit: int | None = 100, offset: int = 0
    ) -> list[ScheduleView]:
        return self.http.list("/schedules", {"workflow": workflow}, limit, offset)

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
        body = {
            "workflow": workflow,
            "cron": cron,
            "tz": tz,
            "catchup": catchup,
            "params": params or {},
            "domain": domain,
        }
        return self.http.json("POST", "/schedules", json=body)

    def show(self, schedule_id: str) -> ScheduleView:
        return self.http.json("GET", f"/schedules/{seg(schedule_id)}")

    def pause(self, schedule_id: str) -> ScheduleView:
        return self.http.json("POST", f"/schedules/{seg(schedule_id)}/pause")

    def resume(self, schedule_id: str) -> ScheduleView:
        return self.http.json("POST", f"/schedules/{seg(schedule_id)}/resume")

    def remove(self, schedule_id: str) -> ScheduleView:
        return self.http.json("DELETE", f"/schedules/{seg(schedule_id)}")


class RemoteWebhooks(RemoteArea):
    def list(self, *, include_removed: bool = False) -> list[WebhookView]:
        return self.http.list("/webhooks", {"include_removed": include_removed}, None)

    def add(self, url: str, events: list[str], *, secret: str | None = None) -> WebhookView:
        body = {"url": url, "events": list(events), "secret": secret}
        return self.http.json("POST", "/webhooks", json=body)

    def remove(self, webhook_id: str) -> WebhookView:
        return self.http.json("DELETE", f"/webhooks/{seg(webhook_id)}")

    def deliveries(
        self,
        webhook_id: str,
        *,
        state: str | None = None,
        limit: int | None = 50,
        offset: int = 0,
    ) -> list[DeliveryView]:
        path = f"/webhooks/{seg(webhook_id)}/deliveries"
        return self.http.list(path, {"state": state}, limit, offset)

    def attempts(
        self, delivery_id: int | str, *, limit: int | None = None, offset: int = 0
    ) -> list[AttemptView]:
        path = f"/webhooks/deliveries/{seg(str(delivery_id))}/attempts"
        return self.http.list(path, {}, limit, offset)

    def replay(self, delivery_id: int | str) -> DeliveryView:
        return self.http.json("POST", f"/webhooks/deliveries/{seg(str(delivery_id))}/replay")


# --- features ---------------------------------------------------------------------------------
def _view_path(ref: str) -> str:
    from mlstudio.integrations.features.registry import parse_view_ref

    parse_view_ref(ref)  # the server's parser names a bad reference the same way
    namespace, _, rest = ref.strip().partition("/")
    return f"/features/{seg(namespace)}/{quote(rest, safe='@')}"


class RemoteFeatures(RemoteArea):
    def list(
        self,
        namespace: str | None = None,
        search: str | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        params = {k: v for k, v in {"namespace": namespace, "search": search}.items() if v}
        return self.http.list("/features", params, limit, offset)

    def show(self, ref: str) -> dict[str, Any]:
        return self.http.json("GET", _view_path(ref))

    def diff(self, a: str, b: str) -> dict[str, Any]:
        return self.http.json("GET", f"{_view_path(a)}/diff", params={"to": b})

    def training_set(
        self,
        entities: str,
        features: list[str],
        *,
        as_of: str,
        domain: str = "experimentation",
        inclusive: bool = False,
        known_by: bool = True,
        save: str | None = None,
        file: str | Path | None = None,
    ) -> dict[str, Any]:
        if file is not None:
            raise InvalidInputError(
                "a server does not write files for its callers",
                hint="save it as a dataset (--save NS/NAME), then: mlstudio data export",
            )
        body = {
            "entities": entities,
            "features": list(features),
            "as_of": as_of,
            "domain": domain,
            "inclusive": inclusive,
            "known_by": known_by,
            "save": save,
        }
        return self.http.json("POST", "/features/training-sets", json=body, timeout=LONG)

    def materialize(
        self, ref: str, *, store: str = "sqlite", domain: str = "production", full: bool = False
    ) -> dict[str, Any]:
        body = {"store": store, "domain": domain, "full": full}
        return self.http.json("POST", f"{_view_path(ref)}/materialize", json=body, timeout=LONG)

    def get(
        self,
        ref: str,
        keys: list[list[Any]],
        *,
        domain: str = "production",
        store: str = "sqlite",
        features: list[str] | None = None,
    ) -> dict[str, Any]:
        body = {"keys": keys, "domain": domain, "store": store, "features": features}
        return self.http.json("POST", f"{_view_path(ref)}/online", json=body)

    def check(
        self, ref: str, *, store: str = "sqlite", sample: int = 100, domain: str = "production"
    ) -> dict[str, Any]:
        body = {"store": store, "sample": sample, "domain": domain}
        return self.http.json("POST", f"{_view_path(ref)}/check", json=body, timeout=LONG)
