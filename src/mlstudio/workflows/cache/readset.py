"""Read sets: what a task read from the filesystem, stored with its result and checked on a hit.

The task sandbox (:mod:`mlstudio.workflows.sandbox`) records each file a task opens for
reading, and each directory it lists, outside its module code, the interpreter and its
scratch directory. When the task ends, :func:`finish` stats every file once and hashes it
(sha256) — or, above :data:`HASH_LIMIT`, keeps only its size and times (the documented rule
for huge files: a change that keeps size, mtime and ctime is not seen). The read set goes
with the result to the task run row and the cache entry.

On a cache hit :func:`validate` stats every file first and hashes only one whose size, mtime,
ctime or inode changed (or whose mtime is so recent that a same-tick write could hide): any
content change, a deleted file, a file that now exists where the task found none, or a
changed directory listing makes the entry stale and names the path. A result whose inputs
changed *while the task ran* is not cached at all.

Declared file inputs (a ``Path`` or ``mlstudio.File`` parameter) are hashed up front and are
part of the key (:func:`extend_components`), so each content version keeps its own entry.

**Model reads** (``mlstudio.load_model`` in a task) are governed reads: the read set keeps each
distinct uri as written with the name, version and digest it resolved to (``models``). On a
hit the engine re-resolves every uri and re-runs the registry's check for the *new* run's
domain and user (:func:`mlstudio.workflows.engine_cache.hit_problems`): a moved alias
makes the entry stale, a domain that may not read the version is not served from the cache
(the task runs, and the registry refuses it), and an allowed hit is recorded as a read.
"""

from __future__ import annotations

import hashlib
import os
import time
from datetime import UTC, datetime
from typing import Any

HASH_LIMIT = 256 * 2**20  # files above this are compared by size + mtime + ctime only
RACY_NS = 100_000_000  # a file written this close to its hashing is re-hashed when checked
# 2: every result has a read set (``{"v": 2}`` at least) and it holds the task's model reads.
# An entry without one (``None``, or v1) was cached before model reads were recorded, so it
# may hide a read of a registered model that the new run's domain may not make: it is a miss
# (recomputed once, and the reason says so) rather than a governance bypass.
READ_SET_VERSION = 2
OLD_FORMAT = (
    "it was cached before model reads were recorded with results (read set v1): "
    "recomputed once to check them"
)
_MAX_SHOWN = 3


