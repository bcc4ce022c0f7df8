"""Text scores for one (prediction, reference) pair: exact match, token F1, ROUGE-L, similarity.

Normalisation is SQuAD-style (lowercase, punctuation and the articles a/an/the removed,
whitespace collapsed). ROUGE-L tokenises the same way but keeps articles. ``similarity`` is a
*lexical* proxy: cosine similarity of hashed character 3-gram count vectors (no model is
downloaded); pass ``embed`` to :func:`similarity_scores` to use a real embedding model instead.
"""

from __future__ import annotations

import re
import string
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from mlstudio.errors import InvalidInputError

_PUNCT = str.maketrans("", "", string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_SPACES = re.compile(r"\s+")

#: dimension of the hashed n-gram vectors (collisions are rare for short texts at 2**18)
HASH_DIM = 1 << 18


def normalize_text(text: str, *, drop_articles: bool = True) -> str:
    """Lowercase, strip punctuation (and articles unless told not to), collapse whitespace."""
    out = str(text).lower().translate(_PUNCT)
    if drop_articles:
        out = _ARTICLES.sub(" ", out)
    return _SPACES.sub(" ", out).strip()


def tokens(text: str, *, drop_articles: bool = True) -> list[str]:
    """The normalised text split on whitespace."""
    norm = normalize_text(text, drop_articles=drop_articles)
    return norm.split() if norm else []


def exact_match(prediction: str, reference: str) -> float:
    """1.0 when the normalised strings are equal, else 0.0."""
    return float(normalize_text(prediction) == normalize_text(reference))


def token_f1(prediction: str, reference: str) -> float:
    """Harmonic mean of token precision and recall (bag of normalised tokens).

    Two empty texts score 1.0; one empty text scores 0.0.
    """
    pred, ref = tokens(prediction), tokens(reference)
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token lists.

    Bit-parallel dynamic programming (Allison-Dix; Hyyro 2004): one big-integer bit per token
    of ``a``, so long texts cost O(len(a) * len(b) / 64) machine operations, not a Python loop
    over every cell.
    """
    if not a or not b:
        return 0
    masks: dict[str, int] = {}
    for i, token in enumerate(a):
        masks[token] = masks.get(token, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for token in b:
        u = v & masks.get(token, 0)
        v = ((v + u) | (v - u)) & full
    return len(a) - v.bit_count()


def rouge_l(prediction: str, reference: str, *, beta: float = 1.0) -> float:
    """ROUGE-L F-measure: LCS-based precision and recall on tokens (articles kept).

    ``beta`` weights recall as in Lin (2004); beta = 1 is the usual F1. Two empty texts score
    1.0; one empty text scores 0.0.
    """
    pred = tokens(prediction, drop_articles=False)
    ref = tokens(reference, drop_articles=False)
    if not pred or not ref:
        return float(pred == ref)
    lcs = lcs_length(pred, ref)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(pred), lcs / len(ref)
    b2 = beta * beta
    return (1 + b2) * precision * recall / (recall + b2 * precision)


def char_ngrams(text: str, n: int = 3) -> list[str]:
    """Character n-grams of the lowercased, whitespace-collapsed text padded with one space."""
    padded = f" {_SPACES.sub(' ', str(text).lower()).strip()} "
    if len(padded.strip()) == 0:
        return []
    return [padded[i : i + n] for i in range(max(1, len(padded) - n + 1))]


def hashed_ngram_vectors(texts: Sequence[str], *, n: int = 3, dim: int = HASH_DIM) -> Any:
    """Sparse hashed n-gram count vectors: one ``(indices, counts)`` numpy pair per text.

    The hashing uses CRC32, so the vectors are the same on every run and machine (Python's
    ``hash`` is salted per process).
    """
    import numpy as np

    rows = []
    for text in texts:
        grams = char_ngrams(text, n)
        if not grams:
            rows.append((np.zeros(0, dtype=np.int64), np.zeros(0)))
            continue
        idx = np.fromiter((zlib.crc32(g.encode()) % dim for g in grams), dtype=np.int64)
        uniq, counts = np.unique(idx, return_counts=True)
        rows.append((uniq, counts.astype(float)))
    return rows


def _sparse_cosine(u: tuple[Any, Any], v: tuple[Any, Any]) -> float:
    import numpy as np

    (iu, cu), (iv, cv) = u, v
    if len(iu) == 0 or len(iv) == 0:
        return float(len(iu) == len(iv))
    _, pu, pv = np.intersect1d(iu, iv, assume_unique=True, return_indices=True)
    dot = float(np.dot(cu[pu], cv[pv]))
    return dot / float(np.linalg.norm(cu) * np.linalg.norm(cv))


def ngram_similarity(prediction: str, reference: str, *, n: int = 3) -> float:
    """Cosine similarity of hashed character n-gram count vectors (a lexical proxy, 0..1)."""
    u, v = hashed_ngram_vectors([prediction, reference], n=n)
    return _sparse_cosine(u, v)


def similarity_scores(
    predictions: Sequence[str],
    references: Sequence[str],
    embed: Callable[[list[str]], Any] | None = None,
) -> Any:
    """Per-pair similarity: cosine of ``embed`` vectors, or the hashed 3-gram proxy without one.

    ``embed`` takes a list of strings and returns a (len, d) array; zero vectors score NaN.
    """
    import numpy as np

    if len(predictions) != len(references):
        raise InvalidInputError(
            f"{len(predictions)} predictions for {len(references)} references",
            hint="pass one prediction per reference",
        )
    if embed is None:
        out = np.empty(len(predictions))
        for i, (p, r) in enumerate(zip(predictions, references, strict=True)):
            out[i] = ngram_similarity(p, r)
        return out
    try:
        ep = np.asarray(embed([str(p) for p in predictions]), dtype=float)
        er = np.asarray(embed([str(r) for r in references]), dtype=float)
    except Exception as exc:  # the user's model: name it, keep the cause
        raise InvalidInputError(
            f"the embedding function raised {type(exc).__name__}: {exc}",
            hint="check the embed callable on a list of strings",
        ) from exc
    n = len(predictions)
    if ep.ndim != 2 or er.ndim != 2 or ep.shape[0] != n or er.shape != ep.shape:
        raise InvalidInputError(
            f"the embedding function returned shapes {ep.shape} and {er.shape} for {n} texts",
            hint="embed(list_of_n_strings) must return an (n, d) array",
        )
    norms = np.linalg.norm(ep, axis=1) * np.linalg.norm(er, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, np.einsum("ij,ij->i", ep, er) / norms, np.nan)
