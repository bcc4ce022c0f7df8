"""The application side of module-declared monitors: when a version becomes ``latest``, each
monitor its ``[monitors.NAME]`` tables declare that does not exist yet is created, as the
promoter, through the monitoring service (governed and audited like ``monitor add``).

A monitor that exists is never changed or removed by a promotion: its windows, alerts and
feedback belong to its history. The result says, per declared monitor, ``created``,
``exists`` (and whether its definition now differs from the declaration), or ``refused`` with
the reason (the promotion itself stands: a monitor is not part of the module's code).
"""

from __future__ import annotations

from typing import Any

from mlstudio.errors import MlstudioError


def sync_declared_monitors(
    platform: Any, actor: str, module: str, version: int
) -> list[dict[str, Any]]:
    from mlstudio.core.ids import ModuleName
    from mlstudio.integrations.monitoring.service import MonitorService

    name = ModuleName.parse(module)
    with platform.store.read() as uow:
        record = uow.modules.get_module(name.full)
        target = uow.modules.get_version(record, version) if record is not None else None
        declared = ((target.manifest or {}).get("monitors") or {}) if target is not None else {}
        existing = {full: uow.monitoring.get(full) for full in declared}
    out: list[dict[str, Any]] = []
    for full, spec in declared.items():
        row = existing[full]
        if row is not None:
            mine = row["spec"].get("declared_by") == name.full
            out.append({"monitor": full, "action": "exists",
                        "declared_by_this_module": mine})  # fmt: skip
            continue
        try:
            service = MonitorService(platform.store, platform.cas, platform.runs)
            service.add(actor, full, declared_by=name.full, **spec)
        except MlstudioError as exc:
            out.append({"monitor": full, "action": "refused", "reason": exc.message})
        else:
            out.append({"monitor": full, "action": "created"})
    return out