def finish(scope: Any, models: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The read set of a finished task (``scope``: its :class:`~mlstudio.workflows.sandbox.
    TaskScope`, None without a sandbox; ``models``: its registry reads by uri, from
    ``mlstudio.load_model``); ``{"v": 2}`` when it read nothing."""
    out: dict[str, Any] = {"v": READ_SET_VERSION}
    if models:
        out["models"] = [dict(models[uri]) for uri in sorted(models)]
    if scope is None:
        return out
    files: list[dict[str, Any]] = []
    dirs: list[dict[str, Any]] = []
    changed: list[str] = []
    for path, first in sorted(scope.reads.items()):
        now = _stat(path)
        if (first is not None and first[0] == -1) or (now is not None and now[0] == -1):
            scope.listings.add(path)  # a directory opened (for a dir_fd): its listing counts
            continue
        if now != first:
            changed.append(path)
        files.append(_file_entry(path, now))
    for path in sorted(scope.listings):
        dirs.append(_dir_entry(path))
    if not (files or dirs or scope.effects):
        return out
    out.update(files=files, dirs=dirs)
    if scope.effects:
        out["effects"] = list(scope.effects)
        out["effects_total"] = scope.effect_count
    if changed:
        out["changed_during_task"] = changed
    return out


def cacheable(read_set: dict[str, Any] | None) -> bool:
    """A result whose inputs changed while it was computed is not stored in the cache, nor one
    whose task read data through the platform (``uncacheable``: e.g. a training set, whose
    sources' newest versions its cache key cannot name) or wrote through it."""
    found = read_set or {}
    return not (found.get("changed_during_task") or found.get("uncacheable"))


def validate(read_set: dict[str, Any] | None) -> list[str]:
    """Why a cached result with this read set is stale now ([] when it is still valid)."""
    if not read_set:
        return []
    problems: list[str] = []
    for entry in read_set.get("files", []):
        problem = _check_file(entry)
        if problem:
            problems.append(problem)
            if len(problems) >= _MAX_SHOWN:
                break
    for entry in read_set.get("dirs", []):
        if len(problems) >= _MAX_SHOWN:
            break
        now = _dir_entry(entry["path"])
        if now.get("missing") and not entry.get("missing"):
            problems.append(f"directory {entry['path']} was removed")
        elif now.get("digest") != entry.get("digest"):
            problems.append(
                f"directory {entry['path']} changed ({entry.get('entries', 0)} → "
                f"{now.get('entries', 0)} entries)"
            )
    return problems


def check_entry(entry: Any, options: dict[str, Any]) -> list[str]:
    """Why the cache entry ``entry`` (a ``cache_entries`` row) may not be used for a task with
    ``options`` (its ``CachePolicy``: an expiry, or reads it vouches for itself). Its model
    reads are checked by the engine (they need the registry); a policy never waives them."""
    read_set = getattr(entry, "read_set", None)
    if not current_format(read_set):
        return [OLD_FORMAT]
    policy = options.get("cache_policy") or {}
    expire_s = policy.get("expire_s")
    if expire_s:
        created = entry.created_at
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        age = (datetime.now(UTC) - created).total_seconds()
        if age > expire_s:
            return [
                f"the cached result expired (computed {age:.0f} s ago; CachePolicy expire={expire_s:g} s)"
            ]
    if policy.get("reads") == "ignore":
        return []
    return validate(read_set)


def current_format(read_set: dict[str, Any] | None) -> bool:
    """Whether ``read_set`` is of a format that records model reads (see READ_SET_VERSION)."""
    version = (read_set or {}).get("v")
    return isinstance(version, int) and version >= READ_SET_VERSION


def feature_reads(read_set: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The training sets a cached task built (``app.in_run.remember_features``)."""
    return [dict(f) for f in (read_set or {}).get("features") or []]


def model_reads(read_set: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The registered model versions a task read (``uri``, ``name``, ``version``, ``digest``)."""
    return [dict(m) for m in (read_set or {}).get("models") or []]


def stale_note(entry: Any, problems: list[str]) -> dict[str, Any]:
    """What a task run keeps of the stale entry it did not use (``runs show --explain``)."""
    return {"run_id": entry.run_id, "key": entry.key, "reasons": problems}


def with_note(read_set: dict[str, Any] | None, note: dict[str, Any] | None) -> Any:
    if not note:
        return read_set
    return {**(read_set or {}), "stale_cache": note}


def explain(read_set: dict[str, Any] | None) -> tuple[str | None, list[str]]:
    """(run compared with, reasons) for a task that recomputed because its cached result's
    read set or expiry no longer held; (None, []) otherwise."""
    note = (read_set or {}).get("stale_cache")
    if not note:
        return None, []
    return note.get("run_id"), [f"cached result not reused: {r}" for r in note["reasons"]]


def summary(read_set: dict[str, Any] | None) -> dict[str, Any] | None:
    """A short view for ``runs show``: counts, the models read (``uri → name/version``), the
    training sets built (``refs → views on datasets``), and what the sandbox could not follow."""
    if not read_set or not (
        read_set.get("files")
        or read_set.get("dirs")
        or read_set.get("effects")
        or read_set.get("models")
        or read_set.get("features")
    ):
        return None
    out: dict[str, Any] = {
        "files": len(read_set.get("files", [])),
        "dirs": len(read_set.get("dirs", [])),
    }
    if read_set.get("models"):
        out["models"] = [f"{m['uri']} → {m['name']}/{m['version']}" for m in read_set["models"]]
    if read_set.get("features"):
        out["features"] = [
            f"{', '.join(f['refs'])} → {', '.join(v['view'] for v in f['views'])} "
            f"on {', '.join(f['sources'])}"
            for f in read_set["features"]
        ]
    if read_set.get("effects"):
        out["untracked"] = [f"{e['kind']}: {e['what']}" for e in read_set["effects"][:_MAX_SHOWN]]
        out["untracked_total"] = read_set.get("effects_total", len(read_set["effects"]))
    if read_set.get("changed_during_task"):
        out["changed_during_task"] = read_set["changed_during_task"][:_MAX_SHOWN]
    return out


# --- declared file inputs and cache policies (part of the key) --------------------------------
_DIGESTS: dict[tuple[str, Any], str] = {}  # (path, stat) -> digest, per process


def file_digest(path: str) -> str:
    """Content digest of a declared file input: sha256 (size + times above HASH_LIMIT;
    ``missing`` when it does not exist)."""
    st = _stat(path)
    if st is None:
        return "missing"
    found = _DIGESTS.get((path, st))
    if found is None:
        if st[0] > HASH_LIMIT:
            found = f"stat:{st[0]}:{st[1]}"
        else:
            found = _sha256(path) or "unreadable"
        if len(_DIGESTS) > 10_000:
            _DIGESTS.clear()
        _DIGESTS[(path, st)] = found
    return found


def extend_components(
    components: dict[str, Any], inputs: dict[str, Any], options: dict[str, Any]
) -> dict[str, Any]:
    """Add declared file contents and a ``CachePolicy`` key value to a task's key parts."""
    files = {
        arg: {"path": spec["c"], "digest": file_digest(spec["c"])}
        for arg, spec in sorted(inputs.items())
        if spec.get("f") and isinstance(spec.get("c"), str)
    }
    if files:
        components["files"] = files
    policy = options.get("cache_policy") or {}
    if "key_value" in policy:
        components["policy_key"] = policy["key_value"]
    return components


def explain_components(previous: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Reasons from the parts :func:`extend_components` adds (for ``cache.keys.explain``)."""
    reasons: list[str] = []
    old_f, new_f = previous.get("files") or {}, current.get("files") or {}
    for arg in sorted(set(old_f) | set(new_f)):
        before, after = old_f.get(arg) or {}, new_f.get(arg) or {}
        if before.get("path") != after.get("path"):
            continue  # the parameter itself changed: said as a parameter change
        if before.get("digest") != after.get("digest"):
            reasons.append(
                f"input file {arg} ({after.get('path')}) changed (content "
                f"{_short(before.get('digest'))} → {_short(after.get('digest'))})"
            )
    if previous.get("policy_key") != current.get("policy_key"):
        reasons.append(
            f"CachePolicy key changed ({previous.get('policy_key')!r} → {current.get('policy_key')!r})"
        )
    return reasons


# --- files ------------------------------------------------------------------------------------
def _stat(path: str) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    import stat

    if stat.S_ISDIR(st.st_mode):
        return (-1, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _sha256(path: str) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def _file_entry(path: str, st: tuple[int, int, int, int] | None) -> dict[str, Any]:
    if st is None:
        return {"path": path, "missing": True}
    entry: dict[str, Any] = {
        "path": path,
        "size": st[0],
        "mtime_ns": st[1],
        "ctime_ns": st[2],
        "ino": st[3],
    }
    if st[0] > HASH_LIMIT:
        entry["rule"] = "stat"  # too big to hash at the end of every task
    else:
        entry["sha256"] = _sha256(path)
    entry["checked_ns"] = time.time_ns()
    return entry


def _check_file(entry: dict[str, Any]) -> str | None:
    path = entry["path"]
    now = _stat(path)
    if entry.get("missing"):
        return f"file {path} now exists (the task found none)" if now is not None else None
    if now is None:
        return f"file {path} was deleted"
    if now[0] == -1:
        return f"file {path} is now a directory"
    before = (entry["size"], entry["mtime_ns"], entry["ctime_ns"], entry["ino"])
    racy = now[1] >= entry.get("checked_ns", 0) - RACY_NS
    if now == before and not racy:
        return None
    if now[0] != entry["size"]:
        return f"file {path} changed (size {entry['size']} → {now[0]} bytes)"
    if entry.get("rule") == "stat" or now[0] > HASH_LIMIT:
        return (
            f"file {path} changed (modified; files over {HASH_LIMIT // 2**20} MiB are "
            "compared by size and times)"
        )
    digest = _sha256(path)
    if digest != entry.get("sha256"):
        return (
            f"file {path} changed (content sha256 {_short(entry.get('sha256'))} → {_short(digest)})"
        )
    return None  # touched, same content


def _dir_entry(path: str) -> dict[str, Any]:
    try:
        names = sorted(os.listdir(path))
    except OSError:
        return {"path": path, "missing": True}
    digest = hashlib.sha256("\0".join(names).encode("utf-8", "surrogateescape")).hexdigest()
    return {"path": path, "entries": len(names), "digest": digest}


def _short(value: Any) -> str:
    text = str(value)
    return text[:12] if len(text) > 12 else text
