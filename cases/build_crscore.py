"""Build grouped JSONL test cases from the CRScore human study (Python and Java).

Usage: python cases/build_crscore.py SOURCE_DIR [--out-dir DIR]

SOURCE_DIR holds ``{py,java}_{annotator1,annotator2}_review_qual_final.csv``.
One output line per code change; each rated, non-empty review comment becomes an
output labelled from its relevance rating ``Rel (F)``: 4-5 -> 0 (helpful),
1-2 -> 1 (not helpful), 3 -> 2 (helpful but no change needed).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ANNOTATORS = ("annotator1", "annotator2")
LANGUAGES = {"py": "python", "java": "java"}
RATING_COLUMNS = ("Con (P)", "Comp (R)", "Rel (F)")
RELEVANCE = "Rel (F)"
REQUIRED_COLUMNS = ("id", "diff", "review", "system", *RATING_COLUMNS)
RATING_MIN, RATING_MAX = 1, 5
HELPFUL_MIN, UNHELPFUL_MAX = 4, 2
CLASSES = ("positive", "negative", "optimizable")

Record = dict[str, object]


class SourceError(Exception):
    """Raised when a source file does not have the expected shape or values."""


@dataclass
class Comment:
    """One review comment row."""

    text: str
    system: str
    relevance: int | None


@dataclass
class Change:
    """One code change with its review comments, as read from one file."""

    change_id: str
    diff: str
    comments: list[Comment] = field(default_factory=list)

    def is_rated(self) -> bool:
        """Return whether at least one comment has a relevance rating."""
        return any(c.relevance is not None for c in self.comments)


@dataclass
class Stats:
    """Counts and oddities for one language."""

    samples: Counter[str] = field(default_factory=Counter)
    labels: Counter[int] = field(default_factory=Counter)
    unrated_comments: int = 0
    empty_comments: int = 0
    skipped_changes: int = 0
    rated_in_both: list[str] = field(default_factory=list)
    diff_mismatch: list[str] = field(default_factory=list)
    review_mismatch: list[str] = field(default_factory=list)

    def rows(self) -> list[tuple[str, int]]:
        """Return the counts as (name, value) rows."""
        return [
            *((f"samples: {c}", self.samples[c]) for c in CLASSES),
            ("samples: total", self.samples.total()),
            *((f"comments: label {v}", self.labels[v]) for v in (0, 1, 2)),
            ("comments: total", self.labels.total()),
            ("comments skipped: unrated", self.unrated_comments),
            ("comments skipped: empty text", self.empty_comments),
            ("changes skipped: no rated comment", self.skipped_changes),
            ("changes rated in both files", len(self.rated_in_both)),
        ]


def parse_rating(value: str, where: str, column: str) -> int | None:
    """Return a 1-5 rating, None for an empty cell; raise on anything else."""
    value = value.strip()
    if not value:
        return None
    if not value.isdigit() or not RATING_MIN <= int(value) <= RATING_MAX:
        msg = f"{where}: column {column!r} has non-integer or out-of-range {value!r}"
        raise SourceError(msg)
    return int(value)


def read_changes(path: Path) -> list[Change]:
    """Read the changes of one annotator CSV file, in file order."""
    changes: list[Change] = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            msg = f"{path}: missing columns {missing}"
            raise SourceError(msg)
        start = reader.line_num + 1
        for row in reader:
            where, start = f"{path}:{start}", reader.line_num + 1
            ratings = {c: parse_rating(row[c], where, c) for c in RATING_COLUMNS}
            if row["id"].strip():
                changes.append(Change(row["id"].strip(), row["diff"]))
            elif not changes:
                msg = f"{where}: comment row before the first change"
                raise SourceError(msg)
            if not row["system"].strip():
                msg = f"{where}: empty 'system' column"
                raise SourceError(msg)
            text, system = row["review"].strip(), row["system"].strip()
            changes[-1].comments.append(Comment(text, system, ratings[RELEVANCE]))
    return changes


def label(relevance: int) -> int:
    """Map a 1-5 relevance rating to a label."""
    if relevance >= HELPFUL_MIN:
        return 0
    if relevance <= UNHELPFUL_MAX:
        return 1
    return 2


def sample_class(labels: list[int]) -> str:
    """Classify a sample by its comment labels."""
    if 0 in labels:
        return "positive"
    if 1 in labels:
        return "negative"
    return "optimizable"


def merge_change(
    versions: tuple[Change, ...],
    language: str,
    stats: Stats,
) -> Record | None:
    """Return the record of one change, taken from the first file that rates it."""
    first = versions[0]
    texts = [[(c.text, c.system) for c in v.comments] for v in versions]
    if any(v.diff != first.diff for v in versions[1:]):
        stats.diff_mismatch.append(first.change_id)
    if any(t != texts[0] for t in texts[1:]):
        stats.review_mismatch.append(first.change_id)
    rated = [v for v in versions if v.is_rated()]
    if len(rated) > 1:
        stats.rated_in_both.append(first.change_id)
    chosen = rated[0] if rated else first
    outputs: list[Record] = []
    labels: list[int] = []
    for comment in chosen.comments:
        if comment.relevance is None:
            stats.unrated_comments += 1
        elif not comment.text:
            stats.empty_comments += 1
        else:
            labels.append(label(comment.relevance))
            outputs.append(
                {
                    "output": comment.text,
                    "is_like": labels[-1],
                    "system": comment.system,
                    "relevance": comment.relevance,
                },
            )
    if not outputs:
        stats.skipped_changes += 1
        return None
    stats.labels.update(labels)
    stats.samples[sample_class(labels)] += 1
    return {
        "input_id": f"{language}-{chosen.change_id}",
        "code": chosen.diff,
        "language": language,
        "outputs": outputs,
    }


def build_language(source: Path, prefix: str) -> tuple[list[Record], Stats]:
    """Merge one language's annotator files into grouped records."""
    language = LANGUAGES[prefix]
    files = [source / f"{prefix}_{a}_review_qual_final.csv" for a in ANNOTATORS]
    per_file = [read_changes(f) for f in files]
    ids = [[c.change_id for c in changes] for changes in per_file]
    if any(i != ids[0] for i in ids[1:]):
        msg = f"{files}: change ids or their order differ between files"
        raise SourceError(msg)
    if len(set(ids[0])) != len(ids[0]):
        msg = f"{files[0]}: duplicate change ids"
        raise SourceError(msg)
    stats = Stats()
    records: list[Record] = []
    for versions in zip(*per_file, strict=True):
        record = merge_change(versions, language, stats)
        if record is not None:
            records.append(record)
    return records, stats


