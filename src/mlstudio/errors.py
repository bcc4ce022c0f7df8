"""The one exception tree of mlstudio.

Every error a user can cause is an ``MlstudioError`` with a one-line message that names the
problem and, where there is one, the fix (``hint``). The CLI turns them into an exit code and the
API into an HTTP status through the class attributes below; nothing else maps errors.
"""

from __future__ import annotations

from typing import Any


class MlstudioError(Exception):
    """Base of every error mlstudio raises on purpose."""

    exit_code: int = 1
    http_status: int = 500
    code: str = "error"

    def __init__(self, message: str, *, hint: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details

    def one_line(self) -> str:
        """The message and its fix on one line, as printed by the CLI."""
        text = self.message.replace("\n", " ")
        return f"{text} ({self.hint})" if self.hint else text

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.hint:
            out["hint"] = self.hint
        if self.details is not None:
            out["details"] = self.details
        return out


# --- bad input --------------------------------------------------------------------------------
class InvalidInputError(MlstudioError, ValueError):
    """The caller passed something malformed; nothing was changed."""

    exit_code = 2
    http_status = 400
    code = "invalid_input"


class InvalidNameError(InvalidInputError):
    code = "invalid_name"


class ManifestError(InvalidInputError):
    code = "invalid_manifest"


class ModuleImportError(InvalidInputError):
    """A module's code failed to import (points at file and line)."""

    code = "module_import_failed"


class ArchiveError(InvalidInputError):
    """An archive is malformed or unsafe (absolute paths, ``..``, links)."""

    code = "unsafe_archive"


class WorkflowValidationError(InvalidInputError):
    """A workflow is invalid; ``details`` lists every problem found."""

    code = "invalid_workflow"


class ParameterError(InvalidInputError):
    code = "invalid_parameter"


class UnsupportedOperationError(InvalidInputError):
    """A provider's model does not do what was asked (an embedding model asked to generate)."""

    code = "unsupported_operation"


class PayloadTooLargeError(InvalidInputError):
    http_status = 413
    code = "payload_too_large"


# --- lookup and state -------------------------------------------------------------------------
class NotFoundError(MlstudioError, LookupError):
    exit_code = 3
    http_status = 404
    code = "not_found"


class ConflictError(MlstudioError):
    """The request clashes with the current state (already exists, wrong state)."""

    exit_code = 5
    http_status = 409
    code = "conflict"


class StateError(ConflictError):
    code = "invalid_state"


class BudgetExceededError(ConflictError):
    """Work was refused because its estimated cost does not fit in what is left of a money
    budget; the message gives the numbers. Nothing was spent on it."""

    http_status = 402
    code = "budget_exceeded"


class InUseError(ConflictError):
    """A deletion was refused: something still needs what it would delete (``details`` says
    what)."""

    code = "in_use"


# --- identity and governance ------------------------------------------------------------------
class AuthenticationError(MlstudioError):
    exit_code = 4
    http_status = 401
    code = "unauthenticated"


class PermissionDeniedError(MlstudioError, PermissionError):
    exit_code = 4
    http_status = 403
    code = "permission_denied"


class PolicyViolationError(PermissionDeniedError):
    """A governance policy (domain clearance, labels, persistence) refused a read or write."""

    code = "policy_violation"


# --- integrity and infrastructure -------------------------------------------------------------
class IntegrityError(MlstudioError):
    """Stored data does not match its digest, or metadata is inconsistent."""

    exit_code = 6
    http_status = 500
    code = "integrity_error"


class CorruptArtifactError(IntegrityError):
    code = "corrupt_artifact"


class ConfigurationError(MlstudioError):
    exit_code = 7
    http_status = 500
    code = "configuration_error"


class StoreUnavailableError(MlstudioError):
    exit_code = 7
    http_status = 503
    code = "store_unavailable"


class ServerBusyError(StoreUnavailableError):
    """The server has as many requests in flight as it takes; it did not start this one (the
    answer carries ``Retry-After``, and the client retries)."""

    code = "server_busy"


# --- execution --------------------------------------------------------------------------------
class ExecutionError(MlstudioError):
    exit_code = 8
    http_status = 500
    code = "execution_failed"


class ModuleTestsFailedError(ExecutionError):
    code = "module_tests_failed"


class EnvironmentBuildError(ExecutionError):
    code = "environment_build_failed"


class TaskFailedError(ExecutionError):
    code = "task_failed"


class TaskTimeoutError(TaskFailedError):
    code = "task_timeout"


class RunFailedError(ExecutionError):
    code = "run_failed"


class SerializationError(ExecutionError):
    code = "serialization_failed"


class ProviderError(ExecutionError):
    """A model provider (a local packaged model or an HTTP endpoint) failed to answer after its
    retries; the message names the endpoint, the attempts and the last cause."""

    http_status = 502
    code = "provider_failed"


__all__ = [name for name in dir() if name.endswith("Error")]
