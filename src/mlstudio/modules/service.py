"""The module registry: namespaces, pushes, versions, tags, promotion, rollback, the catalog."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import EllipsisType
from typing import TYPE_CHECKING, Any

from mlstudio.core.clock import utcnow
from mlstudio.core.hashing import sha256_bytes
from mlstudio.core.ids import ModuleName, ModuleRef, validate_namespace, validate_tag, validate_user
from mlstudio.errors import (
    ConflictError,
    InvalidInputError,
    ModuleTestsFailedError,
    NotFoundError,
    StateError,
)
from mlstudio.governance.audit import guarded, refusals_audited
from mlstudio.governance.rbac import Authorizer, validate_role
from mlstudio.modules.records import ModuleRecord, ModuleVersionRecord, NamespaceRecord
from mlstudio.store.artifacts.cas import ContentStore
from mlstudio.store.metadata.store import MetadataStore, UnitOfWork

if TYPE_CHECKING:
    from mlstudio.modules.archive import ModuleBuild
    from mlstudio.modules.envs import EnvironmentManager
    from mlstudio.modules.testrunner import TestReport

LATEST = "latest"
MAX_COUNT = 2**31 - 1  # versions and quotas: what every backend's INTEGER column holds
LATEST_ALPHA = "latestAlpha"
Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class PushResult:
    version: ModuleVersionRecord
    unchanged: bool
    tests: dict[str, Any]
    env_cached: bool | None
    tests_rerun: bool = False  # unchanged content whose tests had not passed: run them now
    repaired: bool = False  # the stored archive was missing or corrupt and was rewritten
    changes: dict[str, Any] | None = None  # against the previous version (modules.changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "module": self.version.module,
            "version": self.version.version,
            "ref": self.version.ref,
            "digest": self.version.digest,
            "unchanged": self.unchanged,
            "tests": self.tests,
            "tests_passed": self.version.tests_passed,
            "tests_rerun": self.tests_rerun,
            "repaired": self.repaired,
            "env_cached": self.env_cached,
            "changes": self.changes,
        }


class ModuleService:
    def __init__(
        self,
        store: MetadataStore,
        cas: ContentStore,
        envs: EnvironmentManager,
        test_timeout_s: float = 600.0,
    ) -> None:
        self.store = store
        self.cas = cas
        self.envs = envs
        self.test_timeout_s = test_timeout_s

    # --- namespaces ---------------------------------------------------------------------------
    def create_namespace(
        self, actor: str, name: str, owner: str | None = None, description: str = ""
    ) -> NamespaceRecord:
        validate_namespace(name)
        owner = validate_user(owner or actor)

        def work(uow: UnitOfWork) -> NamespaceRecord:
            Authorizer(uow.identity).require_admin(actor, "create namespaces")
            if uow.modules.get_namespace(name):
                raise ConflictError(f"namespace {name} already exists", hint="pick another name")
            if not uow.identity.get_user(owner):
                raise NotFoundError(
                    f"user {owner} does not exist", hint=f"add it first: mlstudio user add {owner}"
                )
            record = uow.modules.create_namespace(name, description, actor)
            uow.identity.grant(owner, "owner", "namespace", name, granted_by=actor)
            uow.audit.record(
                actor, "namespace.create", f"namespace:{name}", details={"owner": owner}
            )
            return record

        return guarded(self.store, actor, "namespace.create", f"namespace:{name}", work)

    def grant_namespace(self, actor: str, namespace: str, user: str, role: str) -> bool:
        validate_role(role, "namespace")
        from mlstudio.governance.identity import IdentityService

        return IdentityService(self.store).grant(actor, user, role, "namespace", namespace)

    def list_namespaces(self) -> list[dict[str, Any]]:
        with self.store.read() as uow:
            out = []
            for ns in uow.modules.list_namespaces():
                members = [
                    {"user": g.user, "role": g.role}
                    for g in uow.identity.grants_on("namespace", ns.name)
                ]
                out.append({**ns.to_dict(), "members": members})
            return out

    def namespace_quota(self, name: str) -> dict[str, Any]:
        """A namespace's quotas (None: unlimited) and what counts against them now."""
        with self.store.read() as uow:
            return _quota_view(uow, _namespace_or_404(uow, name))

    def set_namespace_quota(
        self,
        actor: str,
        name: str,
        *,
        max_running_runs: int | EllipsisType | None = ...,
        max_running_tasks: int | EllipsisType | None = ...,
    ) -> dict[str, Any]:
        """Set or clear (None) a namespace's quotas; ``...`` keeps one. Admins only: quotas
        share the platform's capacity between teams. Audited as ``namespace.quota``."""
        changes: dict[str, int | None] = {}
        for key, value in (
            ("max_running_runs", max_running_runs),
            ("max_running_tasks", max_running_tasks),
        ):
            if value is ...:
                continue
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                raise InvalidInputError(
                    f"invalid {key} {value!r}: a quota is a whole number, 0 or more",
                    hint="give a number >= 0, or none (JSON null) for unlimited",
                )
            if value is not None and value > MAX_COUNT:
                raise InvalidInputError(
                    f"invalid {key} {value!r}: a quota is at most {MAX_COUNT}",
                    hint="give a smaller number, or none (JSON null) for unlimited",
                )
            changes[key] = value

        def work(uow: UnitOfWork) -> dict[str, Any]:
            Authorizer(uow.identity).require_admin(actor, f"set the quotas of namespace {name}")
            before = _namespace_or_404(uow, name)
            uow.modules.set_namespace_quota(name, changes)
            after = _namespace_or_404(uow, name)
            uow.audit.record(
                actor,
                "namespace.quota",
                f"namespace:{name}",
                details={"before": _quotas_of(before), "after": _quotas_of(after)},
            )
            return _quota_view(uow, after)

        return guarded(self.store, actor, "namespace.quota", f"namespace:{name}", work)

    # --- push ---------------------------------------------------------------------------------
    def push(
        self,
        actor: str,
        module_dir: Path,
        *,
        message: str = "",
        run_tests: bool = True,
        progress: Progress = _quiet,
        git: tuple[str | None, bool | None] | None = None,
    ) -> PushResult:
        """Validate, build, test and publish the module in ``module_dir`` as ``actor``.

        ``git`` is the (commit, dirty) the pusher's working copy was at; by default it is read
        from ``module_dir`` (a server pushing an upload gets it from the client)."""
        from mlstudio.modules.archive import build_module
        from mlstudio.modules.changes import module_changes
        from mlstudio.modules.introspect import introspect
        from mlstudio.modules.manifest import load_manifest
        from mlstudio.modules.provenance import git_info
        from mlstudio.modules.testrunner import TestReport

        module_dir = module_dir.resolve()
        progress("reading module.toml")
        manifest = load_manifest(module_dir)
        name = manifest.name
        denied = (self.store, actor, "module.push", name.full)
        with refusals_audited(*denied), self.store.read() as uow:
            if not uow.modules.get_namespace(name.namespace):
                raise NotFoundError(
                    f"namespace {name.namespace} does not exist",
                    hint=f"an admin creates it: mlstudio namespace create {name.namespace}",
                )
            Authorizer(uow.identity).require_namespace(actor, name.namespace, "push modules")
            module = uow.modules.get_module(name.full)
            progress("building the archive")
            build = build_module(module_dir, manifest.exclude)
            existing = uow.modules.version_by_digest(module, build.digest) if module else None
            previous = (
                uow.modules.get_version(module, module.latest_version)
                if module and module.latest_version
                else None
            )
        if existing:
            return self._push_unchanged(actor, manifest, build, existing, run_tests, progress)

        env = self._environment(manifest, progress)
        python = env.python if env else sys.executable
        with tempfile.TemporaryDirectory(prefix="mlstudio-push-") as tmp:
            staged = Path(tmp)
            for entry in build.files:
                (staged / entry.path).parent.mkdir(parents=True, exist_ok=True)
                (staged / entry.path).write_bytes(entry.data)
            progress("importing tasks and workflows")
            feature_views: list[dict[str, Any]] = []
            prompts: list[dict[str, Any]] = []
            definitions = introspect(
                staged, manifest, python=python, feature_views=feature_views, prompts=prompts
            )
        _attach_code_identities(definitions, build)
        report = TestReport()
        if run_tests:
            progress("running the module's tests")
            report = self._run_tests(build, manifest, python)
            if not report.ok:
                raise _tests_failed(name.full, report, "nothing was published")
        tests = report.to_dict() if run_tests else {"skipped": True, "ok": False}
        git_commit, git_dirty = git if git is not None else git_info(module_dir)
        progress("publishing")
        self.cas.repair(build.archive)  # like put, and heals a damaged copy of the same bytes
        record, unchanged = guarded(
            *denied,
            lambda uow: self._publish(
                uow,
                actor,
                name,
                manifest.to_dict(),
                build,
                definitions,
                env,
                message,
                git_commit,
                git_dirty,
                tests,
                feature_views,
                prompts,
            ),
        )
        changes = None
        if previous is not None and not unchanged:
            changes = module_changes(
                previous,
                self._files_of(previous),
                manifest.to_dict(),
                (entry.path for entry in build.files),
                definitions,
            )
        return PushResult(
            record,
            unchanged=unchanged,
            tests=tests,
            env_cached=env.cached if env else None,
            changes=changes,
        )

    def _files_of(self, version: ModuleVersionRecord) -> list[str] | None:
        """The file paths of a stored version (None if its archive cannot be read)."""
        try:
            from mlstudio.modules.archive import read_archive

            return sorted(read_archive(self.cas.get(version.archive_digest)))
        except Exception:  # a missing or damaged archive: say less, never fail the push
            return None

    def _environment(self, manifest: Any, progress: Progress) -> Any:
        if not manifest.requirements:
            return None
        progress(f"preparing the environment ({len(manifest.requirements)} requirements)")
        return self.envs.ensure(manifest.requirements)

    def _run_tests(self, build: ModuleBuild, manifest: Any, python: str) -> TestReport:
        from mlstudio.modules.introspect import package_root
        from mlstudio.modules.testrunner import run_module_tests

        return run_module_tests(build, manifest.tests, python, package_root(), self.test_timeout_s)

    def _push_unchanged(
        self,
        actor: str,
        manifest: Any,
        build: ModuleBuild,
        existing: ModuleVersionRecord,
        run_tests: bool,
        progress: Progress,
    ) -> PushResult:
        """The same content as ``existing``: no new version, but heal what a push can heal.

        The archive is rebuilt from the same content, so a missing or corrupt stored archive is
        rewritten; and a version whose tests did not pass (pushed with ``--no-tests``) gets them
        run now, becoming promotable when they pass.
        """
        name = manifest.name
        progress("checking the stored archive")
        repaired = self._repair_archive(actor, name, existing, build)
        if not run_tests or existing.tests_passed:
            return PushResult(
                existing,
                unchanged=True,
                tests=existing.test_summary,
                env_cached=None,
                repaired=repaired,
            )
        env = self._environment(manifest, progress)
        progress(f"running the tests of {existing.ref} (they have not passed yet)")
        report = self._run_tests(build, manifest, env.python if env else sys.executable)
        if not report.ok:
            raise _tests_failed(name.full, report, f"{existing.ref} was not changed")
        tests = report.to_dict()

        def work(uow: UnitOfWork) -> ModuleVersionRecord:
            Authorizer(uow.identity).require_namespace(actor, name.namespace, "push modules")
            module = self._module(uow, name, for_update=True)
            record = uow.modules.record_tests(module, existing.version, tests)
            uow.audit.record(
                actor,
                "module.tests",
                record.ref,
                details={
                    "version": record.version,
                    "digest": record.digest,
                    "tests_passed": record.tests_passed,
                    "passed": tests["passed"],
                    "collected": tests["collected"],
                },
            )
            return record

        record = guarded(self.store, actor, "module.push", name.full, work)
        return PushResult(
            record,
            unchanged=True,
            tests=tests,
            env_cached=env.cached if env else None,
            tests_rerun=True,
            repaired=repaired,
        )

    def _repair_archive(
        self, actor: str, name: ModuleName, existing: ModuleVersionRecord, build: ModuleBuild
    ) -> bool:
        """Rewrite ``existing``'s archive blob when it is missing or corrupt; True if it was."""
        rebuilt = sha256_bytes(build.archive)
        if rebuilt == existing.archive_digest:
            if not self.cas.repair(build.archive):
                return False
        else:
            # Same content, different archive bytes (another zlib build compresses differently):
            # keep the stored archive while it is intact, else store and point at the rebuilt one.
            if self.cas.intact(existing.archive_digest):
                return False
            self.cas.repair(build.archive)

        def work(uow: UnitOfWork) -> None:
            module = self._module(uow, name, for_update=True)
            if rebuilt != existing.archive_digest:
                uow.modules.set_archive_digest(module, existing.version, rebuilt)
            uow.audit.record(
                actor,
                "module.repair",
                existing.ref,
                details={"archive": rebuilt, "was": existing.archive_digest},
            )

        self.store.retrying(work)
        return True

    def _publish(
        self,
        uow: UnitOfWork,
        actor: str,
        name: ModuleName,
        manifest: dict[str, Any],
        build: ModuleBuild,
        definitions: list[dict[str, Any]],
        env: Any,
        message: str,
        git_commit: str | None,
        git_dirty: bool | None,
        tests: dict[str, Any],
        feature_views: list[dict[str, Any]] | None = None,
        prompts: list[dict[str, Any]] | None = None,
    ) -> tuple[ModuleVersionRecord, bool]:
        Authorizer(uow.identity).require_namespace(actor, name.namespace, "push modules")
        module = uow.modules.get_module(name.full, for_update=True)
        if module is None:
            module = uow.modules.create_module(name.namespace, name.name, manifest["description"])
            module = uow.modules.get_module(name.full, for_update=True)
            assert module is not None
        existing = uow.modules.version_by_digest(module, build.digest)
        if existing:  # a concurrent push of the same content won
            return existing, True
        record = uow.modules.add_version(
            module,
            {
                "digest": build.digest,
                "archive_digest": sha256_bytes(build.archive),
                "size_bytes": build.size_bytes,
                "file_count": len(build.files),
                "manifest": manifest,
                "tasks": definitions,
                "requirements": manifest["requirements"],
                "env_digest": env.digest if env else None,
                "env_lock": env.lock if env else None,
                "pushed_by": actor,
                "pushed_at": utcnow(),
                "message": message,
                "git_commit": git_commit,
                "git_dirty": git_dirty,
                "tests_passed": bool(tests.get("ok")),
                "test_summary": tests,
            },
        )
        uow.audit.record(
            actor,
            "module.push",
            record.ref,
            details={"digest": build.digest, "tests_passed": record.tests_passed},
        )
        if feature_views:
            from mlstudio.integrations.features.registry import register_views

            register_views(uow, actor, record, feature_views)
        if prompts:
            uow.genai.add_prompts(record.module, record.version, prompts)
        moved = uow.modules.move_tag(module, LATEST_ALPHA, record.version, actor, "push")
        from mlstudio.integrations.webhooks import emit_tag_moved

        emit_tag_moved(uow, moved)
        uow.audit.record(
            actor,
            "tag.move",
            f"{name.full}:{LATEST_ALPHA}",
            details={"to": record.version, "action": "push"},
        )
        return record, False

    # --- resolution ---------------------------------------------------------------------------
    def _module(
        self, uow: UnitOfWork, name: ModuleName, *, for_update: bool = False
    ) -> ModuleRecord:
        module = uow.modules.get_module(name.full, for_update=for_update)
        if module is None:
            raise NotFoundError(
                f"module {name.full} does not exist", hint="push it first: mlstudio module push DIR"
            )
        return module

    def _resolve(self, uow: UnitOfWork, ref: ModuleRef) -> ModuleVersionRecord:
        module = self._module(uow, ref.module)
        if ref.version is not None:
            found = uow.modules.get_version(module, ref.version)
            if not found:
                from mlstudio.modules.deletion import deleted_message

                raise deleted_message(uow, ref.module.full, ref.version) or NotFoundError(
                    f"{ref} does not exist ({ref.module} has versions 1..{module.latest_version})",
                    hint=f"see: mlstudio module show {ref.module}",
                )
            return found
        tag_name = ref.tag or LATEST
        tag = uow.modules.get_tag(module, tag_name)
        if tag is None:
            hint = (
                f"promote a version first: mlstudio module promote {ref.module} N"
                if tag_name == LATEST
                else f"see the tags: mlstudio module show {ref.module}"
            )
            raise NotFoundError(f"{ref.module} has no tag {tag_name!r}", hint=hint)
        found = uow.modules.get_version(module, tag.version)
        assert found is not None
        return found

    def resolve(self, ref: str | ModuleRef, default_tag: str = LATEST) -> ModuleVersionRecord:
        parsed = (
            ref if isinstance(ref, ModuleRef) else ModuleRef.parse(ref, default_tag=default_tag)
        )
        with self.store.read() as uow:
            return self._resolve(uow, parsed)

    def delete_version(self, actor: str, ref: str) -> dict[str, Any]:
        """Delete one version no tag, live or pinned run, or schedule needs (audited)."""
        from mlstudio.modules.deletion import delete_module_version

        return delete_module_version(self.store, actor, ref)

    def archive(self, version: ModuleVersionRecord) -> bytes:
        with self.store.read() as uow:
            module = self._module(uow, ModuleName.parse(version.module))
            digest = uow.modules.archive_digest(module, version.version)
        return self.cas.get(digest)

    # --- tags ---------------------------------------------------------------------------------
    def move_tag(
        self,
        actor: str,
        module_name: str,
        tag: str,
        version: int,
        action: str = "tag",
        *,
        override_reason: str | None = None,
    ) -> dict[str, Any]:
        """Point ``tag`` at ``version`` (recorded). ``latest`` needs passing tests; a tag the
        module's ``[evaluation]`` gates needs a passing evaluation, or an approver's
        ``override_reason`` (audited)."""
        from mlstudio.modules import evaluation_gate

        name = ModuleName.parse(module_name)
        validate_tag(tag)
        if override_reason is not None and not override_reason.strip():
            raise InvalidInputError(
                "a gate override needs a reason", hint='--override-reason "why"'
            )

        def work(uow: UnitOfWork) -> dict[str, Any]:
            Authorizer(uow.identity).require_namespace(actor, name.namespace, f"{action} modules")
            module = self._module(uow, name, for_update=True)
            exists = isinstance(version, int) and 1 <= version <= MAX_COUNT
            target = uow.modules.get_version(module, version) if exists else None
            if target is None:
                from mlstudio.modules.deletion import deleted_message

                raise deleted_message(uow, name.full, version) or NotFoundError(
                    f"{name.full}@{version} does not exist (versions 1..{module.latest_version})",
                    hint=f"see: mlstudio module show {name.full}",
                )
            if tag == LATEST and not target.tests_passed:
                raise StateError(
                    f"{target.ref} cannot become {LATEST}: its tests did not pass",
                    hint="push a version whose tests pass, then promote it",
                )
            warning: dict[str, str] = {}
            if tag == LATEST and target.test_summary.get("collected") == 0:
                warning = {"warning": f"{target.ref} has no tests; it is {LATEST} all the same"}
            current = uow.modules.get_tag(module, tag)
            if current and current.version == version:
                return {
                    "module": name.full,
                    "tag": tag,
                    "from": version,
                    "to": version,
                    "moved": False,
                    **warning,
                }
            held = uow.modules.get_version(module, current.version) if current else None
            gate = evaluation_gate.gate_move(
                uow, actor, name.full, tag, target, held, override_reason
            )
            event = uow.modules.move_tag(module, tag, version, actor, action)
            from mlstudio.integrations.webhooks import emit_tag_moved

            emit_tag_moved(uow, event)
            audit_action = "module.promote" if action == "promote" else "tag.move"
            uow.audit.record(
                actor,
                audit_action,
                f"{name.full}:{tag}",
                details={"from": event.from_version, "to": version, "action": action},
            )
            return {
                "module": name.full,
                "tag": tag,
                "from": event.from_version,
                "to": version,
                "moved": True,
                **warning,
                **({"gate": gate} if gate else {}),
            }

        audit_action = "module.promote" if action == "promote" else "tag.move"
        context = {"to": version, "action": action}
        return guarded(self.store, actor, audit_action, f"{name.full}:{tag}", work, context)

    def promote(
        self, actor: str, module_name: str, version: int, *, override_reason: str | None = None
    ) -> dict[str, Any]:
        return self.move_tag(
            actor, module_name, LATEST, version, action="promote", override_reason=override_reason
        )

    def rollback(self, actor: str, module_name: str, tag: str = LATEST) -> dict[str, Any]:
        name = ModuleName.parse(module_name)
        validate_tag(tag)

        def work(uow: UnitOfWork) -> dict[str, Any]:
            Authorizer(uow.identity).require_namespace(actor, name.namespace, "roll back modules")
            module = self._module(uow, name, for_update=True)
            current = uow.modules.get_tag(module, tag)
            if current is None:
                raise NotFoundError(
                    f"{name.full} has no tag {tag!r}", hint=f"see: mlstudio module show {name.full}"
                )
            target = previous_version(uow.modules.tag_history(module, tag))
            if target is None:
                raise StateError(
                    f"{name.full}:{tag} has no earlier version to roll back to",
                    hint=f"move it explicitly: mlstudio module tag {name.full} {tag} N",
                )
            if uow.modules.get_version(module, target) is None:
                raise StateError(
                    f"{name.full}:{tag} would roll back to @{target}, which was deleted",
                    hint=f"move it explicitly: mlstudio module tag {name.full} {tag} N",
                )
            event = uow.modules.move_tag(module, tag, target, actor, "rollback")
            from mlstudio.integrations.webhooks import emit_tag_moved

            emit_tag_moved(uow, event)
            uow.audit.record(
                actor,
                "tag.move",
                f"{name.full}:{tag}",
                details={"from": event.from_version, "to": target, "action": "rollback"},
            )
            return {
                "module": name.full,
                "tag": tag,
                "from": event.from_version,
                "to": target,
                "moved": True,
            }

        resource = f"{name.full}:{tag}"
        return guarded(self.store, actor, "tag.move", resource, work, {"action": "rollback"})

    # --- catalog ------------------------------------------------------------------------------
    def list_modules(
        self,
        search: str | None = None,
        namespace: str | None = None,
        *,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """The catalog, by name; ``search`` matches names, descriptions and task names."""
        if limit < 1 or offset < 0:
            raise InvalidInputError(
                f"invalid page (limit {limit}, offset {offset})",
                hint="use a limit of at least 1 and an offset of at least 0",
            )
        with self.store.read() as uow:
            out = []
            for module in uow.modules.search_modules(search, namespace, limit=limit, offset=offset):
                tags = {t.name: t.version for t in uow.modules.list_tags(module)}
                out.append({**module.to_dict(), "tags": tags})
            return out

    def show(self, ref_text: str) -> dict[str, Any]:
        ref = ModuleRef.parse(ref_text)
        with self.store.read() as uow:
            module = self._module(uow, ref.module)
            versions = uow.modules.list_versions(module)
            tags = uow.modules.list_tags(module)
            if ref.version is not None or ref.tag is not None:
                selected = self._resolve(uow, ref)
            else:
                by_name = {t.name: t.version for t in tags}
                number = by_name.get(LATEST) or by_name.get(LATEST_ALPHA) or module.latest_version
                selected = next(v for v in versions if v.version == number)
            history = uow.modules.tag_history(module)
        return {
            "module": module.to_dict(),
            "selected": selected.to_dict(),
            "versions": [
                {
                    "version": v.version,
                    "digest": v.digest,
                    "pushed_by": v.pushed_by,
                    "pushed_at": v.to_dict()["pushed_at"],
                    "message": v.message,
                    "tests_passed": v.tests_passed,
                    "tests": tests_status(v.tests_passed, v.test_summary),
                    "git_commit": v.git_commit,
                }
                for v in versions
            ],
            "tags": [t.to_dict() for t in tags],
            "tag_history": [e.to_dict() for e in history],
        }


def tests_status(passed: bool, summary: dict[str, Any]) -> str:
    """One word for a version's tests: passed, "no tests", skipped or failed."""
    if summary.get("skipped") is True:  # pushed with --no-tests (else: a count of skipped tests)
        return "skipped"
    if not passed:
        return "failed"
    return "no tests" if summary.get("collected") == 0 else "passed"


def _tests_failed(module: str, report: TestReport, outcome: str) -> ModuleTestsFailedError:
    failing = ", ".join(f["test"] for f in report.failures[:5]) or "see output"
    failed = report.failed + report.errors
    problem = f"{failed} {'test' if failed == 1 else 'tests'} failed ({failing})"
    if report.timed_out:
        problem = f"its tests timed out after {report.duration_s:.0f}s"
    return ModuleTestsFailedError(
        f"{module}: {problem}; {outcome}",
        hint="fix the tests and push again",
        details={"tests": report.to_dict(), "output": report.output_tail},
    )


def previous_version(history: list[Any]) -> int | None:
    """Where a rollback moves a tag: the version before the current one, skipping undone moves."""
    stack: list[int] = []
    for event in history:
        if event.action == "rollback":
            if stack:
                stack.pop()
        elif event.from_version is not None:
            stack.append(event.from_version)
    return stack[-1] if stack else None


def _namespace_or_404(uow: UnitOfWork, name: str) -> NamespaceRecord:
    record = uow.modules.get_namespace(name)
    if record is None:
        raise NotFoundError(f"namespace {name} does not exist", hint="see: mlstudio namespace list")
    return record


def _quotas_of(record: NamespaceRecord) -> dict[str, int | None]:
    return {
        "max_running_runs": record.max_running_runs,
        "max_running_tasks": record.max_running_tasks,
    }


def _quota_view(uow: UnitOfWork, record: NamespaceRecord) -> dict[str, Any]:
    """A namespace's quotas and their use: runs driven (or about to be), tasks claimed."""
    return {
        "namespace": record.name,
        **_quotas_of(record),
        "running_runs": uow.queue.going_by_namespace([record.name]).get(record.name, 0),
        "running_tasks": uow.queue.inflight_by_namespace().get(record.name, 0),
    }


def _attach_code_identities(definitions: list[dict[str, Any]], build: ModuleBuild) -> None:
    """Store each task's code identity with the version, so a run start computes nothing."""
    from mlstudio.modules.code_identity import identities_of_definitions

    identities = identities_of_definitions({f.path: f.data for f in build.files}, definitions)
    for definition in definitions:
        if definition["name"] in identities and definition.get("kind") == "task":
            definition["code_identity"] = identities[definition["name"]]
