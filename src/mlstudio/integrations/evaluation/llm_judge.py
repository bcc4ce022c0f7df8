"""An LLM as a pairwise judge: ``--judge llm:PROVIDER`` (a GenAI provider spec).

The model sees the question (when the evaluation set has one), the reference answer (with
``--label``) and two answers labelled X and Y, and must answer ``X``, ``Y`` or ``TIE``.
:func:`~.judges.judge_pairwise` calls it in both orders, so a model that prefers whichever
answer comes first shows up as inconsistent items. An answer that is none of the three is
counted as a tie and reported in a note (an LLM's format slips are data, not a crash). A
provider that fails after its retries stops the judgement before anything is stored.

The judge runs where the studio runs, so on a server a user names an environment variable of
the *server's* process. Only keys kept for that purpose may be named, and each only for its
own endpoint: ``MLSTUDIO_GENAI_KEY_<NAME>`` is sent only to the URL in
``MLSTUDIO_GENAI_URL_<NAME>`` (:func:`check_key_env`). Otherwise a caller could have the server
send any of its secrets to a URL of the caller's choosing.
"""

from __future__ import annotations

import re
from typing import Any

SYSTEM = (
    "You compare two answers to the same question and decide which one is better: more "
    "correct, more complete and more faithful to the reference when one is given. "
    "Reply with exactly one word: X if answer X is better, Y if answer Y is better, or TIE."
)
KEY_PREFIX, URL_PREFIX = "MLSTUDIO_GENAI_KEY_", "MLSTUDIO_GENAI_URL_"
_VERDICT = re.compile(r"^\W*(x|y|tie)\b", re.IGNORECASE)


def parse_verdict(text: str) -> str | None:
    """``"x"`` | ``"y"`` | ``"tie"`` from the model's reply, or None when it is none of them."""
    found = _VERDICT.match(text or "")
    return found.group(1).lower() if found else None


def check_key_env(key_env: str, spec: str) -> None:
    """Refuse a key variable that is not ``MLSTUDIO_GENAI_KEY_<NAME>`` kept for ``spec``'s URL."""
    import os

    from mlstudio.errors import InvalidInputError

    name = key_env.removeprefix(KEY_PREFIX)
    if not key_env.startswith(KEY_PREFIX) or not name:
        raise InvalidInputError(
            f"--judge-key-env {key_env}: a judge may only use keys named {KEY_PREFIX}<NAME>",
            hint=f"keep the endpoint's key in {KEY_PREFIX}<NAME> and its URL in {URL_PREFIX}<NAME>",
        )
    url = spec.partition(":")[2].rstrip("/")
    allowed = (os.environ.get(URL_PREFIX + name) or "").rstrip("/")
    if not spec.startswith("openai:") or allowed != url:
        raise InvalidInputError(
            f"{key_env} is kept for {allowed or 'no endpoint'}, not {url}",
            hint=f"set {URL_PREFIX}{name}={url} where the judge runs, or use that endpoint",
        )


class LLMJudge:
    """``judge(item, x, y)`` asking ``provider`` (a :class:`~mlstudio.integrations.genai.
    providers.Provider`); keeps the calls' usage and the unreadable replies for the report."""

    def __init__(
        self,
        provider: Any,
        *,
        questions: list[Any] | None = None,
        references: list[Any] | None = None,
        max_tokens: int = 8,
    ) -> None:
        from mlstudio.integrations.genai.providers import Usage

        self.provider = provider
        self.questions = questions
        self.references = references
        self.max_tokens = max_tokens
        self.usage = Usage(0, 0, 0.0)
        self.calls = 0
        self.unreadable: list[str] = []

    def messages(self, item: dict[str, Any], x: Any, y: Any) -> list[dict[str, str]]:
        i = item["index"]
        parts = []
        if self.questions is not None:
            parts.append(f"Question:\n{self.questions[i]}")
        if self.references is not None:
            parts.append(f"Reference answer:\n{self.references[i]}")
        parts += [f"Answer X:\n{x}", f"Answer Y:\n{y}", "Which answer is better: X, Y or TIE?"]
        return [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "\n\n".join(parts)},
        ]

    def __call__(self, item: dict[str, Any], x: Any, y: Any) -> str:
        answer = self.provider.generate(
            self.messages(item, x, y), max_tokens=self.max_tokens, temperature=0.0
        )
        self.calls += 1
        self.usage = self.usage + answer.usage
        verdict = parse_verdict(answer.text)
        if verdict is None:
            self.unreadable.append(answer.text[:80])
            return "tie"
        return verdict

    def note_for(self, items: Any) -> str | None:
        if not self.unreadable:
            return None
        return (
            f"{len(self.unreadable)} of {self.calls} replies were not X, Y or TIE and count "
            f"as ties (first: {self.unreadable[0]!r})"
        )

    def describe(self) -> dict[str, Any]:
        """What the judgement cost: calls, tokens, seconds and USD at the provider's price."""
        usage = self.usage
        return {
            "provider": self.provider.name,
            "model": self.provider.model,
            "calls": self.calls,
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "seconds": round(usage.compute_s, 3),
            "cost_usd": self.provider.price.cost(usage),
            "unreadable": len(self.unreadable),
        }
