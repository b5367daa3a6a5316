"""aicr.yaml, ini keys and the command line: every option in each, command line wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_aicr.options import read_settings
from tests.test_end_to_end import SAMPLES, scripted

YAML = """\
similarity: 0.5
min: [f1=0.3, pre=0.2]
max_drop: f1=0.05
base-url: http://127.0.0.1:9/v1
xlsx: out/aicr.xlsx
baseline: base.json
prices:
  m: {prompt: 0.5, completion: 1.5}
"""


def settings_of(pytester: pytest.Pytester, *args: str):
    config = pytester.parseconfig(*args)
    return read_settings(config)


@pytest.fixture
def dataset(write_jsonl) -> Path:
    return write_jsonl("cases.jsonl", SAMPLES[:2])


def test_yaml_holds_gates_endpoint_outputs_and_prices(
    pytester: pytest.Pytester, dataset: Path
) -> None:
    pytester.makefile(".yaml", aicr=YAML)
    settings = settings_of(pytester, f"--aicr-dataset={dataset}")
    assert settings is not None
    assert settings.similarity == 0.5
    assert settings.minimums == ["f1=0.3", "pre=0.2"]
    assert settings.max_drops == ["f1=0.05"]
    assert settings.base_url == "http://127.0.0.1:9/v1"
    assert settings.xlsx == pytester.path / "out" / "aicr.xlsx"
    assert settings.baseline == pytester.path / "base.json"
    assert settings.prices == {"m": {"prompt": 0.5, "completion": 1.5}}


def test_command_line_beats_ini_beats_yaml(
    pytester: pytest.Pytester, dataset: Path
) -> None:
    pytester.makefile(".yaml", aicr="similarity: 0.5\nmin: f1=0.1\nmax-drop: f1=0.2\n")
    pytester.makeini("[pytest]\naicr_similarity = 0.55\naicr_max_drop = f1=0.3\n")
    data = f"--aicr-dataset={dataset}"

    both = settings_of(pytester, data, "--aicr-similarity=0.7", "--aicr-min=f1=0.9")
    assert both is not None
    assert (both.similarity, both.minimums) == (0.7, ["f1=0.9"])
    ini = settings_of(pytester, data)
    assert ini is not None
    assert (ini.similarity, ini.minimums, ini.max_drops) == (
        0.55,
        ["f1=0.1"],
        ["f1=0.3"],
    )
    cli = settings_of(
        pytester, data, "--aicr-max-drop=f1=0.01", "--aicr-max-drop=pre=0"
    )
    assert cli is not None
    assert cli.max_drops == ["f1=0.01", "pre=0"]


def test_config_named_on_the_command_line(
    pytester: pytest.Pytester, dataset: Path
) -> None:
    pytester.makefile(".yaml", aicr="similarity: 0.5\n")
    other = pytester.makefile(".yml", other="similarity: 0.65\n")
    settings = settings_of(
        pytester, f"--aicr-dataset={dataset}", f"--aicr-config={other}"
    )
    assert settings is not None
    assert settings.similarity == 0.65


def test_unknown_key_is_a_usage_error_with_a_suggestion(
    pytester: pytest.Pytester, dataset: Path
) -> None:
    pytester.makefile(".yaml", aicr="max_drops: f1=0.1\n")
    outcome = pytester.runpytest(f"--aicr-dataset={dataset}", "-p", "no:xdist")
    assert outcome.ret == 4
    assert "unknown key 'max-drops'; did you mean 'max-drop'?" in outcome.stderr.str()


def test_gate_from_yaml_fails_the_run(
    pytester: pytest.Pytester, fake_server, endpoint_env, dataset: Path
) -> None:
    endpoint_env(fake_server(scripted))
    pytester.makefile(".yaml", aicr="model: m\nmin: [f1=0.99]\n")
    outcome = pytester.runpytest(f"--aicr-dataset={dataset}", "-p", "no:xdist")
    assert outcome.ret == 1
    outcome.stdout.fnmatch_lines(["*gate FAILED: f1 = * < 0.99 for check@m*"])


def test_config_with_a_byte_that_is_not_utf8_is_a_usage_error(
    pytester: pytest.Pytester, dataset: Path
) -> None:
    (pytester.path / "aicr.yaml").write_bytes(b"\xef\xbb\xbfsimilarity: 0.5 # \xff\n")

    outcome = pytester.runpytest(f"--aicr-dataset={dataset}", "-p", "no:xdist")

    assert outcome.ret == 4
    err = outcome.stderr.str()
    assert "aicr.yaml: byte 21 (0xff) is not UTF-8" in err
    assert "INTERNALERROR" not in err + outcome.stdout.str()


def test_aicr_validate_names_the_byte_that_is_not_utf8(
    tmp_path: Path, dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_aicr import cli

    config = tmp_path / "aicr.yaml"
    config.write_bytes(b"fields:\n  id: \xff\n")

    assert cli.main(["validate", str(dataset), "--config", str(config)]) == 4

    assert "byte 14 (0xff) is not UTF-8" in capsys.readouterr().err
