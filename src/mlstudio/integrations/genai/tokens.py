"""Token counting when no tokenizer is at hand: a documented approximation.

OpenAI's rule of thumb for English is about four characters per token; for other scripts a
token covers fewer characters, so the estimate takes the larger of ``ceil(bytes / 4)`` (UTF-8
bytes, so non-Latin text counts more) and the number of words and punctuation marks. It is
an estimate for budgeting, never used where an exact count is available (a tokenizer, or the
``usage`` an endpoint returns)."""

from __future__ import annotations

import math
import re

_PIECES = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def approximate_tokens(text: str) -> int:
    """About how many tokens ``text`` is (0 for an empty text)."""
    if not text:
        return 0
    return max(math.ceil(len(text.encode("utf-8")) / 4), len(_PIECES.findall(text)))
