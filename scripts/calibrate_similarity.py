"""Measure where to set the matching threshold, on the bundled CRScore data.

Comments on different changes almost never make the same point, so their
similarities show how often an unrelated pair would be matched by mistake. Comments
on the same change often do make the same point. For each threshold the script
prints the share of each kind of pair at or above it, and the share of comments
whose best partner among as many comments of *other* changes reaches it (a false
match the one-to-one matcher could make).

    python scripts/calibrate_similarity.py cases/crscore-*.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from pytest_aicr.matching import Embedder

THRESHOLDS = (0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)


def load_changes(paths: list[Path]) -> list[list[str]]:
    """Comment texts of every change, per change."""
    changes = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            texts = list(dict.fromkeys(o["output"] for o in record["outputs"]))
            if len(texts) > 1:
                changes.append(texts)
    return changes


def main() -> None:
    """Print the share of pairs at or above each threshold."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="+", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    changes = load_changes(args.datasets)
    texts = [text for change in changes for text in change]
    owner = np.array([i for i, change in enumerate(changes) for _ in change])
    vectors = Embedder().embed(texts)
    similarity = vectors @ vectors.T
    same = owner[:, None] == owner[None, :]
    upper = np.triu(np.ones_like(same), k=1).astype(bool)
    within = similarity[same & upper]
    across = similarity[~same & upper]
    best_other = _best_among_random_others(similarity, owner, changes, args.seed)
    out = sys.stdout
    out.write(
        f"{len(changes)} changes, {len(texts)} distinct comments, "
        f"{within.size} same-change pairs, {across.size} cross-change pairs\n"
    )
    out.write("threshold  same-change>=t  cross-change>=t  best-of-other-change>=t\n")
    for t in THRESHOLDS:
        out.write(
            f"{t:9.2f}  {np.mean(within >= t):14.3%}  {np.mean(across >= t):15.3%}"
            f"  {np.mean(best_other >= t):23.3%}\n"
        )
    for q in (0.99, 0.999):
        out.write(f"cross-change quantile {q}: {np.quantile(across, q):.3f}\n")


def _best_among_random_others(
    similarity: np.ndarray, owner: np.ndarray, changes: list[list[str]], seed: int
) -> np.ndarray:
    """Each comment's best similarity among a random other change's comments."""
    rng = np.random.default_rng(seed)
    starts = np.cumsum([0] + [len(c) for c in changes])
    best = np.empty(len(owner))
    for i, change in enumerate(owner):
        other = rng.integers(0, len(changes) - 1)
        other += other >= change
        best[i] = similarity[i, starts[other] : starts[other + 1]].max()
    return best


if __name__ == "__main__":
    main()
