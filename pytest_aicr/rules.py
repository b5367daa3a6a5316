"""The offline reviewer behind the model name ``builtin:rules``.

It reads the added lines of a change (a unified-diff hunk, a hunk without file
headers, or a bare snippet whose lines all count as added) and reports what a small
table of language-aware rules finds. It needs no network and is deterministic: it
is the floor every LLM reviewer has to beat.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

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


_SUFFIXES = {
    ".py": "python", ".pyi": "python", ".java": "java", ".js": "javascript",
    ".jsx": "javascript", ".mjs": "javascript", ".cjs": "javascript",
    ".ts": "typescript", ".tsx": "typescript", ".go": "go", ".rb": "ruby",
    ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp",
    ".cs": "csharp", ".kt": "kotlin", ".kts": "kotlin", ".rs": "rust", ".php": "php",
    ".swift": "swift", ".scala": "scala", ".sh": "shell", ".bash": "shell",
}  # fmt: skip
_ALIASES = {
    "py": "python", "python3": "python", "js": "javascript", "node": "javascript",
    "jsx": "javascript", "ts": "typescript", "tsx": "typescript", "golang": "go",
    "c++": "cpp", "cxx": "cpp", "c#": "csharp", "cs": "csharp", "kt": "kotlin",
    "rb": "ruby", "sh": "shell", "bash": "shell", "zsh": "shell",
}  # fmt: skip
_C_LIKE = frozenset(
    "java javascript typescript go c cpp csharp kotlin rust php swift scala".split()
)
_PY, _JAVA = frozenset({"python"}), frozenset({"java"})
_JS = frozenset({"javascript", "typescript"})
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
class _Line:
    number: int
    text: str
    added: bool
    code: str  # the line with string contents blanked and comments removed
    comment: str  # the comment part, markers included
    old: str | None  # the removed line this added line replaces, if any


@dataclass(frozen=True)
class _Ctx:
    lines: Sequence[_Line]
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


def _lex(text: str, family: str, state: str | None) -> tuple[str, str, str | None]:
    """Split a line into code (strings blanked) and comment; track open blocks."""
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


_PY_DEF = re.compile(r"^\s*(?:async\s+)?def\s+\w+\s*\(")


def _py_signatures(lines: Sequence[_Line]) -> dict[int, str]:
    found: dict[int, str] = {}
    depth = 0
    for k, line in enumerate(lines):
        code = line.code
        if depth == 0:
            if not (match := _PY_DEF.match(code)):
                continue
            code = code[match.end() - 1 :]
        found[k] = code
        depth = max(depth + code.count("(") - code.count(")"), 0)
    return found


def _context(code: str, language: str | None, file: str | None) -> _Ctx:
    rows, sections = _new_side(code)
    family = _FAMILY.get(language or "", "plain")
    lines: list[_Line] = []
    state: str | None = None
    for number, text, added, old in rows:
        masked, comment, state = _lex(text, family, state)
        lines.append(_Line(number, text, added, masked, comment, old))
    path = file or _header_path(code) or ""
    is_test = bool(_TEST_FILE.search(path)) or any(
        _TEST_CODE.search(text) for text in [*sections, *(ln.text for ln in lines)]
    )
    signatures = _py_signatures(lines) if family == "python" else {}
    return _Ctx(lines, family, is_test, signatures)


# --- checks: each gets the context and the index of an added line ---------------

_Check = Callable[[_Ctx, int], str | None]
_PY_EXCEPT = re.compile(
    r"^(?P<ind>\s*)except\b(?P<what>[^:]*?)(?:\bas\s+(?P<var>\w+))?\s*:(?P<rest>.*)$"
)
_CATCH = re.compile(
    r"\bcatch\s*\(\s*(?:final\s+)?(?P<what>[\w.$|\s]+?)\s+(?P<var>\w+)\s*\)\s*\{"
    r"(?P<rest>.*)$"
)
_HEAD = re.compile(r"\bexcept\b[^:]*|\bcatch\s*\([^)]*\)")
_BROAD = frozenset({"Exception", "BaseException", "Throwable"})
_SWALLOW = frozenset({"pass", "...", "continue"})
_Handler = tuple[list[str], str, list[str]]  # caught types, variable, body statements


def _indent(code: str) -> int:
    return len(code) - len(code.lstrip())


def _caught(what: str) -> list[str]:
    names = (name.strip(" ()").split(".")[-1] for name in re.split(r"[,|]", what))
    return [name for name in names if name]


def _py_handler(ctx: _Ctx, i: int) -> _Handler | None:
    """Return the ``except`` clause on line i, or None if its body is not shown."""
    if not (match := _PY_EXCEPT.match(ctx.lines[i].code)):
        return None
    body = [match["rest"].strip()] if match["rest"].strip() else []
    for line in ctx.lines[i + 1 :] if not body else ():
        if line.code.strip():
            if _indent(line.code) <= len(match["ind"]):
                break
            body.append(line.code.strip())
    return (_caught(match["what"]), match["var"] or "", body) if body else None


def _java_handler(ctx: _Ctx, i: int) -> _Handler | None:
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


def _handler(ctx: _Ctx, i: int) -> _Handler | None:
    return (_py_handler if ctx.family == "python" else _java_handler)(ctx, i)


def _check_swallowed(ctx: _Ctx, i: int) -> str | None:
    found = _handler(ctx, i)
    if found is None or (found[0] and not _BROAD & set(found[0])):
        return None
    if not all(statement.rstrip(";") in _SWALLOW for statement in found[2]):
        return None
    head = _HEAD.search(ctx.lines[i].code)
    what = f"`{head[0].strip()}{':' if ctx.family == 'python' else ''}`" if head else ""
    also = " (even KeyboardInterrupt and SystemExit)" if not found[0] else ""
    return (
        f"{what} silently swallows every error{also}, which hides real bugs. "
        "Please catch the specific exception you expect, and at least log it."
    )


def _check_broad_catch(ctx: _Ctx, i: int) -> str | None:
    found = _handler(ctx, i)
    if found is None or re.search(r"\b(?:raise|throw)\b", " ".join(found[2])):
        return None
    if all(statement.rstrip(";") in _SWALLOW for statement in found[2]):
        return None  # reported by the broad-except rule
    if ctx.family == "python":
        if found[0]:
            return None
        return (
            "Bare `except:` also catches KeyboardInterrupt and SystemExit; please "
            "catch the specific exception (or at least `Exception`)."
        )
    if not (broad := sorted(_BROAD & set(found[0]))):
        return None
    return (
        f"Catching `{broad[0]}` here is very broad: it also catches unexpected "
        "runtime failures (NPEs, IllegalStateException, ...). Please catch the "
        "specific exception(s) this code can throw."
    )


_THROW_NEW = re.compile(r"\bthrow\s+new\s+(?P<type>[\w.$]+)")
_RAISE_NEW = re.compile(r"^\s*raise\s+(?!SystemExit\b)[\w.]+\s*\(")


def _statement(ctx: _Ctx, i: int) -> str:
    parts, depth = list[str](), 0
    for line in ctx.lines[i : i + 8]:
        parts.append(line.code)
        depth += line.code.count("(") - line.code.count(")")
        if depth <= 0:
            break
    return "\n".join(parts)


def _catch_var(ctx: _Ctx, i: int, head: str) -> str | None:
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


def _except_var(ctx: _Ctx, i: int) -> str | None:
    """Return the ``as`` name ("" if none) of the ``except`` around line i."""
    level = _indent(ctx.lines[i].code)
    for line in reversed(ctx.lines[:i]):
        if not line.code.strip() or _indent(line.code) >= level:
            continue
        if match := _PY_EXCEPT.match(line.code):
            return match["var"] or ""
        if _PY_DEF.match(line.code) or _indent(line.code) == 0:
            return None
        level = _indent(line.code)
    return None


def _check_lost_cause(ctx: _Ctx, i: int) -> str | None:
    code = ctx.lines[i].code
    if ctx.family == "python":
        if not _RAISE_NEW.match(code) or re.search(r"\bfrom\b", _statement(ctx, i)):
            return None
        if (var := _except_var(ctx, i)) is None:
            return None
        return (
            f"Please use `raise ... from {var or 'err'}` here: it marks the caught "
            "exception as the cause instead of reporting a second error raised "
            "while handling the first."
        )
    if not (match := _THROW_NEW.search(code)):
        return None
    var = _catch_var(ctx, i, code[: match.start()])
    if var is None or re.search(rf"\b{var}\b", _statement(ctx, i)[match.start() :]):
        return None
    return (
        f"The new `{match['type']}` drops the caught `{var}`, so its stack trace is "
        f"lost; please pass it on as the cause (`new {match['type']}(..., {var})`)."
    )


_SECRET = re.compile(
    r"(?i)(?<![\w.])(?P<name>[\w.-]*?(?:password|passwd|secret|token|api[_-]?key"
    r"|access[_-]?key|private[_-]?key|auth[_-]?key))[\"']?\s*(?::\s*[\w\[\].]+\s*)?"
    r"(?::=|=>|=|:)\s*(?P<q>[\"'])(?P<value>[\w+/=.!@$%^&~-]{4,})(?P=q)"
)
_NOT_SECRET = re.compile(  # constant names, key names, placeholders, xxxx
    r"^(?:[A-Z]+|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[a-z]+(?:[._-][a-z]+)+|(.)\1+"
    r"|[$%].*|.*\.\.\..*|(?i:.*(?:password|passwd|secret|token|key).*))$"
)


def _check_secret(ctx: _Ctx, i: int) -> str | None:
    for match in _SECRET.finditer(ctx.lines[i].text):
        if not ctx.is_test and not _NOT_SECRET.match(match["value"]):
            return (
                f"`{match['name']}` is set to a hard-coded secret. Credentials should "
                "not be committed; please load it from configuration or an "
                "environment variable instead."
            )
    return None


_MUTABLE = re.compile(
    r"(?P<name>\w+)\s*(?::\s*[\w.]+(?:\[[^=]*?\])?\s*)?="
    r"\s*(?:\[|\{|(?:list|dict|set)\(\s*\))"
)


def _check_mutable_default(ctx: _Ctx, i: int) -> str | None:
    found = _MUTABLE.finditer(ctx.signatures.get(i, ""))
    if not (names := ", ".join(f"`{match['name']}`" for match in found)):
        return None
    return (
        f"Mutable default argument ({names}): it is created once and shared by "
        "every call. Please default to `None` and create it in the body instead."
    )


_PY_SIG = re.compile(r"^\s*(?:async\s+)?def\s+(?P<name>\w+)\s*\((?P<params>.*)\)")
_PARAM = re.compile(  # one parameter of a def header: `x,` `x: int = 1,` `y=2):`
    r"^\s*(?P<name>\*{0,2}\w+)(?:\s*:[^=]+?(?:=.+?)?|=.+?)?\s*"
    r"(?P<end>,|\)\s*(?:->[^:]+)?:)\s*$"
)
_NESTED = re.compile(r"\([^()]*\)|\[[^\[\]]*\]|\{[^{}]*\}")
_JAVA_DECL = re.compile(
    r"^\s*(?P<vis>public|protected|private)?\s*(?P<rest>(?:\w+\s+)*?[\w<>\[\],.? ]*?"
    r"\b(?P<name>\w+)\s*\([^)]*\).*)$"
)


def _param_names(params: str) -> list[str]:
    while (flat := _NESTED.sub("", params)) != params:
        params = flat
    names = (re.match(r"\s*(\*{0,2}\w*)", part) for part in params.split(","))
    return [match[1] for match in names if match and match[1]]


def _renamed(kind: str, old: str, new: str) -> str:
    return (
        f"Renaming the public {kind} `{old}` to `{new}` breaks existing callers; "
        f"please keep `{old}` as a deprecated alias that delegates to `{new}`."
    )


def _py_signature_change(old: str, new: str) -> str | None:
    before, after = _PY_SIG.match(_lex(old, "python", None)[0]), _PY_SIG.match(new)
    if not (before and after) or re.match(r"_(?!_\w*__$)", after["name"]):
        return None
    was, now = _param_names(before["params"]), _param_names(after["params"])
    if before["name"] != after["name"]:
        return (
            _renamed("function", before["name"], after["name"]) if was == now else None
        )
    star = next((k for k, name in enumerate(was) if name.startswith("*")), len(was))
    k = next(
        (k for k, pair in enumerate(zip(was, now, strict=False)) if len(set(pair)) > 1),
        len(was),
    )
    if len(now) == len(was) + 1 and k < star and now[k + 1 :] == was[k:]:
        return _inserted([now[k]], was[k])
    if len(now) == len(was) and k < len(was) and now[k + 1 :] == was[k + 1 :]:
        return (
            f"Renaming the parameter `{was[k]}` to `{now[k]}` breaks callers that pass "
            f"it by keyword; please accept `{was[k]}` too (deprecated) for a while."
        )
    return None


def _inserted(new: list[str], following: str) -> str:
    names = ", ".join(f"`{name}`" for name in new)
    return (
        f"{names} {'is' if len(new) == 1 else 'are'} added before `{following}`, so "
        f"callers that pass `{following}` positionally now bind it to the new "
        "parameter. Please add new parameters at the end (or make them keyword-only)."
    )


def _py_param_inserted(ctx: _Ctx, i: int) -> str | None:
    """Flag a parameter line added before existing ones in a multi-line header."""
    if not (match := _PARAM.match(ctx.lines[i].code)) or match["end"] != ",":
        return None
    seen_def = False
    for line in reversed(ctx.lines[max(i - 30, 0) : i]):
        if not (earlier := _PARAM.match(line.code)):
            if "*" in line.code or not (seen_def := bool(_PY_DEF.match(line.code))):
                return None  # keyword-only, or not a def header
            break
        if earlier["name"].startswith("*"):
            return None
    if i > 0 and ctx.lines[i - 1].added and _PARAM.match(ctx.lines[i - 1].code):
        return None  # reported with the first added parameter
    names, following = [match["name"]], None
    for line in ctx.lines[i + 1 : i + 30]:
        if not (later := _PARAM.match(line.code)):
            return None
        if following is None and line.added:
            names.append(later["name"])
        elif following is None and later["name"][0] != "*":
            following = later["name"]
        if later["end"] != ",":  # the header ends here with `):`
            seen_def = True
            break
    return _inserted(names, following) if following and seen_def else None


def _check_breaking_change(ctx: _Ctx, i: int) -> str | None:
    line = ctx.lines[i]
    if ctx.family == "python":
        if line.old is None:
            return _py_param_inserted(ctx, i)
        return _py_signature_change(line.old, line.code)
    before, after = _JAVA_DECL.match(line.old or ""), _JAVA_DECL.match(line.code)
    if not (before and after) or before["vis"] != "public":
        return None
    if after["vis"] != "public" and before["rest"] == after["rest"]:
        now = after["vis"] or "package-private"
        return (
            f"`{before['name']}` goes from public to {now}, which breaks callers of "
            "this public API outside the class. Is that intended?"
        )
    rest = before["rest"].replace(before["name"], after["name"], 1)
    if (
        after["vis"] == "public"
        and before["name"] != after["name"]
        and rest == after["rest"]
    ):
        return _renamed("method", before["name"], after["name"])
    return None


_PRAGMA = re.compile(
    r"^(?:noqa|type:|pylint:|fmt:|isort:|pragma|mypy:|pyright:|flake8|-\*-|!|NOSONAR"
    r"|NOPMD|noinspection|\$NON-NLS|eslint|@ts-|go:|\+build|nolint|https?:)",
    re.IGNORECASE,
)
_PY_CODE_STMTS = (
    ast.Assign, ast.AugAssign, ast.Return, ast.Import, ast.ImportFrom, ast.If,
    ast.For, ast.While, ast.With, ast.FunctionDef, ast.ClassDef, ast.Raise,
    ast.Delete, ast.Assert,
)  # fmt: skip
_PY_CLAUSE = re.compile(r"^(?:else|try|finally)\s*:$|^(?:elif|except)\b.*:$")
_C_STMT_END = re.compile(r"[;{}]$")
_C_CODE_HINT = re.compile(r"[(=.]|^[{}]|^(?:break|continue|return)\s*;")
_C_CALL = re.compile(r"^(?:[\w$]+(?:\.[\w$]+)*\s*\(|(?:if|for|while|switch)\s*\().*\)$")


def _python_parses(text: str) -> bool:
    for candidate in (text, text + " pass"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                statement = ast.parse(candidate).body[0]
        except (SyntaxError, ValueError, IndexError):
            continue
        if isinstance(statement, ast.Expr) and re.match(r"[\w.]+\s", text):
            return False  # `WORD (note)` is prose, code has no space before `(`
        if isinstance(statement, ast.Expr):
            return isinstance(statement.value, ast.Call)
        if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Name):
            return False  # `key = word` reads as metadata rather than code
        return isinstance(statement, _PY_CODE_STMTS)
    return bool(_PY_CLAUSE.match(text))


def _commented_code(ctx: _Ctx, line: _Line, nested: bool = False) -> str | None:
    """Return the comment text when the whole line is commented-out code.

    A line indented inside its comment (``#     foo()``) counts only when
    ``nested``: on its own it is usually an example in a prose comment.
    """
    marker = {"python": "#", "c": "//"}.get(ctx.family)
    if marker is None or line.code.strip() or not line.comment.startswith(marker):
        return None
    raw = line.comment.lstrip(marker[0])
    text = raw.strip()
    if not text or _PRAGMA.match(text) or "{@" in text:
        return None
    if not nested and _indent(raw) > 2:
        return None
    if ctx.family == "python":
        return text if _python_parses(text) else None
    if (_C_STMT_END.search(text) and _C_CODE_HINT.search(text)) or _C_CALL.match(text):
        return text
    return None


def _check_commented_code(ctx: _Ctx, i: int) -> str | None:
    lines = ctx.lines
    if (text := _commented_code(ctx, lines[i])) is None:
        return None
    if i > 0 and lines[i - 1].added and _commented_code(ctx, lines[i - 1], True):
        return None  # reported with the first line of the block
    run = 1
    while i + run < len(lines) and lines[i + run].added:
        if _commented_code(ctx, lines[i + run], True) is None:
            break
        run += 1
    what = f"These {run} lines look" if run > 1 else f"`{text[:60]}` looks"
    return (
        f"{what} like commented-out code. Please delete dead code rather than keeping "
        "it around; version control keeps the history."
    )


_TODO = re.compile(r"\b(TODO|FIXME|XXX|HACK)\b(?:\([^)]*\)|-\w+)?[\s:\-]*(.*)")


def _check_todo(ctx: _Ctx, i: int) -> str | None:
    if not (match := _TODO.search(ctx.lines[i].comment)):
        return None
    note = match[2].removesuffix("*/").strip()
    note = note if len(note) <= 80 else note[:77] + "..."
    if not re.search(r"[^\W\d_]", note):
        return f"A bare {match[1]} was added; please say what is left to do."
    return (
        f'New {match[1]} comment: "{note}". Can it be done in this change? If not, '
        "please link a tracking issue so it does not get lost."
    )


def _check_long_line(ctx: _Ctx, i: int) -> str | None:
    text = ctx.lines[i].text.rstrip()
    if len(text) <= 120 or "://" in text:
        return None
    return (
        f"This line is {len(text)} characters long; please wrap it so it stays "
        "readable in reviews and side-by-side diffs."
    )


@dataclass(frozen=True)
class _Rule:
    category: str
    severity: str
    languages: frozenset[str] | None  # None: every language, even an unknown one
    check: _Check | re.Pattern[str]
    comment: str = ""  # for a pattern: the comment, formatted with its named groups
    part: str = "code"  # for a pattern: the part of the line it searches
    tests_only: bool = False

    def run(self, ctx: _Ctx, i: int) -> str | None:
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
    _Rule("broad-except", "major", _PY | _JAVA, _check_swallowed),
    _Rule("broad-catch", "minor", _PY | _JAVA, _check_broad_catch),
    _Rule("lost-exception-cause", "minor", _PY | _JAVA, _check_lost_cause),
    _Rule("hardcoded-secret", "major", None, _check_secret),
    _Rule("none-comparison", "minor", _PY, re.compile(
        r"(?:==|!=)\s*None\b|\bNone\s*(?:==|!=)"),
        "Please compare with None using `is` / `is not` rather than `==` / `!=` "
        "(PEP 8; `==` can be overridden)."),
    _Rule("literal-identity", "major", _PY, re.compile(
        r"(?<![\w.])is\s+(?:not\s+)?(?:[rbuRBU]?[\"']|-?\d)"),
        "`is` compares identity, not value; with a literal it only works by "
        "accident of interning (Python warns about it). Please use `==`."),
    _Rule("mutable-default", "major", _PY, _check_mutable_default),
    _Rule("breaking-change", "major", _PY | _JAVA, _check_breaking_change),
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
    _Rule("commented-out-code", "minor", None, _check_commented_code),
    _Rule("todo", "info", None, _check_todo),
    _Rule("long-line", "info", None, _check_long_line),
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
    resolved = _ALIASES.get(name, name) or infer_language(code, file)
    ctx = _context(code, resolved, file)
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
