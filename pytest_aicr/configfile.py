"""The dataset part of an ``aicr.yaml`` config, for commands outside pytest.

Only ``fields`` and ``labels`` matter to reading a dataset; everything else in the
file belongs to a run and is left alone here.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pytest_aicr.errors import ConfigError


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """``--config PATH``: where the field map and label map come from."""
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="YAML config whose `fields` and `labels` apply "
        "(default: aicr.yaml in the current folder when present)",
    )


def dataset_maps(path: Path | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The config's field map and label map (empty when there is no config)."""
    if path is None:
        path = Path("aicr.yaml")
        if not path.is_file():
            return {}, {}
    loaded = read_config_file(path)
    return _mapping(path, loaded, "fields"), _mapping(path, loaded, "labels")


def read_config_file(path: Path) -> dict[str, Any]:
    """The YAML config's top-level mapping; an unreadable file is a ConfigError."""
    import yaml

    try:
        text = path.read_bytes().decode("utf-8").removeprefix("\ufeff")
        loaded = yaml.safe_load(text) or {}
    except OSError as exc:
        raise ConfigError(f"config {path}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config {path}: byte {exc.start} (0x{exc.object[exc.start]:02x}) is not "
            "UTF-8; save the file as UTF-8"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config {path}{line}: not valid YAML") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"config {path}: expected a mapping of settings at the top")
    return loaded


def _mapping(path: Path, loaded: dict[str, Any], name: str) -> dict[str, Any]:
    value = loaded.get(name) or {}
    if not isinstance(value, dict):
        raise ConfigError(f"config {path}: `{name}` must be a mapping")
    return value
