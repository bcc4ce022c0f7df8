"""Module environments: a virtualenv per requirements lock, built with uv and cached.

An environment layers the module's own requirements over the platform's interpreter: its
site-packages come first, then a ``.pth`` file adds the host's site-packages (so ``mlstudio`` and
``pytest`` resolve without being reinstalled). Environments are keyed by the digest of the
resolved lock, so two modules with the same pins share one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlstudio.core.hashing import sha256_bytes
from mlstudio.errors import EnvironmentBuildError


@dataclass(frozen=True)
class ModuleEnvironment:
    digest: str  # digest of the lock
    python: str  # interpreter to run the module's code with
    lock: str
    cached: bool


def find_uv(explicit: str | None = None) -> str:
    if explicit:
        return explicit
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except Exception:
        found = shutil.which("uv")
        if found:
            return found
    raise EnvironmentBuildError(
        "uv is not available to build module environments", hint="pip install uv"
    )


_CROSS = "\N{MULTIPLICATION SIGN}"  # uv's marker of an error in its fancy output
_DETAIL_MARKERS = ("error", _CROSS, "no solution", "cause", "failed", "╰─▶")
_DETAIL_PREFIXES = ("error:", "caused by:", "cause:", _CROSS, "╰─▶", "├─▶", "│", "help:")


def uv_error_detail(output: str, limit: int = 300) -> str:
    """The informative part of uv's error output, on one line of at most ``limit`` characters.

    uv ends its errors with context such as the offending requirement and a caret line
    (``   ^^^``), so the last line is often useless. Keep the lines that say what went wrong
    ("error: …", "No solution found …", "cause: …"); failing that, the last line with words.
    """
    lines = [" ".join(ln.split()) for ln in output.splitlines()]
    lines = [ln for ln in lines if any(ch.isalpha() for ch in ln)]
    if not lines:
        return "no output"
    picked = [ln for ln in lines if any(m in ln.lower() for m in _DETAIL_MARKERS)] or lines[-1:]
    parts = []
    for line in picked:
        stripped = line
        changed = True
        while changed:
            changed = False
            for prefix in _DETAIL_PREFIXES:
                if stripped.lower().startswith(prefix):
                    stripped = stripped[len(prefix) :].strip()
                    changed = True
        stripped = stripped.rstrip(":").strip()
        if stripped and stripped not in parts:
            parts.append(stripped)
    detail = ": ".join(parts) or lines[-1]
    return detail if len(detail) <= limit else detail[: limit - 1].rstrip() + "…"


def _host_site_packages() -> list[str]:
    paths = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    from mlstudio.modules.introspect import package_root

    paths.add(package_root())
    return sorted(paths)


class EnvironmentManager:
    def __init__(self, cache_dir: Path, uv: str | None = None) -> None:
        self.root = cache_dir / "envs"
        self.locks = cache_dir / "locks"
        self._uv = uv

    @property
    def uv(self) -> str:
        return find_uv(self._uv)

    def _run(self, args: list[str], what: str) -> str:
        env = dict(os.environ)
        env.setdefault("UV_NO_PROGRESS", "1")
        proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=1800)
        if proc.returncode != 0:
            detail = uv_error_detail(proc.stderr or proc.stdout)
            raise EnvironmentBuildError(
                f"{what} failed: {detail}", hint="check the requirements in module.toml"
            )
        return proc.stdout

    def lock(self, requirements: tuple[str, ...]) -> str:
        """Resolve requirements to exact pins (cached by the requirement list)."""
        spec = "\n".join(sorted(requirements)) + "\n"
        key = sha256_bytes(f"{sys.version_info[:2]}\n{sys.platform}\n{spec}".encode())
        cached = self.locks / f"{key}.txt"
        if cached.is_file():
            return cached.read_text()
        self.locks.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            req = Path(tmp) / "requirements.in"
            req.write_text(spec)
            out = self._run(
                [
                    self.uv,
                    "pip",
                    "compile",
                    str(req),
                    "--python",
                    sys.executable,
                    "--quiet",
                    "--no-header",
                    "--no-annotate",
                ],
                "resolving requirements",
            )
        tmp_file = cached.with_suffix(".tmp")
        tmp_file.write_text(out)
        os.replace(tmp_file, cached)
        return out

    def ensure(self, requirements: tuple[str, ...]) -> ModuleEnvironment | None:
        """The environment for ``requirements`` (None when there are none: use the host)."""
        if not requirements:
            return None
        lock = self.lock(requirements)
        digest = sha256_bytes(f"{sys.version}\n{lock}".encode())
        target = self.root / digest[:32]
        python = target / "bin" / "python"
        if (target / ".ready").is_file():
            return ModuleEnvironment(digest, str(python), lock, cached=True)
        self.root.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=self.root))
        try:
            self._run(
                [self.uv, "venv", str(building), "--python", sys.executable, "--quiet"],
                "creating the environment",
            )
            lock_file = building / "requirements.lock"
            lock_file.write_text(lock)
            self._run(
                [
                    self.uv,
                    "pip",
                    "install",
                    "--python",
                    str(building / "bin" / "python"),
                    "-r",
                    str(lock_file),
                    "--quiet",
                ],
                "installing requirements",
            )
            site = next((building / "lib").glob("python*/site-packages"))
            (site / "zz_mlstudio_host.pth").write_text("\n".join(_host_site_packages()) + "\n")
            (building / ".ready").write_text(digest)
            try:
                os.replace(building, target)
            except OSError:  # another process finished the same environment first
                shutil.rmtree(building, ignore_errors=True)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        return ModuleEnvironment(digest, str(python), lock, cached=False)
