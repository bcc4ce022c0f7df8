"""Throwaway Python distributions for tests, without a package index.

- ``install_distribution(site, name, version, ...)`` writes a package and its ``.dist-info``
  into the folder ``site`` as pip would (removing an installed version of the same name first:
  an upgrade); put ``site`` on ``sys.path`` to import it.
- ``build_wheel(folder, name, version, ...)`` writes the same as a ``.whl`` file that uv or pip
  installs from a local path.

Only the standard library is used.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import zipfile
from collections.abc import Iterable
from pathlib import Path


def _metadata(name: str, version: str, requires: Iterable[str]) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    return "\n".join(lines) + "\n"


def _files(name: str, version: str, requires: Iterable[str], source: str | None) -> dict[str, str]:
    package = name.replace("-", "_")
    info = f"{package}-{version}.dist-info"
    body = source if source is not None else f"VERSION = {version!r}\n"
    return {
        f"{package}/__init__.py": body,
        f"{info}/METADATA": _metadata(name, version, requires),
        f"{info}/top_level.txt": package + "\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: mlstudio-tests\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }


def _record(files: dict[str, str], info: str) -> str:
    rows = []
    for path, text in files.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{path},sha256={digest},{len(data)}")
    rows.append(f"{info}/RECORD,,")
    return "\n".join(rows) + "\n"


def install_distribution(
    site: Path,
    name: str,
    version: str,
    *,
    requires: Iterable[str] = (),
    source: str | None = None,
) -> Path:
    """Install ``name==version`` into ``site`` (its module defines ``VERSION`` unless
    ``source`` is given); returns its ``.dist-info`` folder."""
    package = name.replace("-", "_")
    site.mkdir(parents=True, exist_ok=True)
    for old in site.glob(f"{package}-*.dist-info"):
        shutil.rmtree(old)
    shutil.rmtree(site / package, ignore_errors=True)
    files = _files(name, version, list(requires), source)
    info = f"{package}-{version}.dist-info"
    files[f"{info}/RECORD"] = _record(files, info)
    files[f"{info}/INSTALLER"] = "mlstudio-tests\n"
    for path, text in files.items():
        target = site / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return site / info


def build_wheel(
    folder: Path,
    name: str,
    version: str,
    *,
    requires: Iterable[str] = (),
    source: str | None = None,
) -> Path:
    """``folder/<name>-<version>-py3-none-any.whl``."""
    package = name.replace("-", "_")
    files = _files(name, version, list(requires), source)
    info = f"{package}-{version}.dist-info"
    files[f"{info}/RECORD"] = _record(files, info)
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{package}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel
