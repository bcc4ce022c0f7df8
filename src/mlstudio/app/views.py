"""The shapes the application interface returns: plain dicts, typed.

Both implementations of :class:`mlstudio.app.interface.Studio` return these (the local one
builds them, the HTTP client returns what the API sent, which the API built with the local
one), so ``--json`` output is the same byte for byte in both modes. They are ``TypedDict``\\ s:
free at run time (no model layer on the CLI's start-up path), checked statically, and the
API's response models (``api/schemas``) document the same keys for OpenAPI; a test keeps the
two in step. Keys beyond the declared ones may appear (a newer server): readers must ignore
what they do not know.
"""

from typing import Any, NotRequired

from typing_extensions import TypedDict

Json = dict[str, Any]


# --- identity ---------------------------------------------------------------------------------
class GrantView(TypedDict):
    role: str
    scope_kind: str
    scope: str


class WhoamiView(TypedDict):
    user: str
    registered: bool
    disabled: bool
    grants: list[Json]


class UserView(TypedDict):
    name: str
    created_at: str
    created_by: str | None
    disabled: bool
    role: NotRequired[str | None]  # in the answer to an add
    grants: NotRequired[list[Json]]  # in a listing


class GrantChangeView(TypedDict):
    user: str
    role: str
    scope_kind: str
    scope: str
    added: NotRequired[bool]
    removed: NotRequired[bool]


class TokenView(TypedDict):
    id: str
    user: str
    description: str
    created_by: str
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    last_used_at: str | None
    state: NotRequired[str]  # active | expired | revoked
    token: NotRequired[str]  # the secret, in the answer to a create only
    warning: NotRequired[str]


class AuditEventView(TypedDict):
    id: int
    at: str
    actor: str
    action: str
    resource: str
    decision: str
    details: Json


# --- governance -------------------------------------------------------------------------------
class DomainView(TypedDict):
    name: str
    clearance: str
    readable_labels: list[str] | None  # None: all
    denied_labels: list[str]
    pseudonymous_readable: bool
    readable_domains: list[str] | None  # None: all
    may_persist: bool
    promoted_only: bool
    description: str
    members: NotRequired[list[Json]]  # in `show`


class DomainRemovalView(TypedDict):
    name: str
    removed: bool
    revoked: list[Json]  # the grants on it that went with it: {user, role}


class NamespaceView(TypedDict):
    name: str
    description: str
    created_by: str
    created_at: str
    max_running_runs: int | None
    max_running_tasks: int | None
    owner: NotRequired[str]  # in the answer to a create
    members: NotRequired[list[Json]]  # in a listing


class NamespaceGrantView(TypedDict):
    namespace: str
    user: str
    role: str
    added: bool


class QuotaView(TypedDict):
    namespace: str
    max_running_runs: int | None
    max_running_tasks: int | None
    running_runs: int
    running_tasks: int


# --- modules ----------------------------------------------------------------------------------
class ModuleView(TypedDict):
    full_name: str
    namespace: str
    name: str
    description: str
    latest_version: int
    created_at: str
    updated_at: str
    tags: dict[str, int]


class ModuleShowView(TypedDict):
    module: Json
    selected: Json
    versions: list[Json]
    tags: list[Json]
    tag_history: list[Json]


class PushView(TypedDict):
    module: str
    version: int
    ref: str
    digest: str
    unchanged: bool
    tests: Json
    tests_passed: bool
    changes: NotRequired[Json | None]  # against the previous version (None: the first push)


class TagMoveView(TypedDict):
    module: str
    tag: str
    moved: bool
    to: int
    warning: NotRequired[str]
    gate: NotRequired[dict[str, Any]]  # a gated tag: the evaluation gate's verdict
    monitors: NotRequired[list[dict[str, Any]]]  # latest: the [monitors] it declares, synced


