"""``python -m mlstudio.app.runner RUN_ID``: drive one run in a detached process (an edge, like the CLI)."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    from mlstudio.errors import MlstudioError
    from mlstudio.platform import Platform

    platform = Platform.open(bootstrap=False)
    try:
        run = platform.runs.execute(argv[0])
    except MlstudioError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    print(f"run {run.id} {run.state}")
    return 0 if run.state == "succeeded" else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
