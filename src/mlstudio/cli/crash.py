"""Internal errors (bugs in mlstudio): one line for the user, the traceback in a file.

With ``MLSTUDIO_DEBUG=1`` the traceback is printed instead. The file is
``$MLSTUDIO_HOME/logs/internal-errors/<time>-<pid>.txt`` (the system's temp folder if the home
cannot be written), so a bug report can attach it.
"""

from __future__ import annotations

import os
import tempfile
import time
import traceback
from pathlib import Path


def debugging() -> bool:
    return os.environ.get("MLSTUDIO_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


def save_traceback(exc: BaseException, argv: list[str]) -> Path | None:
    """Write ``exc``'s traceback (and the command that raised it) to a new file; its path, or
    None if no folder could take it."""
    from mlstudio.settings import Settings

    text = f"mlstudio {' '.join(argv)}\n\n" + "".join(
        traceback.format_exception(type(exc), exc, exc.__traceback__)
    )
    name = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.txt"
    try:
        home = Settings().home
    except Exception:  # a broken setting must not hide the original error
        home = Path.home() / ".mlstudio"
    places = (
        home / "logs" / "internal-errors" / name,
        Path(tempfile.gettempdir()) / f"mlstudio-{name}",
    )
    for path in places:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return path
        except OSError:
            continue
    return None
