"""The module registry: the catalog, push, tags, promotion and rollback."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlstudio.app.local.base import Area, check_page

if TYPE_CHECKING:
    from mlstudio.app.interface import Progress
    from mlstudio.app.views import (
        DeletionView,
        ModuleShowView,
        ModuleView,
        PushView,
        TagMoveView,
    )

NO_LIMIT = 2**31 - 1


class LocalModules(Area):
    def list(
        self,
        search: str | None = None,
        namespace: str | None = None,
        *,
        limit: int | None = 100,
        offset: int = 0,
    ) -> list[ModuleView]:
        check_page(limit, offset)
        rows = self.platform.modules.list_modules(
            search, namespace, limit=NO_LIMIT if limit is None else limit, offset=offset
        )
        return rows  # type: ignore[return-value]

    def show(self, ref: str) -> ModuleShowView:
        return self.platform.modules.show(ref)  # type: ignore[return-value]

    def push(
        self,
        directory: str | Path,
        *,
        message: str = "",
        run_tests: bool = True,
        progress: Progress | None = None,
        git: tuple[str | None, bool | None] | None = None,
    ) -> PushView:
        """Validate, build, test and publish ``directory`` as the next version.

        ``git`` is (commit, dirty) of the folder the module was built from, when the caller
        knows it better than the folder does (an upload to a server); else it is read here."""
        result = self.platform.modules.push(
            self.actor,
            Path(directory),
            message=message,
            run_tests=run_tests,
            progress=progress or (lambda _step: None),
            git=git,
        )
        return result.to_dict()  # type: ignore[return-value]

    def promote(
        self, module: str, version: int, *, override_reason: str | None = None
    ) -> TagMoveView:
        return self._move(module, "latest", version, "promote", override_reason)

    def tag(
        self, module: str, tag: str, version: int, *, override_reason: str | None = None
    ) -> TagMoveView:
        return self._move(module, tag, version, "tag", override_reason)

    def _move(
        self, module: str, tag: str, version: int, action: str, override_reason: str | None
    ) -> TagMoveView:
        from mlstudio.app.local.module_gate import ensure_evaluation
        from mlstudio.errors import MlstudioError

        try:  # a gated tag: compare the two versions' runs now if nobody has yet
            ensure_evaluation(self.platform, self.actor, module, tag, version)
        except MlstudioError:
            if override_reason is None:
                raise
        moved = self.platform.modules.move_tag(
            self.actor, module, tag, version, action, override_reason=override_reason
        )
        if tag == "latest":
            from mlstudio.app.local.module_monitors import sync_declared_monitors

            monitors = sync_declared_monitors(self.platform, self.actor, module, version)
            if monitors:
                moved["monitors"] = monitors
        return moved  # type: ignore[no-any-return]

    def rollback(self, module: str, tag: str = "latest") -> TagMoveView:
        return self.platform.modules.rollback(self.actor, module, tag)  # type: ignore[return-value]

    def delete(self, ref: str) -> DeletionView:
        return self.platform.modules.delete_version(self.actor, ref)  # type: ignore[return-value]
