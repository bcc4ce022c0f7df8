"""``Client(url, token)``: one method per service operation the CLI uses, returning JSON data.

Every call goes to ``{url}/api/v1`` with the token as a bearer; every error answer goes through
the one response hook (:func:`mlstudio.client.errors.raise_for_error`) and comes back as the
``MlstudioError`` the server raised. List methods page through the API (at most 1,000 items a
request) up to ``limit`` items; ``limit=None`` means all of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from mlstudio.client.errors import raise_for_error
from mlstudio.errors import InvalidNameError, MlstudioError, StoreUnavailableError

PAGE = 1000
TERMINAL = ("succeeded", "failed", "cancelled")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mlstudio")
    except PackageNotFoundError:  # pragma: no cover
        return "0"


def _clean(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


class Client:
    """A session with one mlstudio server (``with Client(url, token) as c: …``)."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 300.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=f"{self.url}/api/v1",
            headers={"Authorization": f"Bearer {token}", "User-Agent": f"mlstudio/{_version()}"},
            timeout=httpx.Timeout(timeout, connect=10.0),
            event_hooks={"response": [raise_for_error]},
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- plumbing -----------------------------------------------------------------------------
    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if "params" in kwargs:
            kwargs["params"] = _clean(kwargs["params"])
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise StoreUnavailableError(
                f"cannot reach the mlstudio server at {self.url}: {exc or type(exc).__name__}",
                hint="check MLSTUDIO_URL, and that `mlstudio server` runs there",
            ) from exc

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._call(method, path, **kwargs).json()

    def _list(self, path: str, params: dict[str, Any], limit: int | None, offset: int = 0) -> list:
        """Items from ``offset`` on, page by page, until ``limit`` items or the end."""
        items: list[Any] = []
        while limit is None or len(items) < limit:
            size = PAGE if limit is None else min(PAGE, limit - len(items))
            page = self._json(
                "GET", path, params={**params, "limit": size, "offset": offset + len(items)}
            )
            items.extend(page["items"])
            if len(page["items"]) < size:
                break
        return items

    def health(self) -> dict[str, Any]:
        """``GET /health`` (needs no token)."""
        try:
            response = self._http.get(f"{self.url}/health")
        except httpx.TransportError as exc:
            raise StoreUnavailableError(f"cannot reach the mlstudio server at {self.url}") from exc
        return response.json()

    # --- identity -----------------------------------------------------------------------------
    def whoami(self) -> dict[str, Any]:
        return self._json("GET", "/whoami")

    def list_users(self, *, limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        return self._list("/users", {}, limit, offset)

    def add_user(self, name: str, role: str | None = None) -> dict[str, Any]:
        return self._json("POST", "/users", json={"name": name, "role": role})

    def grant(
        self, user: str, role: str, *, namespace: str | None = None, domain: str | None = None
    ) -> dict[str, Any]:
        body = {"role": role, "namespace": namespace, "domain": domain}
        return self._json("POST", f"/users/{quote(user, safe='')}/grants", json=body)

    def revoke(
        self, user: str, role: str, *, namespace: str | None = None, domain: str | None = None
    ) -> dict[str, Any]:
        return self._json(
            "DELETE",
            f"/users/{quote(user, safe='')}/grants/{quote(role, safe='')}",
            params={"namespace": namespace, "domain": domain},
        )

    def disable_user(self, name: str) -> dict[str, Any]:
        return self._json("POST", f"/users/{quote(name, safe='')}/disable")

    def enable_user(self, name: str) -> dict[str, Any]:
        return self._json("POST", f"/users/{quote(name, safe='')}/enable")

    def list_tokens(self, user: str | None = None) -> list[dict[str, Any]]:
        return self._list("/tokens", {"user": user}, None)

    def create_token(
        self, user: str | None = None, *, ttl_days: float = 90.0, description: str = ""
    ) -> dict[str, Any]:
        body = {"user": user, "ttl_days": ttl_days, "description": description}
        return self._json("POST", "/tokens", json=body)

    def revoke_token(self, token_id: str) -> dict[str, Any]:
        return self._json("DELETE", f"/tokens/{quote(token_id, safe='')}")

    def audit(
        self,
        *,
        since: datetime | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int | None = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        params = {"since": since.isoformat() if since else None, "actor": actor, "action": action}
        return self._list("/audit", params, limit, offset)

    # --- domains ------------------------------------------------------------------------------
    def list_domains(self) -> list[dict[str, Any]]:
        return self._list("/domains", {}, None)

    def show_domain(self, name: str) -> dict[str, Any]:
        return self._json("GET", f"/domains/{quote(name, safe='')}")

    def set_domain(self, name: str, **changes: Any) -> dict[str, Any]:
        """Change fields of a domain's policy; lists take None for all and [] for none."""
        return self._json("PUT", f"/domains/{quote(name, safe='')}", json=changes)

    # --- modules ------------------------------------------------------------------------------
    def list_namespaces(self) -> list[dict[str, Any]]:
        return self._list("/namespaces", {}, None)

    def create_namespace(
        self, name: str, owner: str | None = None, description: str = ""
    ) -> dict[str, Any]:
        body = {"name": name, "owner": owner, "description": description}
        return self._json("POST", "/namespaces", json=body)

    def grant_namespace(self, namespace: str, user: str, role: str) -> dict[str, Any]:
        body = {"user": user, "role": role}
        return self._json("POST", f"/namespaces/{quote(namespace, safe='')}/grants", json=body)

    def namespace_quota(self, namespace: str) -> dict[str, Any]:
        """The namespace's quotas (None: unlimited) and their current use."""
        return self._json("GET", f"/namespaces/{quote(namespace, safe='')}/quota")

    def set_namespace_quota(self, namespace: str, **changes: int | None) -> dict[str, Any]:
        """Set ``max_running_runs`` / ``max_running_tasks`` (None: unlimited); others stay."""
        return self._json("PUT", f"/namespaces/{quote(namespace, safe='')}/quota", json=changes)

    def list_modules(
        self,
        search: str | None = None,
        namespace: str | None = None,
        *,
        limit: int | None = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        return self._list("/modules", {"search": search, "namespace": namespace}, limit, offset)

    def show_module(self, ref: str) -> dict[str, Any]:
        return self._json("GET", f"/modules/{_ref_path(ref, 'module')}")

    def push_module(
        self,
        directory: str | Path,
        *,
        message: str = "",
        run_tests: bool = True,
        progress: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Build the module's archive here (as a local push would) and push it to the server."""
        from mlstudio.modules.archive import build_module
        from mlstudio.modules.manifest import load_manifest

        directory = Path(directory).resolve()
        manifest = load_manifest(directory)
        if progress:
            progress("building the archive")
        build = build_module(directory, manifest.exclude)
        if progress:
            progress(f"uploading {len(build.archive) / 1024:.0f} KiB and pushing on the server")
        from mlstudio.modules.provenance import git_info

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
    ) -> dict[str, Any]:
        """Push a built archive; ``git_commit``/``git_dirty`` record where it was built from."""
        params = {
            "message": message,
            "run_tests": run_tests,
            "git_commit": git_commit,
            "git_dirty": git_dirty,
        }
        return self._json(
            "POST",
            "/modules",
            params=params,
            content=archive,
            headers={"Content-Type": "application/gzip"},
            timeout=httpx.Timeout(None, connect=10.0),  # the module's tests run on the server
        )

    def promote(self, module: str, version: int) -> dict[str, Any]:
        path = f"/modules/{_ref_path(module, 'module')}/promote"
        return self._json("POST", path, json={"version": version})

    def move_tag(self, module: str, tag: str, version: int) -> dict[str, Any]:
        path = f"/modules/{_ref_path(module, 'module')}/tags/{quote(tag, safe='')}"
        return self._json("PUT", path, json={"version": version})

    def rollback(self, module: str, tag: str = "latest") -> dict[str, Any]:
        path = f"/modules/{_ref_path(module, 'module')}/rollback"
        return self._json("POST", path, json={"tag": tag})

    # --- runs ---------------------------------------------------------------------------------
    def submit_run(
        self,
        workflow: str,
        params: dict[str, Any] | None = None,
        *,
        domain: str = "experimentation",
        no_cache: bool = False,
        fail_fast: bool = False,
        pool: str | None = None,
        priority: int = 0,
        preemptible: bool = False,
    ) -> dict[str, Any]:
        """Queue a run of a pushed workflow (``NS/MODULE/WORKFLOW[:TAG|@N]``) on the server's
        workers; returns the queued run."""
        body = {
            "params": params or {},
            "domain": domain,
            "no_cache": no_cache,
            "fail_fast": fail_fast,
            "pool": pool,
            "priority": priority,
            "preemptible": preemptible,
        }
        return self._json("POST", f"/workflows/{quote(workflow, safe='/:@')}/runs", json=body)

    def list_runs(
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
    ) -> list[dict[str, Any]]:
        params = {
            "state": state,
            "workflow": workflow,
            "user": user,
            "domain": domain,
            "namespace": namespace,
            "since": since.isoformat() if since else None,
        }
        return self._list("/runs", params, limit, offset)

    def show_run(self, run_id: str, *, explain: bool = False) -> dict[str, Any]:
        return self._json("GET", f"/runs/{quote(run_id, safe='')}", params={"explain": explain})

    def run_logs(self, run_id: str, *, task: str | None = None) -> list[dict[str, Any]]:
        return self._list(f"/runs/{quote(run_id, safe='')}/logs", {"task": task}, None)

    def cancel_run(self, run_id: str) -> dict[str, Any]:
        return self._json("POST", f"/runs/{quote(run_id, safe='')}/cancel")

    def clone_run(
        self, run_id: str, params: dict[str, Any] | None = None, *, no_cache: bool = False
    ) -> dict[str, Any]:
        body = {"params": params or {}, "no_cache": no_cache}
        return self._json("POST", f"/runs/{quote(run_id, safe='')}/clone", json=body)

    def resume_run(self, run_id: str) -> dict[str, Any]:
        return self._json("POST", f"/runs/{quote(run_id, safe='')}/resume")

    def watch_run(self, run_id: str, *, interval: float = 0.5) -> Iterator[dict[str, Any]]:
        """``show_run`` every ``interval`` seconds (backing off to 2 s) until the run ends."""
        delay = min(interval, 0.2)
        while True:
            data = self.show_run(run_id)
            yield data
            if data["state"] in TERMINAL:
                return
            time.sleep(delay)
            delay = min(max(delay * 1.5, interval), 2.0)

    def wait_run(self, run_id: str, *, interval: float = 0.5) -> dict[str, Any]:
        """The run once it succeeded, failed or was cancelled."""
        data: dict[str, Any] = {}
        for data in self.watch_run(run_id, interval=interval):  # noqa: B007
            pass
        return data

    def cache_stats(self) -> dict[str, Any]:
        return self._json("GET", "/cache/stats")

    def cache_clear(
        self,
        workflow: str | None = None,
        task: str | None = None,
        older_than_days: float | None = None,
    ) -> int:
        body = {"workflow": workflow, "task": task, "older_than_days": older_than_days}
        return self._json("POST", "/cache/clear", json=body)["removed"]

    # --- schedules ---------------------------------------------------------------------------
    def list_schedules(
        self, *, workflow: str | None = None, limit: int | None = 100, offset: int = 0
    ) -> list[dict[str, Any]]:
        """Schedules you may view, with their recent fires (``workflow``: a prefix)."""
        return self._list("/schedules", {"workflow": workflow}, limit, offset)

    def add_schedule(
        self,
        workflow: str,
        cron: str,
        *,
        tz: str = "UTC",
        catchup: str = "none",
        params: dict[str, Any] | None = None,
        domain: str = "experimentation",
    ) -> dict[str, Any]:
        """Schedule a pushed workflow (``NS/MODULE/WORKFLOW[:TAG|@N]``); runs start as you."""
        body = {
            "workflow": workflow,
            "cron": cron,
            "tz": tz,
            "catchup": catchup,
            "params": params or {},
            "domain": domain,
        }
        return self._json("POST", "/schedules", json=body)

    def show_schedule(self, schedule_id: str) -> dict[str, Any]:
        return self._json("GET", f"/schedules/{quote(schedule_id, safe='')}")

    def pause_schedule(self, schedule_id: str) -> dict[str, Any]:
        return self._json("POST", f"/schedules/{quote(schedule_id, safe='')}/pause")

    def resume_schedule(self, schedule_id: str) -> dict[str, Any]:
        return self._json("POST", f"/schedules/{quote(schedule_id, safe='')}/resume")

    def remove_schedule(self, schedule_id: str) -> dict[str, Any]:
        return self._json("DELETE", f"/schedules/{quote(schedule_id, safe='')}")

    # --- webhooks ----------------------------------------------------------------------------
    def list_webhooks(self, *, include_removed: bool = False) -> list[dict[str, Any]]:
        """Webhooks with their deliveries by state (admins); secrets are never listed."""
        return self._list("/webhooks", {"include_removed": include_removed}, None)

    def add_webhook(
        self, url: str, events: list[str], *, secret: str | None = None
    ) -> dict[str, Any]:
        """Subscribe ``url`` to ``events`` (admins); the result has the secret, shown once."""
        body = {"url": url, "events": list(events), "secret": secret}
        return self._json("POST", "/webhooks", json=body)

    def remove_webhook(self, webhook_id: str) -> dict[str, Any]:
        return self._json("DELETE", f"/webhooks/{quote(webhook_id, safe='')}")

    def webhook_deliveries(
        self,
        webhook_id: str,
        *,
        state: str | None = None,
        limit: int | None = 50,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """A webhook's delivery log, newest first."""
        path = f"/webhooks/{quote(webhook_id, safe='')}/deliveries"
        return self._list(path, {"state": state}, limit, offset)

    def webhook_attempts(self, delivery_id: int | str) -> list[dict[str, Any]]:
        """Every attempt to post a delivery, first to last."""
        path = f"/webhooks/deliveries/{quote(str(delivery_id), safe='')}/attempts"
        return self._list(path, {}, None)

    def replay_delivery(self, delivery_id: int | str) -> dict[str, Any]:
        """Queue a copy of a delivery (same event id) behind the webhook's pending ones."""
        path = f"/webhooks/deliveries/{quote(str(delivery_id), safe='')}/replay"
        return self._json("POST", path)

    # --- data ---------------------------------------------------------------------------------
    def list_datasets(
        self, namespace: str | None = None, search: str | None = None
    ) -> list[dict[str, Any]]:
        return self._list("/datasets", {"namespace": namespace, "search": search}, None)

    def show_dataset(self, ref: str) -> dict[str, Any]:
        return self._json("GET", f"/datasets/{_ref_path(ref, 'dataset')}")

    def classify_dataset(self, ref: str, specs: list[str]) -> dict[str, Any]:
        path = f"/datasets/{_ref_path(ref, 'dataset')}/classify"
        return self._json("POST", path, json={"specs": specs})

    def dataset_lineage(self, ref: str, column: str | None = None) -> dict[str, Any]:
        path = f"/datasets/{_ref_path(ref, 'dataset')}/lineage"
        return self._json("GET", path, params={"column": column})

    def import_dataset(
        self,
        file: str | Path,
        name: str,
        *,
        domain: str = "production",
        classify: list[str] | None = None,
    ) -> dict[str, Any]:
        """Upload a .csv or .parquet file as the next version of ``name``; returns the version."""
        path = Path(file)
        if not path.is_file():
            from mlstudio.errors import NotFoundError

            raise NotFoundError(f"file {path} does not exist", hint="check the path")
        params = {"name": name, "domain": domain, "classify": classify or [], "filename": path.name}
        with path.open("rb") as handle:
            return self._json(
                "POST",
                "/datasets",
                params=params,
                content=handle,
                headers={"Content-Type": "application/octet-stream"},
            )

    def export_dataset(
        self, ref: str, file: str | Path, *, domain: str = "experimentation"
    ) -> dict[str, Any]:
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
        path = f"/datasets/{_ref_path(ref, 'dataset')}/export"
        response = self._call("GET", path, params={"domain": domain, "format": fmt})
        summary = json.loads(response.headers["X-Mlstudio-Export"])
        partial = target.with_name(f".{target.name}.part")
        partial.write_bytes(response.content)
        os.replace(partial, target)
        return {**summary, "file": str(target)}


def _ref_path(ref: str, kind: str) -> str:
    """``NS/NAME[@V|:TAG]`` as the two path segments the API routes take."""
    namespace, sep, rest = ref.strip().partition("/")
    if sep and namespace and rest and "/" not in rest:
        return f"{quote(namespace, safe='')}/{quote(rest, safe=':@')}"
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
