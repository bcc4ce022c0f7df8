"""The MLflow model-registry REST API over the one registry (``RegistryService``).

An MLflow version *is* an mlstudio version: what an MLflow client registers shows in
``mlstudio model show``, and approval rules apply to aliases set through MLflow too.
Endpoints (under ``/api/2.0/mlflow/`` and ``/ajax-api/2.0/mlflow/``): registered-models
create/get/search/update/delete/alias (set, get, delete), model-versions
create/get/update/search/get-download-uri.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from mlstudio.errors import InvalidInputError, MlstudioError

_FILTER = re.compile(r"^\s*(name|run_id)\s*(=|ILIKE|LIKE)\s*'([^']*)'\s*$", re.IGNORECASE)


def _ms(text: str | None) -> int:
    from datetime import datetime

    if not text:
        return 0
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def version_json(v: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": v["model"],
        "version": str(v["version"]),
        "creation_timestamp": _ms(v["created_at"]),
        "last_updated_timestamp": _ms(v["updated_at"]),
        "user_id": v["created_by"],
        "current_stage": "None",
        "description": v["description"],
        "source": v["source"],
        "run_id": v["run_id"] or "",
        "status": "READY",
        "tags": [{"key": k, "value": val} for k, val in v["tags"].items()],
        "aliases": v["aliases"],
    }


def model_json(m: dict[str, Any], latest: dict[str, Any] | None = None) -> dict[str, Any]:
    out = {
        "name": m["name"],
        "creation_timestamp": _ms(m["created_at"]),
        "last_updated_timestamp": _ms(m["updated_at"]),
        "description": m["description"],
        "user_id": m["owner"],
        "tags": [{"key": k, "value": v} for k, v in m["tags"].items()],
        "aliases": [{"alias": a, "version": str(v)} for a, v in sorted(m["aliases"].items())],
    }
    if latest is not None:
        out["latest_versions"] = [version_json(latest)]
    return out


async def _args(request: Request) -> dict[str, Any]:
    args: dict[str, Any] = dict(request.query_params)
    if request.method != "GET":
        raw = await request.body()
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                raise InvalidInputError("malformed JSON body") from None
            if isinstance(body, dict):
                args.update(body)
    return args


def _need(args: dict[str, Any], key: str) -> Any:
    value = args.get(key)
    if value in (None, ""):
        raise InvalidInputError(f"missing value for required parameter '{key}'")
    return value


def _version(args: dict[str, Any]) -> int:
    text = str(_need(args, "version"))
    if not text.isdigit():
        raise InvalidInputError(f"invalid version {text!r}: a version is a number")
    return int(text)


def _tags(value: Any) -> dict[str, str]:
    return {str(t["key"]): str(t.get("value", "")) for t in value or [] if isinstance(t, dict)}


def _filter(text: str | None) -> tuple[str | None, str | None, str | None]:
    """(name, run_id, name pattern) of an MLflow registry filter (``name='x'``, ``run_id='r'``,
    ``name LIKE '%x%'``)."""
    if not text:
        return None, None, None
    found = _FILTER.match(text)
    if not found:
        raise InvalidInputError(
            f"unsupported filter {text!r}: use name='NAME', run_id='ID' or name LIKE '%TEXT%'"
        )
    key, op, value = found.group(1).lower(), found.group(2).upper(), found.group(3)
    if op == "=":
        return (value, None, None) if key == "name" else (None, value, None)
    return None, None, value.strip("%")


def _handlers(registry: Any) -> dict[tuple[str, str], Any]:
    def create_model(actor: str, a: dict[str, Any]) -> dict[str, Any]:
        m = registry.create_model(
            actor,
            _need(a, "name"),
            description=a.get("description") or "",
            tags=_tags(a.get("tags")),
        )
        return {"registered_model": model_json(m)}

    def latest_of(actor: str, m: dict[str, Any]) -> dict[str, Any] | None:
        if not m["latest_version"]:
            return None
        return registry.get_version(actor, f"{m['name']}/{m['latest_version']}")

    def get_model(actor: str, a: dict[str, Any]) -> dict[str, Any]:
        m = registry.get_model(actor, _need(a, "name"))
        return {"registered_model": model_json(m, latest_of(actor, m))}

    def search_models(actor: str, a: dict[str, Any]) -> dict[str, Any]:
        name, _, pattern = _filter(a.get("filter"))
        limit = int(a.get("max_results") or 100)
        offset = int(a.get("page_token") or 0)
        rows = registry.list_models(actor, pattern, limit=limit, offset=offset)
        if name is not None:
            rows = [m for m in rows if m["name"] == name]
        out: dict[str, Any] = {"registered_models": [model_json(m) for m in rows]}
        if len(rows) == limit:
            out["next_page_token"] = str(offset + limit)
        return out

    def update_model(actor: str, a: dict[str, Any]) -> dict[str, Any]:
        m = registry.update_model(actor, _need(a, "name"), description=a.get("description"))
        return {"registered_model": model_json(m)}

    def delete_model(actor: str, a: dict[str, Any]) -> dict[str, Any]:
        registry.delete_model(actor, _need(a, "name"))
        return {}

    def create_version(actor: str, a: dict[str, Any]) -> dict[str, Any]:
        v = registry.create_version(
            actor,
            _need(a, "name"),
            _need(a, "source"),
            run_id=a.get("run_id") or None,
            description=a.get("description") or "",
            tags=_tags(a.get("tags")),
        )
        return {"model_version": version_json(v)}

    def get_version(actor: str, a: dict[str, Any]) -> dict[str, Any]:
        v = registry.get_version(actor, f"{_need(a, 'name')}/{_version(a)}")
        return {"model_version": version_json(v)}

    def update_version(actor: str, a: dict[str, Any]) -> dict[str, Any]:
        v = registry.update_version(
            actor, _need(a, "name"), _version(a), description=a.get("description")
        )
        return {"model_version": version_json(v)}

    def search_versions(actor: str, a: dict[str, Any]) -> dict[str, Any]:
        name, run_id, _ = _filter(a.get("filter"))
        limit = int(a.get("max_results") or 1000)
        offset = int(a.get("page_token") or 0)
        rows = registry.search_versions(actor, name, run_id, limit=limit, offset=offset)
        out: dict[str, Any] = {"model_versions": [version_json(v) for v in rows]}
        if len(rows) == limit:
            out["next_page_token"] = str(offset + limit)
        return out

    def download_uri(actor: str, a: dict[str, Any]) -> dict[str, Any]:
        v = registry.get_version(actor, f"{_need(a, 'name')}/{_version(a)}")
        return {"artifact_uri": v["source"]}

    def set_alias(actor: str, a: dict[str, Any]) -> dict[str, Any]:
        registry.set_alias(actor, _need(a, "name"), _need(a, "alias"), _version(a))
        return {}

    def get_alias(actor: str, a: dict[str, Any]) -> dict[str, Any]:
        v = registry.get_version(actor, f"{_need(a, 'name')}@{_need(a, 'alias')}")
        return {"model_version": version_json(v)}

    def delete_alias(actor: str, a: dict[str, Any]) -> dict[str, Any]:
        registry.delete_alias(actor, _need(a, "name"), _need(a, "alias"))
        return {}

    return {
        ("POST", "registered-models/create"): create_model,
        ("GET", "registered-models/get"): get_model,
        ("GET", "registered-models/search"): search_models,
        ("POST", "registered-models/search"): search_models,
        ("PATCH", "registered-models/update"): update_model,
        ("DELETE", "registered-models/delete"): delete_model,
        ("POST", "model-versions/create"): create_version,
        ("GET", "model-versions/get"): get_version,
        ("PATCH", "model-versions/update"): update_version,
        ("GET", "model-versions/search"): search_versions,
        ("POST", "model-versions/search"): search_versions,
        ("GET", "model-versions/get-download-uri"): download_uri,
        ("POST", "registered-models/alias"): set_alias,
        ("GET", "registered-models/alias"): get_alias,
        ("DELETE", "registered-models/alias"): delete_alias,
    }


def router() -> APIRouter:
    from mlstudio.api.mlflow.errors import from_mlstudio

    api = APIRouter(include_in_schema=False)
    endpoints = sorted({path for _, path in _handlers(None)})

    async def handle(request: Request) -> JSONResponse:
        platform = request.app.state.platform
        actor = request.state.actor
        path = request.url.path.split("/2.0/mlflow/", 1)[1]
        handler = _handlers(platform.registry).get((request.method, path))
        if handler is None:
            from mlstudio.api.mlflow.errors import mlflow_error

            return mlflow_error(
                "ENDPOINT_NOT_FOUND", f"no MLflow endpoint {request.method} {path}", 404
            )
        try:
            args = await _args(request)
            result = await run_in_threadpool(handler, actor, args)
        except MlstudioError as exc:
            return from_mlstudio(exc)
        return JSONResponse(result)

    for prefix in ("/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/"):
        for path in endpoints:
            api.add_api_route(
                prefix + path, handle, methods=["GET", "POST", "PATCH", "DELETE"], name=path
            )
    return api
