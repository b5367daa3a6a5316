"""Matching with the real packaged MiniLM model."""

import numpy as np
import pytest

from pytest_aicr.matching import (
    Embedder,
    cpu_share,
    match_one_to_one,
    similarity_matrix,
)


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


def test_paraphrase_scores_above_unrelated(embedder: Embedder) -> None:
    vectors = embedder.embed(
        [
            "This file is opened but never closed; use a with statement.",
            "The file handle is never closed, please wrap it in a with block.",
            "Rename the variable to something more descriptive.",
        ]
    )
    similarity = similarity_matrix(vectors[:1], vectors[1:])
    assert similarity[0, 0] > 0.6 > similarity[0, 1]


def test_embeddings_are_unit_length_and_cached(embedder: Embedder) -> None:
    first = embedder.embed(["same text", "other"])
    again = embedder.embed(["other", "same text"])
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-4)
    assert np.array_equal(first[0], again[1])


def test_more_texts_at_once_than_the_cache_holds() -> None:
    small = Embedder(cache_size=2)
    texts = ["first comment", "second comment", "third comment", "first comment"]
    vectors = small.embed(texts)
    assert vectors.shape[0] == 4
    assert np.array_equal(vectors[0], vectors[3])
    assert np.array_equal(small.embed(["third comment"])[0], vectors[2])


def test_one_to_one_maximises_total_similarity() -> None:
    similarity = np.array([[0.9, 0.8], [0.85, 0.1]])
    pairs = match_one_to_one(similarity, 0.6)
    assert sorted((r, c) for r, c, _ in pairs) == [(0, 1), (1, 0)]


def test_pairs_below_threshold_never_match() -> None:
    similarity = np.array([[0.59, 0.2], [0.1, 0.61]])
    assert [(r, c) for r, c, _ in match_one_to_one(similarity, 0.6)] == [(1, 1)]


def test_one_truth_is_never_credited_twice() -> None:
    similarity = np.array([[0.95], [0.94], [0.93]])
    assert len(match_one_to_one(similarity, 0.6)) == 1


def test_empty_sides() -> None:
    assert match_one_to_one(np.zeros((0, 3)), 0.6) == []


def test_cpu_share_divides_cores_among_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "64")
    assert cpu_share() == 1
