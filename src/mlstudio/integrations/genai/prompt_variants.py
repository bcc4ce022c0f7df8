"""Candidate prompts for a search: combinations of parts, or rewrites proposed by an LLM.

:func:`combine` crosses instructions x templates x few-shot selections (``shots`` examples
drawn with ``seed`` from a table of worked examples, written into the prompt with
``example_format``). :func:`propose` asks a generative model to rewrite a prompt's template
``n`` ways, keeping its placeholders; a rewrite that loses or invents a variable is dropped
(and counted). Both return plain :class:`Prompt` values, named ``NAME_1``, ``NAME_2``…; the
winner of a search over them is kept with the alias that points at it.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Any

from mlstudio.errors import InvalidInputError
from mlstudio.integrations.genai.prompts import Prompt

REWRITE = Prompt(
    "rewrite",
    "Rewrite the prompt template below in {n} different ways that might work better. Keep "
    "every placeholder in curly braces exactly as it is, and keep the same meaning. Answer "
    "with one template per line and nothing else.\n\nTemplate:\n{template}",
    variables={"n": "int64", "template": "string"},
)
_NUMBERED = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s*")


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def combine(
    name: str,
    *,
    templates: Sequence[str],
    instructions: Sequence[str] = ("",),
    examples: Sequence[dict[str, Any]] | None = None,
    shots: Sequence[int] = (0,),
    example_format: str = "Example:\n{input}\nAnswer: {answer}",
    system: str = "",
    seed: int = 0,
) -> list[Prompt]:
    """Every instruction x template x shot count, as prompts (variables: the templates')."""
    if not templates:
        raise InvalidInputError("combine needs at least one template", hint="templates=[...]")
    examples = list(examples or [])
    if any(k > len(examples) for k in shots) or any(k < 0 for k in shots):
        raise InvalidInputError(
            f"shots {list(shots)} need up to {max(shots)} examples, {len(examples)} given",
            hint="give more examples=, or smaller shots=",
        )
    rng = random.Random(seed)
    out: list[Prompt] = []
    for instruction in instructions:
        for template in templates:
            for k in shots:
                chosen = rng.sample(examples, k) if k else []
                try:
                    shown = [_escape(example_format.format(**row)) for row in chosen]
                except KeyError as exc:
                    raise InvalidInputError(
                        f"an example has no field {exc.args[0]!r} that example_format uses",
                        hint="give examples with the fields of example_format",
                    ) from None
                parts = [_escape(instruction)] if instruction else []
                parts += [*shown, template]
                out.append(
                    Prompt(
                        f"{name}_{len(out) + 1}",
                        "\n\n".join(parts),
                        system=system,
                        description=f"{k}-shot"
                        + (f", instruction {instruction[:40]!r}" if instruction else ""),
                    )
                )
    return out


def proposals(base: Prompt, answer: str, n: int) -> tuple[list[Prompt], int]:
    """The valid rewrites in a model's ``answer`` (one per line), and how many were dropped."""
    out: list[Prompt] = [base]
    dropped = 0
    seen = {base.template}
    for line in (answer or "").splitlines():
        text = _NUMBERED.sub("", line).strip().strip('"')
        if not text or text in seen or len(out) > n:
            continue
        try:
            candidate = Prompt(
                f"{base.name}_{len(out)}",
                text,
                variables=base.variables,
                system=base.system,
                description=f"proposed from {base.name}",
            )
        except InvalidInputError:  # lost or invented a placeholder
            dropped += 1
            continue
        seen.add(text)
        out.append(candidate)
    return out, dropped
