"""The checks behind the built-in rules, one function per rule that needs code.

Each check gets the :class:`ChangeView` of a change and the index of one added line,
and returns the review comment for that line, or ``None`` when the rule does not
apply. The rules that a single pattern can express live in the table in ``rules``.
"""

from __future__ import annotations

import ast
import re
import threading
import warnings

from pytest_aicr.change_lines import (
    PYTHON_DEF,
    ChangeLine,
    ChangeView,
    enclosing_catch_var,
    enclosing_except_var,
    exception_handler,
    indent_width,
    split_line,
)

__all__ = [
    "check_breaking_change",
    "check_broad_catch",
    "check_commented_code",
    "check_long_line",
    "check_lost_cause",
    "check_mutable_default",
    "check_secret",
    "check_swallowed",
    "check_todo",
]

_HEAD = re.compile(r"\bexcept\b[^:]*|\bcatch\s*\([^)]*\)")
_BROAD = frozenset({"Exception", "BaseException", "Throwable"})
_SWALLOW = frozenset({"pass", "...", "continue"})


def check_swallowed(ctx: ChangeView, i: int) -> str | None:
    """Flag a broad ``except``/``catch`` whose body only swallows the error."""
    found = exception_handler(ctx, i)
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


def check_broad_catch(ctx: ChangeView, i: int) -> str | None:
    """Flag a bare ``except:`` or a ``catch`` of a too-broad type."""
    found = exception_handler(ctx, i)
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


def _statement(ctx: ChangeView, i: int) -> str:
    parts, depth = list[str](), 0
    for line in ctx.lines[i : i + 8]:
        parts.append(line.code)
        depth += line.code.count("(") - line.code.count(")")
        if depth <= 0:
            break
    return "\n".join(parts)


def check_lost_cause(ctx: ChangeView, i: int) -> str | None:
    """Flag a new exception raised in a handler without the caught one."""
    code = ctx.lines[i].code
    if ctx.family == "python":
        if not _RAISE_NEW.match(code) or re.search(r"\bfrom\b", _statement(ctx, i)):
            return None
        if (var := enclosing_except_var(ctx, i)) is None:
            return None
        return (
            f"Please use `raise ... from {var or 'err'}` here: it marks the caught "
            "exception as the cause instead of reporting a second error raised "
            "while handling the first."
        )
    if not (match := _THROW_NEW.search(code)):
        return None
    var = enclosing_catch_var(ctx, i, code[: match.start()])
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


def check_secret(ctx: ChangeView, i: int) -> str | None:
    """Flag a credential-like name assigned a literal secret value."""
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


def check_mutable_default(ctx: ChangeView, i: int) -> str | None:
    """Flag a mutable default argument in a python ``def`` header."""
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
    before, after = (
        _PY_SIG.match(split_line(old, "python", None)[0]),
        _PY_SIG.match(new),
    )
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


def _py_param_inserted(ctx: ChangeView, i: int) -> str | None:
    """Flag a parameter line added before existing ones in a multi-line header."""
    if not (match := _PARAM.match(ctx.lines[i].code)) or match["end"] != ",":
        return None
    seen_def = False
    for line in reversed(ctx.lines[max(i - 30, 0) : i]):
        if not (earlier := _PARAM.match(line.code)):
            if "*" in line.code or not (seen_def := bool(PYTHON_DEF.match(line.code))):
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


def check_breaking_change(ctx: ChangeView, i: int) -> str | None:
    """Flag a public signature changed in a way that breaks callers."""
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


# ``warnings.catch_warnings`` swaps process-wide state, and CPython 3.11's ``ast``
# keeps a shared recursion counter: parses from the chain threads take turns.
_PARSE_LOCK = threading.Lock()


def _python_parses(text: str) -> bool:
    for candidate in (text, text + " pass"):
        try:
            with _PARSE_LOCK, warnings.catch_warnings():
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


def _commented_code(
    ctx: ChangeView, line: ChangeLine, nested: bool = False
) -> str | None:
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
    if not nested and indent_width(raw) > 2:
        return None
    if ctx.family == "python":
        return text if _python_parses(text) else None
    if (_C_STMT_END.search(text) and _C_CODE_HINT.search(text)) or _C_CALL.match(text):
        return text
    return None


def check_commented_code(ctx: ChangeView, i: int) -> str | None:
    """Flag a comment (or a run of them) that is commented-out code."""
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


def check_todo(ctx: ChangeView, i: int) -> str | None:
    """Flag a new TODO/FIXME/XXX/HACK comment."""
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


def check_long_line(ctx: ChangeView, i: int) -> str | None:
    """Flag a line longer than 120 characters."""
    text = ctx.lines[i].text.rstrip()
    if len(text) <= 120 or "://" in text:
        return None
    return (
        f"This line is {len(text)} characters long; please wrap it so it stays "
        "readable in reviews and side-by-side diffs."
    )
