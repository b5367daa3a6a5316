"""Prompt templates: where they are found, how they render, and their hashes.

A template is a Markdown file with ``{{code}}``, ``{{language}}``, ``{{file}}`` and
``{{comments}}`` placeholders, rendered in one pass (a placeholder inside the code
under review is left alone). Its hash is part of a variant's identity.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pytest_aicr.errors import ConfigError

PACKAGED_PROMPTS = Path(__file__).resolve().parent / "prompts"
_PLACEHOLDER = re.compile(r"\{\{\s*(code|language|file|comments)\s*\}\}")


@dataclass(frozen=True)
class PromptTemplate:
    """A stage's template text and where it came from."""

    path: Path
    text: str

    @property
    def digest(self) -> str:
        """Short SHA-256 of the template text."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:12]

    def render(self, values: dict[str, str]) -> str:
        """Fill the placeholders in one pass."""
        return _PLACEHOLDER.sub(lambda match: values[match.group(1)], self.text)


def resolve_prompt(stage: str, named: str | None, rootdir: Path) -> Path:
    """Find a stage's template: a named file, else ``prompts/<stage>.md``.

    A named file is looked up as given, then under the rootdir and its ``prompts/``
    folder. Without a name, the rootdir's ``prompts/<stage>.md`` wins over the
    packaged default, so a team edits its prompts in its own repo.
    """
    if named:
        for candidate in (Path(named), rootdir / named, rootdir / "prompts" / named):
            if candidate.is_file():
                return candidate.resolve()
        raise ConfigError(
            f"prompt file {named!r} for stage {stage!r} not found (looked as given, "
            f"under {rootdir} and {rootdir / 'prompts'})"
        )
    local = rootdir / "prompts" / f"{stage}.md"
    return local.resolve() if local.is_file() else PACKAGED_PROMPTS / f"{stage}.md"


@cache
def load_template(path: Path) -> PromptTemplate:
    """Read a template once per process."""
    try:
        return PromptTemplate(path, path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"prompt file {path}: cannot be read ({exc})") from None
