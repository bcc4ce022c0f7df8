"""Cache keys: module version digest + task + canonical parameters + input artifact digests +
resolved environment + ``cache_version``. ``explain`` names the parts that changed."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from mlstudio.core.hashing import digest_of, sha256_bytes
from mlstudio.workflows.cache import readset

KEY_VERSION = 1


def host_environment(cache_dir: Path) -> str:
    """Fingerprint of the interpreter and its installed distributions (cached per site mtime)."""
    import sysconfig

    site = Path(sysconfig.get_paths()["purelib"])
    try:
        stamp = f"{sys.prefix}|{site.stat().st_mtime_ns}|{sys.version}"
    except OSError:
        stamp = f"{sys.prefix}|{sys.version}"
    marker = cache_dir / f"hostenv-{sha256_bytes(stamp.encode())[:16]}.txt"
    try:
        return marker.read_text().strip()
    except OSError:
        pass
    from importlib import metadata

    dists = sorted(
        f"{(d.metadata['Name'] or '').lower()}=={d.version}"
        for d in metadata.distributions()
        if d.metadata["Name"] and (d.metadata["Name"] or "").lower() != "mlstudio"
    )
    from mlstudio import __version__

    fingerprint = sha256_bytes(
        json.dumps([sys.version, sys.platform, f"mlstudio=={__version__}", dists]).encode()
    )
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        tmp = marker.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(fingerprint)
        os.replace(tmp, marker)
    except OSError:
        pass
    return fingerprint


def input_digest(spec: dict[str, Any]) -> str:
    """Digest of a resolved input (value refs replaced by their digests)."""
    return digest_of(_strip(spec))


def _strip(spec: dict[str, Any]) -> Any:
    if "v" in spec:
        return {"v": spec["v"]["digest"], "p": spec.get("p", [])}
    if "c" in spec:
        return {"c": spec["c"]}
    if "l" in spec:
        return {"l": [_strip(s) for s in spec["l"]]}
    if "d" in spec:
        return {"d": {k: _strip(s) for k, s in spec["d"].items()}}
    return spec


def components(
    code_digest: str, task: str, inputs: dict[str, Any], env: str, cache_version: str
) -> dict[str, Any]:
    params = {k: v["c"] for k, v in inputs.items() if "c" in v}
    data = {k: input_digest(v) for k, v in inputs.items() if "c" not in v}
    return {
        "v": KEY_VERSION,
        "code": code_digest,
        "task": task,
        "params": params,
        "inputs": data,
        "env": env,
        "cache_version": cache_version,
    }


def cache_key(parts: dict[str, Any]) -> str:
    return digest_of(parts)


def explain(previous: dict[str, Any] | None, current: dict[str, Any]) -> list[str]:
    """Human reasons why ``current`` misses where ``previous`` was computed."""
    if previous is None:
        return ["first run of this task (nothing to compare with)"]
    reasons: list[str] = []
    if previous.get("code") != current.get("code"):
        reasons.append(
            f"code changed (module digest {str(previous.get('code'))[:12]} → {str(current.get('code'))[:12]})"
        )
    if previous.get("task") != current.get("task"):
        reasons.append(f"task changed ({previous.get('task')} → {current.get('task')})")
    if previous.get("env") != current.get("env"):
        reasons.append("environment changed (requirements lock or installed packages)")
    if previous.get("cache_version") != current.get("cache_version"):
        reasons.append(
            f"cache_version changed ({previous.get('cache_version')!r} → {current.get('cache_version')!r})"
        )
    old_p, new_p = previous.get("params", {}), current.get("params", {})
    for name in sorted(set(old_p) | set(new_p)):
        before, after = old_p.get(name, _ABSENT), new_p.get(name, _ABSENT)
        if before != after:
            reasons.append(f"parameter {name} changed ({_short(before)} → {_short(after)})")
    old_i, new_i = previous.get("inputs", {}), current.get("inputs", {})
    for name in sorted(set(old_i) | set(new_i)):
        if old_i.get(name) != new_i.get(name):
            reasons.append(
                f"input {name} changed (upstream output {str(old_i.get(name))[:12]} → {str(new_i.get(name))[:12]})"
            )
    reasons.extend(readset.explain_components(previous, current))  # declared files, policy key
    return reasons or [
        "same key: the cached result was unusable (missing blob, or caching was off)"
    ]


_ABSENT = object()  # a parameter the task did not have in one of the two runs


def _short(value: Any) -> str:
    if value is _ABSENT:
        return "∅"
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "…"
