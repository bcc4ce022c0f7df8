"""An OpenFeature provider over mlstudio's flags, so any application using the OpenFeature SDK
(``pip install openfeature-sdk``) reads the same flags as the serving processes::

    from openfeature import api
    from mlstudio.integrations.serving.openfeature_provider import MlstudioProvider

    api.set_provider_and_wait(MlstudioProvider.from_settings())
    client = api.get_client()
    client.get_boolean_value("serve.churn.kill", False)

It evaluates from a :class:`~mlstudio.integrations.serving.flags.FlagCache` (refreshed in the
background); the targeting key of the evaluation context is the split's subject and its
attributes feed the targeting rules. Reasons and error codes map one to one.
"""

from __future__ import annotations

import threading
from typing import Any

from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import ErrorCode, FlagResolutionDetails, Reason
from openfeature.provider import AbstractProvider
from openfeature.provider.metadata import Metadata

from mlstudio.integrations.serving.flags import FlagCache


class MlstudioProvider(AbstractProvider):
    def __init__(self, cache: FlagCache, *, owns_store: Any = None) -> None:
        super().__init__()
        self.cache = cache
        self._stop = threading.Event()
        self._owns = owns_store

    @classmethod
    def from_settings(cls, refresh_s: float = 0.5) -> MlstudioProvider:
        """A provider on this process's installation (``MLSTUDIO_DATABASE_URL`` or the home)."""
        from mlstudio.platform import Platform

        platform = Platform.open(bootstrap=False)
        return cls(FlagCache(platform.store, refresh_s), owns_store=platform)

    def get_metadata(self) -> Metadata:
        return Metadata(name="mlstudio")

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        self.cache.refresh()
        self.cache.start(self._stop)

    def shutdown(self) -> None:
        self._stop.set()
        if self._owns is not None:
            self._owns.close()

    def _details(
        self, key: str, default: Any, context: EvaluationContext | None
    ) -> FlagResolutionDetails[Any]:
        subject = context.targeting_key if context is not None else None
        attributes = dict(context.attributes) if context is not None else {}
        r = self.cache.evaluate(key, default, subject=subject, context=attributes)
        return FlagResolutionDetails(
            value=r.value,
            reason=Reason(r.reason),
            variant=r.variant,
            error_code=ErrorCode(r.error_code) if r.error_code else None,
            error_message=r.error_message,
        )

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        return self._details(flag_key, default_value, evaluation_context)

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        return self._details(flag_key, default_value, evaluation_context)

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        return self._details(flag_key, default_value, evaluation_context)

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        return self._details(flag_key, default_value, evaluation_context)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Any,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Any]:
        return self._details(flag_key, default_value, evaluation_context)