# --- runs -------------------------------------------------------------------------------------
class RunView(TypedDict):
    id: str
    workflow: str
    namespace: str | None
    state: str
    params: Json
    domain: str
    trigger: str
    executor: str
    created_by: str
    created_at: str
    started_at: str | None
    finished_at: str | None
    error: str | None
    priority: int
    duration_s: float | None
    tasks: NotRequired[dict[str, int]]  # in a listing: task runs by state
    waiting: NotRequired[str]  # in a listing: why a queued run waits
    # running/cancelling: is its engine alive (process or heartbeat)? None otherwise
    engine_alive: NotRequired[bool | None]
    engine_note: NotRequired[str | None]  # a dead engine: what happened and the fix
    # its model calls (GenAI): USD spent, reserved now and the estimate to finish
    cost: NotRequired[dict[str, float] | None]


class TaskRunView(TypedDict):
    node: str
    kind: str
    task: str
    state: str
    attempt: int
    cache_hit: bool
    cache_key: str | None
    duration_s: float | None
    error: str | None
    started_at: NotRequired[str | None]  # ISO times of the task run (a timeline's bars)
    finished_at: NotRequired[str | None]
    deps: NotRequired[list[str]]  # the nodes it depends on (a graph's edges)
    explain: NotRequired[Json]
    reads: NotRequired[Json]  # the read set's counts and what it could not follow (readset)


class RunShowView(RunView):
    lock: Json
    output_value: Any
    tasks: list[TaskRunView]  # type: ignore[misc]  # a show lists them, a listing counts them
    pinned: NotRequired[Json | None]  # {reason, by, at}, or None
    triggered_by: NotRequired[Json | None]  # what started it: {monitor, alert}, or None


class TaskStateView(TypedDict):
    node: str
    state: str
    cache_hit: bool


class RunStatesView(TypedDict):
    """A run's state and each task's: what a live view polls (``runs.states``)."""

    id: str
    state: str
    tasks: list[TaskStateView]


class LogView(TypedDict):
    node: str
    attempt: int
    text: str
    state: NotRequired[str]  # the attempt's state ("retried": a later attempt followed)
    note: NotRequired[str]  # why it has no output (it never started)


class LogTailView(TypedDict):
    """What a run's attempts printed since a cursor (``runs logs --follow``)."""

    run: str  # the run's state
    entries: list[LogView]  # attempts with new text (or a note), in order
    cursor: str  # pass it to the next call
    done: bool  # everything followed ended and all of its output was returned
    engine_alive: NotRequired[bool | None]  # not done: as in a run's listing
    engine_note: NotRequired[str | None]


class DetachedView(TypedDict):
    id: str
    state: str
    detached_pid: NotRequired[int]


class OutputView(TypedDict):
    run: str
    node: str | None  # None: the workflow's output
    task: str | None
    kind: str  # table | json | pickle
    type: str
    format: str  # csv | parquet | json | pickle
    file: str
    size_bytes: int
    rows: int | None
    columns: list[str] | None
    domain: str  # the domain it was read under


class PinView(TypedDict):
    run: str
    pinned: bool
    changed: bool
    reason: str | None
    pinned_by: str | None
    pinned_at: str | None


class CacheStatsView(TypedDict):
    hits: int
    misses: int
    hit_ratio: float
    saved_s: float
    entries: int
    per_workflow: dict[str, Json]


class CacheClearView(TypedDict):
    removed: int


# --- data -------------------------------------------------------------------------------------
class DatasetListView(TypedDict):
    name: str
    version: int
    ref: str
    domain: str
    rows: int
    columns: int
    unclassified: int
    max_level: str
    labels: list[str]


class DatasetView(TypedDict):
    name: str
    version: int
    ref: str
    namespace: str
    domain: str
    digest: str
    rows: int
    columns: list[Json]
    unclassified: list[str]
    changes: NotRequired[list[Json]]  # in the answer to a classify
    # in the answer to an import: what changed since the previous version (None: the first)
    schema_changes: NotRequired[Json | None]


class LineageView(TypedDict):
    dataset: str
    columns: list[Json]


