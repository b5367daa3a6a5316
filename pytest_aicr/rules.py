"""The offline reviewer behind the model name ``builtin:rules``.

It reads the added lines of a change (a unified-diff hunk, a hunk without file
headers, or a bare snippet whose lines all count as added) and reports what a small
table of language-aware rules finds. It needs no network and is deterministic: it
is the floor every LLM reviewer has to beat.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass

from pytest_aicr.change_lines import (
    LANGUAGE_ALIASES,
    ChangeView,
    infer_language,
    read_change,
)
from pytest_aicr.rule_checks import (
    check_breaking_change,
    check_broad_catch,
    check_commented_code,
    check_long_line,
    check_lost_cause,
    check_mutable_default,
    check_secret,
    check_swallowed,
    check_todo,
)

__all__ = ["RuleFinding", "infer_language", "review_change"]


@dataclass(frozen=True)
class RuleFinding:
    """One finding of the rule-based reviewer.

    Attributes:
        comment: Review comment text, phrased as a human reviewer would write it.
        line: Line number in the new file when a hunk header gives it, else the
            1-based position of the line in the new side of the snippet.
        severity: ``"info"``, ``"minor"`` or ``"major"``.
        category: Short slug naming the rule, e.g. ``"debug-output"``.

    """

    comment: str
    line: int | None
    severity: str
    category: str


_Check = Callable[[ChangeView, int], str | None]
_PY, _JAVA = frozenset({"python"}), frozenset({"java"})
_JS = frozenset({"javascript", "typescript"})


@dataclass(frozen=True)
class _Rule:
    category: str
    severity: str
    languages: frozenset[str] | None  # None: every language, even an unknown one
    check: _Check | re.Pattern[str]
    comment: str = ""  # for a pattern: the comment, formatted with its named groups
    part: str = "code"  # for a pattern: the part of the line it searches
    tests_only: bool = False

    def run(self, ctx: ChangeView, i: int) -> str | None:
        if self.tests_only and not ctx.is_test:
            return None
        if "noqa" in ctx.lines[i].comment and self.category != "lint-suppression":
            return None  # the author has already acknowledged a linter here
        if not isinstance(self.check, re.Pattern):
            return self.check(ctx, i)
        match = self.check.search(getattr(ctx.lines[i], self.part))
        return None if match is None else self.comment.format(**match.groupdict())


_WILDCARD = (
    "Please avoid the wildcard import from `{mod}`; import the names you use "
    "explicitly so it is clear where they come from."
)
_SLEEP = (
    "Sleeping in a test makes it slow and flaky; please wait for the actual "
    "condition instead (poll with a timeout, a latch/event, or a fake clock)."
)
_RULES = (
    _Rule("debugger", "major", _PY | _JS, re.compile(
        r"(?<![\w.])breakpoint\(\s*\)|\b(?:i?pdb|pudb)\.set_trace\("
        r"|^\s*debugger\s*;?\s*$"),
        "Left-over debugger breakpoint; please remove it before merging."),
    _Rule("debug-output", "minor", _PY, re.compile(
        r"(?<![\w.])(?<!def )p?print\s*\((?!.*\b(?:file|stream)\s*=)"),
        "Left-over `print()`? Please use the module's logger (or drop it) instead."),
    _Rule("debug-output", "minor", _JAVA, re.compile(r"\bSystem\.(?:out|err)\.print"),
        "Please don't write to System.out/System.err here; use the logger (or "
        "remove this debug output)."),
    _Rule("debug-output", "minor", _JAVA, re.compile(r"\.printStackTrace\(\s*\)"),
        "`printStackTrace()` writes to stderr and bypasses the logging setup; "
        "please log the exception with the logger instead."),
    _Rule("debug-output", "minor", _JS, re.compile(r"\bconsole\.(?:log|debug|dir)\("),
        "Left-over `console.log`? Please remove it before merging (or use the "
        "project's logger)."),
    _Rule("broad-except", "major", _PY | _JAVA, check_swallowed),
    _Rule("broad-catch", "minor", _PY | _JAVA, check_broad_catch),
    _Rule("lost-exception-cause", "minor", _PY | _JAVA, check_lost_cause),
    _Rule("hardcoded-secret", "major", None, check_secret),
    _Rule("none-comparison", "minor", _PY, re.compile(
        r"(?:==|!=)\s*None\b|\bNone\s*(?:==|!=)"),
        "Please compare with None using `is` / `is not` rather than `==` / `!=` "
        "(PEP 8; `==` can be overridden)."),
    _Rule("literal-identity", "major", _PY, re.compile(
        r"(?<![\w.])is\s+(?:not\s+)?(?:[rbuRBU]?[\"']|-?\d)"),
        "`is` compares identity, not value; with a literal it only works by "
        "accident of interning (Python warns about it). Please use `==`."),
    _Rule("mutable-default", "major", _PY, check_mutable_default),
    _Rule("breaking-change", "major", _PY | _JAVA, check_breaking_change),
    _Rule("string-identity", "major", _JAVA, re.compile(r"[=!]=\s*\"|\"\s*[=!]="),
        "This compares strings with `==`/`!=`, i.e. by reference; please use "
        '`.equals()` (e.g. `"literal".equals(value)`) instead.'),
    _Rule("wildcard-import", "minor", _PY, re.compile(
        r"^\s*from\s+(?P<mod>\w[\w.]*)\s+import\s+\*"), _WILDCARD),
    _Rule("wildcard-import", "minor", _JAVA, re.compile(
        r"^\s*import\s+(?:static\s+)?(?P<mod>[\w.]+)\.\*\s*;"), _WILDCARD),
    _Rule("superfluous-parens", "info", _PY, re.compile(
        r"^\s*from\s+\S+\s+import\s+\(\s*(?P<name>\w+(?:\s+as\s+\w+)?)\s*\)\s*$"),
        "Nit: the parentheses around the single import `{name}` are superfluous."),
    _Rule("lint-suppression", "info", _PY, re.compile(r"#\s*noqa\b(?!\s*:)"),
        "A bare `# noqa` silences every check on this line; please name the "
        "specific code (e.g. `# noqa: E501`).", "comment"),
    _Rule("lint-suppression", "info", _JAVA, re.compile(
        r"@SuppressWarnings\s*\((?P<what>[^)]*)\)"),
        "Is `@SuppressWarnings({what})` really needed? If so, please keep it on the "
        "smallest scope and say why it is safe.", "text"),
    _Rule("sleep-in-test", "minor", _PY, re.compile(
        r"(?:\b(?:time|asyncio)\.|(?<![\w.]))sleep\s*\("), _SLEEP, tests_only=True),
    _Rule("sleep-in-test", "minor", _JAVA, re.compile(
        r"\bThread\.sleep\s*\(|\bTimeUnit\.\w+\.sleep\s*\("), _SLEEP, tests_only=True),
    _Rule("commented-out-code", "minor", None, check_commented_code),
    _Rule("todo", "info", None, check_todo),
    _Rule("long-line", "info", None, check_long_line),
)  # fmt: skip


def review_change(
    code: str, language: str | None, file: str | None = None
) -> list[RuleFinding]:
    """Review the added lines of a change with the built-in rules.

    Args:
        code: A unified-diff hunk (``---``/``+++`` headers optional; ``@@`` headers
            give the new-file line numbers) or a bare snippet, whose lines then all
            count as added.
        language: Language of the change, e.g. ``"python"`` or ``"java"``; when
            ``None`` it is inferred from ``file`` or the ``+++`` header, and if that
            fails only the language-neutral rules run.
        file: Path of the changed file, if known.

    Returns:
        The findings, ordered by line and then by rule, at most one per rule and
        line.

    """
    name = (language or "").strip().lower()
    resolved = LANGUAGE_ALIASES.get(name, name) or infer_language(code, file)
    ctx = read_change(code, resolved, file)
    findings: list[RuleFinding] = []
    for i, line in enumerate(ctx.lines):
        seen: set[str] = set()
        for rule in _RULES:
            if not line.added or rule.category in seen:
                continue
            if rule.languages is not None and resolved not in rule.languages:
                continue
            if (comment := rule.run(ctx, i)) is not None:
                seen.add(rule.category)
                findings.append(
                    RuleFinding(comment, line.number, rule.severity, rule.category)
                )
    return _merge_repeats(findings)


# Categories whose comment does not depend on the line: a reviewer says them once.
_SAID_ONCE = frozenset(
    {
        "long-line",
        "debug-output",
        "none-comparison",
        "superfluous-parens",
        "lint-suppression",
        "sleep-in-test",
        "commented-out-code",
    }
)


def _merge_repeats(findings: list[RuleFinding]) -> list[RuleFinding]:
    """Keep the first finding of each said-once category, naming the other lines."""
    later: dict[str, list[int | None]] = {}
    kept: list[RuleFinding] = []
    for finding in findings:
        if finding.category in _SAID_ONCE and finding.category in later:
            later[finding.category].append(finding.line)
            continue
        later.setdefault(finding.category, [])
        kept.append(finding)
    merged = []
    for finding in kept:
        lines = [str(n) for n in later.get(finding.category, []) if n is not None]
        if finding.category in _SAID_ONCE and lines:
            also = f" The same applies to line{'s' if len(lines) > 1 else ''} "
            finding = dataclasses.replace(
                finding, comment=finding.comment + also + ", ".join(lines) + "."
            )
        merged.append(finding)
    return merged