def write_jsonl(path: Path, records: list[Record]) -> None:
    """Write records as JSONL with a fixed key order and LF line ends."""
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def summary(all_stats: dict[str, Stats]) -> str:
    """Return the counts as a Markdown table plus notes on oddities."""
    header = ["count", *(f"crscore-{n}.jsonl" for n in all_stats), "total"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    columns = [stats.rows() for stats in all_stats.values()]
    for index, (name, _) in enumerate(columns[0]):
        values = [column[index][1] for column in columns]
        cells = [name, *map(str, values), str(sum(values))]
        lines.append("| " + " | ".join(cells) + " |")
    for language, stats in all_stats.items():
        for what, ids in (
            ("rated in both files", stats.rated_in_both),
            ("diff differs between files", stats.diff_mismatch),
            ("comments differ between files", stats.review_mismatch),
        ):
            if ids:
                lines.append(f"{language}: {what}: {', '.join(ids)}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, build both languages and print the counts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="folder with the CRScore CSV files")
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="output folder (default: the folder of this script)",
    )
    args = parser.parse_args(argv)
    all_stats: dict[str, Stats] = {}
    all_records: dict[str, list[Record]] = {}
    try:
        for prefix, language in LANGUAGES.items():
            records, all_stats[language] = build_language(args.source, prefix)
            all_records[language] = records
        args.out_dir.mkdir(parents=True, exist_ok=True)
        for language, records in all_records.items():
            write_jsonl(args.out_dir / f"crscore-{language}.jsonl", records)
    except (SourceError, OSError) as error:
        sys.stderr.write(f"error: {error}\n")
        return 1
    sys.stdout.write(summary(all_stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