class ExportView(TypedDict):
    dataset: str
    file: str
    rows: int
    domain: str


class HeadView(TypedDict):
    dataset: str
    domain: str
    columns: list[str]  # the columns shown
    rows: list[Json]
    total_rows: int
    withheld: list[Json]  # columns the domain may not read: {column, reason}


class DeletionView(TypedDict):
    kind: str  # dataset | module
    name: str
    versions: list[int]  # deleted
    remaining: list[int]
    deleted: list[Json]  # {ref, digest, created_at}


class DeclassifierView(TypedDict):
    id: str
    module: str
    task: str
    columns: list[str]
    lower_to: str | None
    remove_labels: list[str]
    state: str


# --- storage ----------------------------------------------------------------------------------
class GcView(TypedDict):
    dry_run: bool
    grace_hours: float
    keep_runs_days: float | None
    started_at: str
    scanned: Json  # {blobs, bytes}: everything in the artifact store
    referenced: Json  # kept: something needs them
    recent: Json  # unreferenced but written within the grace period: kept
    removed: Json  # {blobs, bytes, unreferenced, expired_run_outputs} (would be, in a dry run)
    expired_runs: int  # finished, unpinned runs past --keep-runs-days


# --- schedules and webhooks -------------------------------------------------------------------
class ScheduleView(TypedDict):
    id: str
    workflow: str
    cron: str
    timezone: str
    catchup: str
    params: Json
    domain: str
    state: str
    next_fire_at: str | None
    last_fire_at: str | None
    created_by: str
    created_at: str
    fires: NotRequired[int]
    runs: NotRequired[int]
    recent: NotRequired[list[Json]]
    changed: NotRequired[bool]  # in the answer to pause, resume, remove


class WebhookView(TypedDict):
    id: str
    url: str
    events: list[str]
    active: bool
    created_by: str
    created_at: str
    deliveries: NotRequired[dict[str, int]]  # in a listing
    secret: NotRequired[str]  # in the answer to an add only
    changed: NotRequired[bool]  # in the answer to a remove


class DeliveryView(TypedDict):
    id: int
    webhook_id: str
    event: str
    event_id: str | None
    state: str
    attempts: int
    next_attempt_at: str | None
    last_status: int | None
    last_error: str | None
    last_latency_ms: float | None
    created_at: str
    delivered_at: str | None
    payload: Json
    replay_of: NotRequired[int]


class AttemptView(TypedDict):
    id: int
    delivery_id: int
    webhook_id: str
    attempt: int
    started_at: str
    status: int | None
    error: str | None
    latency_ms: float | None
    sent_by: str


# --- model registry ---------------------------------------------------------------------------
class ModelView(TypedDict):
    name: str
    namespace: str | None
    owner: str
    description: str
    latest_version: int
    aliases: dict[str, int]
    protected_aliases: list[str]
    tags: dict[str, str]
    created_at: str
    updated_at: str


class ModelVersionView(TypedDict):
    model: str
    version: int
    ref: str
    digest: str
    source: str
    status: str
    run_id: str | None
    node: str | None
    task: str | None
    module: str | None
    classification: str
    approval: dict[str, Any]
    aliases: list[str]
    description: str
    tags: dict[str, str]
    lineage: dict[str, Any]
    created_by: str
    created_at: str
    updated_at: str


class ModelShowView(TypedDict):
    model: ModelView
    ref: str
    at: str | None
    selected: ModelVersionView | None
    versions: list[dict[str, Any]]
    alias_history: list[dict[str, Any]]
    decisions: list[dict[str, Any]]
    reads: list[dict[str, Any]]
    gates: dict[str, dict[str, Any]]  # alias -> its evaluation gate


class AliasMoveView(TypedDict):
    model: str
    alias: str
    from_version: int | None
    to_version: int | None
    moved: bool
    actor: NotRequired[str]
    at: NotRequired[str]


class ModelDeletionView(TypedDict):
    name: str
    deleted: bool
    versions: int
