"""Reading a code change: the new-side lines of a diff or snippet, lexed.

It infers the language of a change, takes the new side of a unified-diff hunk (or a
bare snippet, whose lines all count as added) with new-file line numbers, splits
each line into code and comment, and notes python ``def`` headers and whether the
change is test code. The rule checks work on the :class:`ChangeView` it builds, and
ask it where the ``except``/``catch`` clauses are and what they catch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

__all__ = [
    "LANGUAGE_ALIASES",
    "PYTHON_DEF",
    "ChangeLine",
    "ChangeView",
    "ExceptionHandler",
    "enclosing_catch_var",
    "enclosing_except_var",
    "exception_handler",
    "indent_width",
    "infer_language",
    "read_change",
    "split_line",
]


_SUFFIXES = {
    ".py": "python", ".pyi": "python", ".java": "java", ".js": "javascript",
    ".jsx": "javascript", ".mjs": "javascript", ".cjs": "javascript",
    ".ts": "typescript", ".tsx": "typescript", ".go": "go", ".rb": "ruby",
    ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp",
    ".cs": "csharp", ".kt": "kotlin", ".kts": "kotlin", ".rs": "rust", ".php": "php",
    ".swift": "swift", ".scala": "scala", ".sh": "shell", ".bash": "shell",
}  # fmt: skip
LANGUAGE_ALIASES = {
    "py": "python", "python3": "python", "js": "javascript", "node": "javascript",
    "jsx": "javascript", "ts": "typescript", "tsx": "typescript", "golang": "go",
    "c++": "cpp", "cxx": "cpp", "c#": "csharp", "cs": "csharp", "kt": "kotlin",
    "rb": "ruby", "sh": "shell", "bash": "shell", "zsh": "shell",
}  # fmt: skip
_C_LIKE = frozenset(
    "java javascript typescript go c cpp csharp kotlin rust php swift scala".split()
)
_FAMILY = {"python": "python"} | dict.fromkeys(_C_LIKE, "c")

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@(.*)$")
_META = re.compile(r"^(?:diff --git |index [0-9a-f]|(?:new|deleted) file mode )")
_NEW_PATH = re.compile(r"^\+\+\+ (?:b/)?(\S+)", re.MULTILINE)
_TEST_FILE = re.compile(
    r"(?:^|/)(?:tests?|__tests__|src/test)/|(?:^|/)test_[^/]*\.py$|conftest\.py$"
    r"|_test\.(?:py|go)$|Tests?\.(?:java|kt|cs)$|\.(?:test|spec)\.[jt]sx?$"
)
_TEST_CODE = re.compile(
    r"\bdef test_|\bclass Test\w*|unittest\.TestCase|@Test\b|\bimport org\.junit"
    r"|\bimport pytest\b|@pytest\.|\bfunc Test\w+\(|\b(?:describe|it)\(\s*['\"]"
)
_STR = r"(?P<str>\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'{})"
_LEXERS = {
    "python": re.compile(rf"(?P<open>\"\"\"|''')|{_STR.format('')}|(?P<com>#.*)"),
    "c": re.compile(rf"(?P<open>/\*)|{_STR.format('|`(?:[^`])*`')}|(?P<com>//.*)"),
    "plain": re.compile(rf"(?P<open>/\*)|{_STR.format('')}|(?P<com>(?://|#).*)"),
}
_CLOSERS = {'"""': '"""', "'''": "'''", "/*": "*/"}


@dataclass(frozen=True)
class ChangeLine:
    """One line of the new side of a change, split into its code and comment."""

    number: int
    text: str
    added: bool
    code: str  # the line with string contents blanked and comments removed
    comment: str  # the comment part, markers included
    old: str | None  # the removed line this added line replaces, if any


@dataclass(frozen=True)
class ChangeView:
    """A change as the checks see it: its new-side lines and what kind of code it is."""

    lines: Sequence[ChangeLine]
    family: str  # how comments and strings look: python, c or plain
    is_test: bool
    signatures: Mapping[int, str]  # python: line index -> its part of a def's header


def infer_language(code: str, file: str | None) -> str | None:
    """Guess the language of a change from its file name or its diff header.

    Args:
        code: The change; its ``+++ b/PATH`` header is used when ``file`` is
            missing or has an unknown suffix.
        file: The path of the changed file, if known.

    Returns:
        A language name such as ``"python"`` or ``"java"``, or ``None``.

    """
    for path in (file, _header_path(code)):
        if path and (language := _SUFFIXES.get(PurePosixPath(path).suffix.lower())):
            return language
    return None


def _header_path(code: str) -> str | None:
    match = _NEW_PATH.search(code)
    return None if match is None or match[1] == "/dev/null" else match[1]


def _is_diff(rows: list[str]) -> bool:
    if any(_HUNK.match(row) or _META.match(row) for row in rows):
        return True
    body = [row for row in rows if row.strip()]
    starts = {row[0] for row in body}
    return bool(body) and starts <= set("+- \\") and bool(starts & set("+-"))


def _is_file_header(rows: list[str], i: int) -> bool:
    if rows[i].startswith("--- "):
        return i + 1 < len(rows) and rows[i + 1].startswith("+++ ")
    return rows[i].startswith("+++ ") and i > 0 and rows[i - 1].startswith("--- ")


_Row = tuple[int, str, bool, str | None]  # number, text, added, replaced line


def _new_side(code: str) -> tuple[list[_Row], list[str]]:
    """Return the new-side lines and the hunk headers' section texts."""
    rows = code.splitlines()
    if not _is_diff(rows):
        return [(number, row, True, None) for number, row in enumerate(rows, 1)], []
    lines: list[_Row] = []
    sections: list[str] = []
    number, removed = 1, list[str]()
    for i, row in enumerate(rows):
        if hunk := _HUNK.match(row):
            number, removed = int(hunk[1]), []
            sections.append(hunk[2])
        elif row.startswith("-") and not _is_file_header(rows, i):
            removed.append(row[1:])
        elif not (_META.match(row) or _is_file_header(rows, i) or row[:1] == "\\"):
            added = row.startswith("+")
            old = removed.pop(0) if added and removed else None
            removed = removed if added else []
            lines.append((number, row[1:] if row[:1] in "+ " else row, added, old))
            number += 1
    return lines, sections


