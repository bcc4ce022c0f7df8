"""How the registry shows models, versions, alias moves and decisions (JSON-ready dicts)."""

from __future__ import annotations

from typing import Any

from mlstudio.core.clock import iso
from mlstudio.governance.classification import UNCLASSIFIED, Classification

APPROVED, REJECTED, PENDING = "approved", "rejected", "pending"


def model_view(model: dict[str, Any], aliases: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": model["name"],
        "namespace": model["namespace"],
        "owner": model["owner"],
        "description": model["description"],
        "latest_version": model["latest_version"],
        "aliases": {a["alias"]: a["version"] for a in aliases},
        "protected_aliases": list(model["protected_aliases"]),
        "tags": dict(model["tags"] or {}),
        "created_at": iso(model["created_at"]),
        "updated_at": iso(model["updated_at"]),
    }


def approval_of(version: dict[str, Any], decisions: list[dict[str, Any]]) -> dict[str, Any]:
    """The version's approval state: its latest decision given for its own digest."""
    for decision in decisions:  # newest first
        if decision["version"] == version["version"] and decision["digest"] == version["digest"]:
            return {
                "state": decision["decision"],
                "by": decision["actor"],
                "at": iso(decision["at"]),
                "reason": decision["reason"],
                "digest": decision["digest"],
            }
    return {"state": PENDING, "by": None, "at": None, "reason": None, "digest": None}


def classification_spec(version: dict[str, Any]) -> str:
    data = version.get("classification")
    return Classification.from_dict(data).spec() if data is not None else UNCLASSIFIED.spec()


def version_view(
    name: str,
    version: dict[str, Any],
    aliases: list[dict[str, Any]],
    decisions: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "model": name,
        "version": version["version"],
        "ref": f"{name}/{version['version']}",
        "digest": version["digest"],
        "source": version["source"],
        "status": "READY",
        "run_id": version["run_id"],
        "node": version["node_id"],
        "task": version["task"],
        "module": version["module"],
        "classification": classification_spec(version),
        "approval": approval_of(version, decisions),
        "aliases": sorted(a["alias"] for a in aliases if a["version"] == version["version"]),
        "description": version["description"],
        "tags": dict(version["tags"] or {}),
        "lineage": version["lineage"],
        "created_by": version["created_by"],
        "created_at": iso(version["created_at"]),
        "updated_at": iso(version["updated_at"]),
    }


def event_view(name: str, event: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": name,
        "alias": event["alias"],
        "from_version": event["from_version"],
        "to_version": event["to_version"],
        "actor": event["actor"],
        "at": iso(event["at"]),
    }


def _decision_view(name: str, d: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": name,
        "version": d["version"],
        "decision": d["decision"],
        "digest": d["digest"],
        "reason": d["reason"],
        "actor": d["actor"],
        "at": iso(d["at"]),
    }
