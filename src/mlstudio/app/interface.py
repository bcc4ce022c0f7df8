"""The one application interface: every use case of mlstudio as one typed method.

The CLI, the REST API and (later) the portal are edges over it. It has two implementations,
with the same names, arguments, results and errors:

- :class:`mlstudio.app.local.LocalStudio` acts on a :class:`~mlstudio.platform.Platform` as
  one actor (embedded mode, and the API server, which builds one per request for the token's
  user);
- :class:`mlstudio.client.Client` calls a server's REST API, which calls the local one.

A use case is written once, in the local implementation; its route is a one-line call into it
and the client method sends that route's request. ``tests/conformance`` runs the same cases
against both. Methods are grouped by area (``studio.runs.list(...)``); each area is a
``Protocol`` below, so type checkers hold both implementations to it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from mlstudio.app.views import (
    AliasMoveView,
    AttemptView,
    AuditEventView,
    CacheClearView,
    CacheStatsView,
    DatasetListView,
    DatasetView,
    DeclassifierView,
    DeletionView,
    DeliveryView,
    DetachedView,
    DomainRemovalView,
    DomainView,
    ExportView,
    GcView,
    GrantChangeView,
    HeadView,
    LineageView,
    LogTailView,
    LogView,
    ModelDeletionView,
    ModelShowView,
    ModelVersionView,
    ModelView,
    ModuleShowView,
    ModuleView,
    NamespaceGrantView,
    NamespaceView,
    OutputView,
    PinView,
    PushView,
    QuotaView,
    RunShowView,
    RunStatesView,
    RunView,
    ScheduleView,
    TagMoveView,
    TokenView,
    UserView,
    WebhookView,
    WhoamiView,
)
from mlstudio.workflows.options import RunOptions

Progress = Callable[[str], None]
Observer = Callable[[dict[str, Any]], None]


class UsersApi(Protocol):
    def whoami(self) -> WhoamiView: ...
    def list(self, *, limit: int | None = None, offset: int = 0) -> list[UserView]: ...
    def add(self, name: str, role: str | None = None) -> UserView: ...
    def grant(
        self, user: str, role: str, *, namespace: str | None = None, domain: str | None = None
    ) -> GrantChangeView: ...
    def revoke(
        self, user: str, role: str, *, namespace: str | None = None, domain: str | None = None
    ) -> GrantChangeView: ...
    def disable(self, name: str) -> UserView: ...
    def enable(self, name: str) -> UserView: ...


class TokensApi(Protocol):
    def create(
        self, user: str | None = None, *, ttl_days: float = 90.0, description: str = ""
    ) -> TokenView: ...
    def list(self, user: str | None = None) -> list[TokenView]: ...
    def revoke(self, token_id: str) -> TokenView: ...


class AuditApi(Protocol):
    def list(
        self,
        *,
        since: datetime | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int | None = 100,
        offset: int = 0,
    ) -> list[AuditEventView]: ...


class DomainsApi(Protocol):
    def list(self) -> list[DomainView]: ...
    def show(self, name: str) -> DomainView: ...
    def set(self, name: str, **changes: Any) -> DomainView:
        """Change the given policy fields of an existing domain (lists: None for all, [] for
        none); others stay. An unknown domain is refused, naming the closest one."""
        ...

    def create(self, name: str, **policy: Any) -> DomainView:
        """A new domain: closed (clearance public, ...) but for the given policy fields."""
        ...

    def remove(self, name: str) -> DomainRemovalView:
        """Remove a domain no run, schedule, dataset or other domain's policy refers to
        (admins; the built-in domains stay). Its grants go with it."""
        ...


class NamespacesApi(Protocol):
    def list(self) -> list[NamespaceView]: ...
    def create(
        self, name: str, owner: str | None = None, description: str = ""
    ) -> NamespaceView: ...
    def grant(self, namespace: str, user: str, role: str) -> NamespaceGrantView: ...
    def quota(self, namespace: str) -> QuotaView: ...
    def set_quota(self, namespace: str, **changes: int | None) -> QuotaView: ...


class ModulesApi(Protocol):
    def list(
        self,
        search: str | None = None,
        namespace: str | None = None,
        *,
        limit: int | None = 100,
        offset: int = 0,
    ) -> list[ModuleView]: ...
    def show(self, ref: str) -> ModuleShowView: ...
    def push(
        self,
        directory: str | Path,
        *,
        message: str = "",
        run_tests: bool = True,
        progress: Progress | None = None,
    ) -> PushView: ...
    def promote(
        self, module: str, version: int, *, override_reason: str | None = None
    ) -> TagMoveView:
        """Move ``latest``; a module declaring an ``[evaluation]`` needs a passing one (or an
        approver's override)."""
        ...

    def tag(
        self, module: str, tag: str, version: int, *, override_reason: str | None = None
    ) -> TagMoveView: ...
    def rollback(self, module: str, tag: str = "latest") -> TagMoveView: ...
    def delete(self, ref: str) -> DeletionView:
        """Delete ``NS/NAME@V`` unless a tag, a live or pinned run, or a schedule needs it."""
        ...


class RunsApi(Protocol):
    def start(
        self, workflow: str, params: dict[str, Any], options: RunOptions = RunOptions()
    ) -> RunView:
        """Plan and record a queued run (nothing runs yet; see :meth:`wait`, :meth:`detach`)."""
        ...

    def wait(self, run_id: str, observe: Observer | None = None) -> RunShowView:
        """Block until the run is terminal, reporting progress to ``observe``. Embedded mode
        drives it in this process; against a server, the server's driver does and this
        follows it."""
        ...

    def detach(self, run_id: str) -> DetachedView:
        """Let the run go on without this process (embedded: a background engine process)."""
        ...

    def list(
        self,
        *,
        state: str | None = None,
        workflow: str | None = None,
        user: str | None = None,
        domain: str | None = None,
        namespace: str | None = None,
        since: datetime | None = None,
        limit: int | None = 20,
        offset: int = 0,
    ) -> list[RunView]: ...
    def show(self, run_id: str, *, explain: bool = False) -> RunShowView: ...
    def states(self, run_id: str) -> RunStatesView:
        """The run's state and each task's, without outputs or logs (for live views)."""
        ...

    def logs(self, run_id: str, *, task: str | None = None) -> list[LogView]: ...
    def log_tail(
        self, run_id: str, *, task: str | None = None, cursor: str | None = None
    ) -> LogTailView:
        """What the run's (or ``task``'s) attempts printed since ``cursor`` (from the last
        call; none: from the start); poll it until ``done``."""
        ...

    def cancel(self, run_id: str) -> RunView: ...
    def clone(
        self, run_id: str, params: dict[str, Any] | None = None, *, no_cache: bool = False
    ) -> RunView: ...
    def resume(self, run_id: str) -> RunView: ...
    def output(
        self,
        run_id: str,
        file: str | Path,
        *,
        task: str | None = None,
        domain: str | None = None,
        fmt: str | None = None,
    ) -> OutputView:
        """Write the run's output (or task ``task``'s) to ``file``, read under ``domain``
        (default: the run's); the format follows ``fmt`` or the file's suffix."""
        ...

    def pin(self, run_id: str, reason: str = "") -> PinView:
        """Keep the run and what it needs whatever its age (clean-up and retention skip it)."""
        ...

    def unpin(self, run_id: str) -> PinView: ...


class CacheApi(Protocol):
    def stats(self) -> CacheStatsView: ...
    def clear(
        self,
        workflow: str | None = None,
        task: str | None = None,
        older_than_days: float | None = None,
    ) -> CacheClearView: ...


class DatasetsApi(Protocol):
    def list(
        self,
        namespace: str | None = None,
        search: str | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[DatasetListView]: ...
    def show(self, ref: str) -> DatasetView: ...
    def import_file(
        self,
        file: str | Path,
        name: str,
        *,
        domain: str = "production",
        classify: list[str] | None = None,
    ) -> DatasetView: ...
    def classify(self, ref: str, specs: list[str]) -> DatasetView: ...
    def lineage(self, ref: str, column: str | None = None) -> LineageView: ...
    def export(
        self, ref: str, file: str | Path, *, domain: str = "experimentation"
    ) -> ExportView: ...
    def head(
        self,
        ref: str,
        *,
        rows: int = 20,
        columns: list[str] | None = None,
        domain: str = "experimentation",
    ) -> HeadView:
        """The first ``rows`` rows of the columns ``domain`` may read (or of ``columns``)."""
        ...

    def delete(self, ref: str) -> DeletionView:
        """Delete ``NS/NAME@V`` (or every version) unless a live or pinned run or a cache
        entry still needs it."""
        ...


class DeclassifiersApi(Protocol):
    def list(self, state: str | None = None) -> list[DeclassifierView]: ...
    def create(
        self,
        module: str,
        task: str,
        columns: list[str],
        *,
        lower_to: str | None = None,
        remove_labels: list[str] | None = None,
        justification: str = "",
    ) -> DeclassifierView: ...
    def approve(self, declassifier_id: str) -> DeclassifierView: ...
    def revoke(self, declassifier_id: str) -> DeclassifierView: ...


class SchedulesApi(Protocol):
    def list(
        self, *, workflow: str | None = None, limit: int | None = 100, offset: int = 0
    ) -> list[ScheduleView]: ...
    def add(
        self,
        workflow: str,
        cron: str,
        *,
        tz: str = "UTC",
        catchup: str = "none",
        params: dict[str, Any] | None = None,
        domain: str = "experimentation",
    ) -> ScheduleView: ...
    def show(self, schedule_id: str) -> ScheduleView: ...
    def pause(self, schedule_id: str) -> ScheduleView: ...
    def resume(self, schedule_id: str) -> ScheduleView: ...
    def remove(self, schedule_id: str) -> ScheduleView: ...


class WebhooksApi(Protocol):
    def list(self, *, include_removed: bool = False) -> list[WebhookView]: ...
    def add(self, url: str, events: list[str], *, secret: str | None = None) -> WebhookView: ...
    def remove(self, webhook_id: str) -> WebhookView: ...
    def deliveries(
        self,
        webhook_id: str,
        *,
        state: str | None = None,
        limit: int | None = 50,
        offset: int = 0,
    ) -> list[DeliveryView]: ...
    def attempts(
        self, delivery_id: int | str, *, limit: int | None = None, offset: int = 0
    ) -> list[AttemptView]: ...
    def replay(self, delivery_id: int | str) -> DeliveryView: ...


class StorageApi(Protocol):
    def gc(
        self,
        *,
        dry_run: bool = False,
        keep_runs_days: float | None = None,
        grace_hours: float = 1.0,
    ) -> GcView:
        """Remove artifact blobs nothing references and that were not written for
        ``grace_hours``; with ``keep_runs_days``, also the outputs of finished, unpinned runs
        older than that (admins)."""
        ...


class TrackingApi(Protocol):
    """Experiment tracking: tracked runs are task runs (one per task run of a workflow run)
    and MLflow client runs. ``ref`` arguments take a tracked-run id or a workflow run id (its
    task runs)."""

    def experiments(self, *, include_deleted: bool = False) -> list[dict[str, Any]]: ...
    def experiment(self, ref: str, *, limit: int = 20) -> dict[str, Any]:
        """An experiment by id or name, with its newest runs."""
        ...

    def get(self, run_id: str) -> dict[str, Any]: ...
    def runs_of(self, ref: str) -> list[dict[str, Any]]: ...
    def search(
        self,
        filter: str | None = None,
        *,
        order_by: list[str] | None = None,
        experiment: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> dict[str, Any]:
        """``{"runs": [...], "next_offset": N | None}``."""
        ...

    def compare(self, refs: list[str], *, only_differences: bool = False) -> dict[str, Any]: ...
    def history(self, ref: str, metric: str) -> list[dict[str, Any]]:
        """``[{"run": ID, "points": [...]}]`` for each tracked run ``ref`` names."""
        ...


class ModelsApi(Protocol):
    """The model registry: models, immutable versions, aliases, approvals, governed loads."""

    def list(
        self, search: str | None = None, *, limit: int | None = 100, offset: int = 0
    ) -> list[ModelView]: ...
    def show(self, ref: str, *, at: datetime | None = None) -> ModelShowView:
        """``NAME``, ``NAME/VERSION`` or ``NAME@ALIAS`` (with ``at``: where the alias pointed
        then), with versions, alias history, decisions and recorded loads."""
        ...

    def create(
        self, name: str, *, namespace: str | None = None, description: str = ""
    ) -> ModelView: ...
    def register(
        self,
        name: str,
        run_id: str,
        *,
        task: str | None = None,
        namespace: str | None = None,
        description: str = "",
    ) -> ModelVersionView:
        """The ``Model`` a task of the run returned, as the model's next version."""
        ...

    def alias(
        self, name: str, alias: str, version: int, *, override_reason: str | None = None
    ) -> AliasMoveView:
        """Move ``alias``; a gated alias needs an evaluation, or an approver's override."""
        ...

    def gate(
        self,
        name: str,
        alias: str,
        *,
        on: str | None = None,
        metric: str | None = None,
        margin: float = 0.0,
        slices: list[str] | None = None,
        remove: bool = False,
    ) -> dict[str, Any]:
        """Require an evaluation on ``on`` (non-inferior on ``metric`` within ``margin``)
        to move ``alias``; ``remove`` drops the gate."""
        ...

    def unalias(self, name: str, alias: str) -> AliasMoveView: ...
    def approve(self, name: str, version: int, reason: str) -> ModelVersionView: ...
    def reject(self, name: str, version: int, reason: str) -> ModelVersionView: ...
    def protect(self, name: str, alias: str, protected: bool = True) -> ModelView: ...
    def delete(self, name: str) -> ModelDeletionView: ...
    def download(
        self,
        ref: str,
        *,
        domain: str | None = None,
        run_id: str | None = None,
        node_id: str | None = None,
    ) -> tuple[ModelVersionView, bytes]:
        """The version's pickled bytes, after the domain and classification checks."""
        ...

    def predict(
        self, ref: str, *, input: str, output: str, domain: str = "production"
    ) -> dict[str, Any]:
        """Batch scoring: ``ref``'s predictions for every row of dataset ``input``, stored as
        a new version of dataset ``output`` (governed read, load and write)."""
        ...
        ...


class EvaluationApi(Protocol):
    """A-vs-B evaluation: paired statistics on a governed evaluation set, stored reports."""

    def compare(
        self,
        candidates: list[str],
        *,
        on: str,
        label: str | None = None,
        metrics: list[str] | None = None,
        slices: list[str] | None = None,
        cluster: str | None = None,
        margin: float = 0.0,
        domain: str = "experimentation",
        save: str | None = None,
        resamples: int = 2000,
        seed: int = 0,
        confidence: float = 0.95,
        correction: str = "holm",
    ) -> dict[str, Any]: ...
    def lift(
        self,
        experiment: str,
        *,
        metric: str,
        variant_column: str,
        unit_column: str,
        pre_period_column: str | None = None,
        denominator_column: str | None = None,
        control: str | None = None,
        treatment: str | None = None,
        domain: str = "experimentation",
        confidence: float = 0.95,
    ) -> dict[str, Any]:
        """Business lift of an online experiment (delta method, CUPED, SRM check)."""
        ...

    def judge(
        self,
        a: str,
        b: str,
        *,
        on: str,
        judge: str,
        label: str | None = None,
        human: str | None = None,
        id_column: str = "id",
        human_column: str = "preference",
        domain: str = "experimentation",
        tie_delta: float = 0.0,
        question: str | None = None,
        judge_model: str | None = None,
        judge_key_env: str | None = None,
        save: str | None = None,
    ) -> dict[str, Any]:
        """Judge answer columns A and B of ``on`` in both orders (``judge``: metric:NAME,
        human:NS/NAME or llm:SPEC with ``judge_model``); with ``human``, agreement and Cohen's
        kappa on the labelled items. The report is stored (``show``) and the per-item verdicts
        saved as the governed dataset ``save`` (default ``NS/NAME-judge``)."""
        ...

    def rank(
        self,
        *,
        on: str,
        first: str = "a",
        second: str = "b",
        winner: str = "winner",
        domain: str = "experimentation",
        resamples: int = 200,
        seed: int = 0,
        confidence: float = 0.95,
    ) -> dict[str, Any]:
        """Bradley-Terry strengths with bootstrap intervals from a table of preferences."""
        ...

    def show(self, ref: str) -> dict[str, Any]: ...
    def list(
        self, dataset: str | None = None, *, limit: int | None = 50, offset: int = 0
    ) -> list[dict[str, Any]]: ...


class FlagsApi(Protocol):
    """Feature flags (OpenFeature semantics): kill switches, canary splits, targeting."""

    def list(self, prefix: str | None = None) -> list[dict[str, Any]]: ...
    def show(self, key: str) -> dict[str, Any]: ...
    def set(
        self,
        key: str,
        *,
        value: Any = None,
        variants: dict[str, Any] | None = None,
        default_variant: str | None = None,
        split: list[str] | None = None,
        clear_split: bool = False,
        rules: list[str] | None = None,
        enabled: bool | None = None,
        namespace: str | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        """Create or change a flag (``split``: VARIANT=WEIGHT, ``rules``: ATTR=V1,V2->VARIANT)."""
        ...

    def remove(self, key: str) -> dict[str, Any]: ...
    def evaluate(
        self,
        key: str,
        default: Any = None,
        *,
        subject: str | None = None,
        context: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The flag's value for ``subject`` with its reason (never an error for a bad flag)."""
        ...


class DeploymentsApi(Protocol):
    """Deployments the server runs and keeps running (one serving process each)."""

    def deploy(
        self,
        name: str,
        *,
        alias: str = "champion",
        also: list[str] | None = None,
        fallback: str | None = None,
        domain: str = "production",
        port: int | None = None,
    ) -> dict[str, Any]:
        """Create deployment ``name`` (a model) or change it; its supervisor applies it."""
        ...

    def list(self) -> list[dict[str, Any]]: ...
    def show(self, name: str) -> dict[str, Any]:
        """Desired state plus what the supervisor sees: status, reason, url, pid, restarts."""
        ...

    def remove(self, name: str) -> dict[str, Any]: ...


class FeaturesApi(Protocol):
    """The feature store: versioned views, point-in-time training sets, the online store."""

    def list(
        self,
        namespace: str | None = None,
        search: str | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]: ...
    def show(self, ref: str) -> dict[str, Any]: ...
    def diff(self, a: str, b: str) -> dict[str, Any]: ...
    def training_set(
        self,
        entities: str,
        features: list[str],
        *,
        as_of: str,
        domain: str = "experimentation",
        inclusive: bool = False,
        known_by: bool = True,
        save: str | None = None,
        file: str | Path | None = None,
    ) -> dict[str, Any]: ...
    def materialize(
        self, ref: str, *, store: str = "sqlite", domain: str = "production", full: bool = False
    ) -> dict[str, Any]: ...
    def get(
        self,
        ref: str,
        keys: list[list[Any]],
        *,
        domain: str = "production",
        store: str = "sqlite",
        features: list[str] | None = None,
    ) -> dict[str, Any]: ...
    def check(
        self, ref: str, *, store: str = "sqlite", sample: int = 100, domain: str = "production"
    ) -> dict[str, Any]: ...


class MonitoringApi(Protocol):
    """Monitors over governed datasets: n-aware drift, metric anomalies, alerts, feedback."""

    def add(
        self,
        name: str,
        *,
        source: str,
        time_column: str,
        period: str = "day",
        domain: str = "production",
        dimensions: list[str] | None = None,
        features: list[str] | None = None,
        reference: str | None = None,
        metrics: list[str] | None = None,
        alpha: float = 0.05,
        persistence: str = "1/1",
        max_slices: int = 50,
        freshness: int = 2,
        schedule: str | None = None,
        flag: str | None = None,
        retrain: dict[str, Any] | None = None,
        ground_truth: dict[str, Any] | None = None,
        after: list[str] | None = None,
    ) -> dict[str, Any]:
        """Declare a monitor (``metrics``: NAME=AGG:COLUMN or NAME=count; ``persistence``: K/M;
        ``flag``: KEY=VALUE set when a model alert opens; ``retrain``: {workflow, params,
        cooldown, max_per}, a run started when a model alert opens; ``ground_truth``: {labels,
        metric, baseline, tolerance, min_labels, label_column, prediction_column, key}, a model
        metric per window against labels joined by request id; ``after``: upstream monitors
        whose data must be ok for the latest window before this one judges any)."""
        ...

    def list(self, namespace: str | None = None) -> list[dict[str, Any]]: ...
    def show(self, name: str) -> dict[str, Any]: ...
    def run(self, name: str, *, now: str | None = None) -> dict[str, Any]:
        """Compute the complete windows not computed yet; open and resolve alerts."""
        ...

    def backfill(self, name: str, *, now: str | None = None) -> dict[str, Any]: ...
    def alerts(
        self, name: str | None = None, *, state: str | None = None
    ) -> list[dict[str, Any]]: ...
    def feedback(
        self,
        target: str,
        kind: str,
        *,
        start: str | None = None,
        end: str | None = None,
        metric: str | None = None,
        dims: dict[str, str] | None = None,
        comment: str = "",
    ) -> dict[str, Any]:
        """Feedback on an alert (its id) or a monitor's range; applies to later windows only."""
        ...

    def tune(
        self, name: str, *, threshold: float | None = None, apply: bool = False
    ) -> dict[str, Any]:
        """Alert counts and precision/recall on history per threshold; ``apply`` sets one."""
        ...

    def remove(self, name: str) -> dict[str, Any]: ...


class GenAIApi(Protocol):
    """Namespace money budgets (enforced by reservation) and the prompts modules define."""

    def budget(self, namespace: str) -> dict[str, Any]: ...
    def set_budget(self, namespace: str, usd: float | None, period: str = "30d") -> dict[str, Any]:
        """Set, or remove (None), a namespace's USD budget per rolling period (admins)."""
        ...

    def prompts(self, module: str | None = None) -> list[dict[str, Any]]: ...
    def prompt(self, ref: str) -> dict[str, Any]: ...


class Studio(Protocol):
    """mlstudio, as one actor sees it: local (:class:`~mlstudio.app.local.LocalStudio`) or
    through a server (:class:`~mlstudio.client.Client`)."""

    remote: bool

    @property
    def users(self) -> UsersApi: ...
    @property
    def tokens(self) -> TokensApi: ...
    @property
    def audit(self) -> AuditApi: ...
    @property
    def domains(self) -> DomainsApi: ...
    @property
    def namespaces(self) -> NamespacesApi: ...
    @property
    def modules(self) -> ModulesApi: ...
    @property
    def runs(self) -> RunsApi: ...
    @property
    def cache(self) -> CacheApi: ...
    @property
    def datasets(self) -> DatasetsApi: ...
    @property
    def declassifiers(self) -> DeclassifiersApi: ...
    @property
    def schedules(self) -> SchedulesApi: ...
    @property
    def webhooks(self) -> WebhooksApi: ...
    @property
    def storage(self) -> StorageApi: ...
    @property
    def tracking(self) -> TrackingApi: ...
    @property
    def models(self) -> ModelsApi: ...
    @property
    def features(self) -> FeaturesApi: ...
    @property
    def evaluation(self) -> EvaluationApi: ...
    @property
    def flags(self) -> FlagsApi: ...
    @property
    def monitoring(self) -> MonitoringApi: ...
    @property
    def deployments(self) -> DeploymentsApi: ...
    @property
    def genai(self) -> GenAIApi: ...
    def close(self) -> None: ...