def split_line(
    text: str, family: str, state: str | None
) -> tuple[str, str, str | None]:
    """Split a line into code (strings blanked) and comment; track open blocks.

    ``family`` is ``"python"``, ``"c"`` or ``"plain"``; ``state`` is the block
    comment or triple-quoted string left open by the previous line (or ``None``),
    and the third value returned is the one this line leaves open.
    """
    code: list[str] = []
    comment: list[str] = []
    pos = 0
    while True:
        if state is not None:  # inside a block comment or a triple-quoted string
            end = text.find(_CLOSERS[state], pos)
            stop = len(text) if end < 0 else end + len(_CLOSERS[state])
            if state == "/*":
                comment.append(text[pos:stop])
            else:
                code.append(" " * (stop - pos))
            if end < 0:
                return "".join(code), " ".join(comment), state
            pos, state = stop, None
        if not (match := _LEXERS[family].search(text, pos)):
            break
        code.append(text[pos : match.start()])
        pos = match.end()
        if match["com"]:
            comment.append(match["com"])
        elif match["str"]:
            quote = match["str"][0]
            code.append(quote + " " * (len(match["str"]) - 2) + quote)
        else:
            state = match["open"]
            (comment if state == "/*" else code).append(state)
    code.append(text[pos:])
    return "".join(code), " ".join(comment), None


PYTHON_DEF = re.compile(r"^\s*(?:async\s+)?def\s+\w+\s*\(")


def _py_signatures(lines: Sequence[ChangeLine]) -> dict[int, str]:
    found: dict[int, str] = {}
    depth = 0
    for k, line in enumerate(lines):
        code = line.code
        if depth == 0:
            if not (match := PYTHON_DEF.match(code)):
                continue
            code = code[match.end() - 1 :]
        found[k] = code
        depth = max(depth + code.count("(") - code.count(")"), 0)
    return found


def read_change(code: str, language: str | None, file: str | None) -> ChangeView:
    """Read a diff hunk or a bare snippet into the view the checks work on."""
    rows, sections = _new_side(code)
    family = _FAMILY.get(language or "", "plain")
    lines: list[ChangeLine] = []
    state: str | None = None
    for number, text, added, old in rows:
        masked, comment, state = split_line(text, family, state)
        lines.append(ChangeLine(number, text, added, masked, comment, old))
    path = file or _header_path(code) or ""
    is_test = bool(_TEST_FILE.search(path)) or any(
        _TEST_CODE.search(text) for text in [*sections, *(ln.text for ln in lines)]
    )
    signatures = _py_signatures(lines) if family == "python" else {}
    return ChangeView(lines, family, is_test, signatures)


# --- exception handlers: the except/catch clauses of the change ---------------

_PY_EXCEPT = re.compile(
    r"^(?P<ind>\s*)except\b(?P<what>[^:]*?)(?:\bas\s+(?P<var>\w+))?\s*:(?P<rest>.*)$"
)
_CATCH = re.compile(
    r"\bcatch\s*\(\s*(?:final\s+)?(?P<what>[\w.$|\s]+?)\s+(?P<var>\w+)\s*\)\s*\{"
    r"(?P<rest>.*)$"
)
# An except/catch clause: the caught type names, its variable, its body statements.
ExceptionHandler = tuple[list[str], str, list[str]]


def indent_width(code: str) -> int:
    """Return the width of the leading whitespace of a line."""
    return len(code) - len(code.lstrip())


def _caught(what: str) -> list[str]:
    names = (name.strip(" ()").split(".")[-1] for name in re.split(r"[,|]", what))
    return [name for name in names if name]


def _py_handler(ctx: ChangeView, i: int) -> ExceptionHandler | None:
    """Return the ``except`` clause on line i, or None if its body is not shown."""
    if not (match := _PY_EXCEPT.match(ctx.lines[i].code)):
        return None
    body = [match["rest"].strip()] if match["rest"].strip() else []
    for line in ctx.lines[i + 1 :] if not body else ():
        if line.code.strip():
            if indent_width(line.code) <= len(match["ind"]):
                break
            body.append(line.code.strip())
    return (_caught(match["what"]), match["var"] or "", body) if body else None


def _java_handler(ctx: ChangeView, i: int) -> ExceptionHandler | None:
    """Return the ``catch`` clause on line i, or None if its block is cut off."""
    if not (match := _CATCH.search(ctx.lines[i].code)):
        return None
    depth, body = 1, list[str]()
    for chunk in [match["rest"], *(line.code for line in ctx.lines[i + 1 : i + 80])]:
        for pos, char in enumerate(chunk):
            depth += {"{": 1, "}": -1}.get(char, 0)
            if depth == 0:
                body = [s for s in [*body, chunk[:pos].strip()] if s]
                return _caught(match["what"]), match["var"], body
        body.append(chunk.strip())
    return None


def exception_handler(ctx: ChangeView, i: int) -> ExceptionHandler | None:
    """Return the ``except``/``catch`` clause on line i, if all of it is shown."""
    return (_py_handler if ctx.family == "python" else _java_handler)(ctx, i)


def enclosing_catch_var(ctx: ChangeView, i: int, head: str) -> str | None:
    """Return the variable of the ``catch`` block around ``head`` (start of line i)."""
    depth = 0
    earlier = reversed(ctx.lines[max(i - 60, 0) : i])
    for text in [head, *(line.code for line in earlier)]:
        for char in reversed(text):
            if char == "}":
                depth += 1
            elif char == "{" and depth > 0:
                depth -= 1
            elif char == "{" and (match := _CATCH.search(text)):
                return match["var"]
    return None


def enclosing_except_var(ctx: ChangeView, i: int) -> str | None:
    """Return the ``as`` name ("" if none) of the ``except`` around line i."""
    level = indent_width(ctx.lines[i].code)
    for line in reversed(ctx.lines[:i]):
        if not line.code.strip() or indent_width(line.code) >= level:
            continue
        if match := _PY_EXCEPT.match(line.code):
            return match["var"] or ""
        if PYTHON_DEF.match(line.code) or indent_width(line.code) == 0:
            return None
        level = indent_width(line.code)
    return None
