"""``vst-vla``: every command's --help works and shows an example; unknown commands fail with the list; the
console scripts in pyproject.toml point to callables that import.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from vst_vla import cli

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """cli.main in this process; argparse and hydra end --help with SystemExit, which counts as the status."""
    try:
        code = cli.main(argv)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def test_top_level_help_lists_every_command_with_its_module(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["--help"], capsys)
    assert code == 0
    for name, command in cli.COMMANDS.items():
        line = next(line for line in out.splitlines() if line.strip().startswith(name + " "))
        assert command.summary in line and command.module in line


def test_expected_commands_are_there() -> None:
    assert set(cli.COMMANDS) >= {
        "train", "collect", "eval", "migrate-checkpoint", "generate", "evaluate-spatial", "expert-success", "push",
    }


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_command_help_exits_0_with_an_example(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run([name, "--help"], capsys)
    assert code == 0, err
    assert "example" in out.lower(), out
    module = cli.COMMANDS[name].module
    assert f"python -m {module}" in out, f"{name} --help should show how to run it: python -m {module}"


def test_unknown_command_exits_2_listing_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["trian"], capsys)
    assert code == 2
    assert "unknown command 'trian'" in err and "did you mean 'train'" in err
    assert all(name in err for name in cli.COMMANDS)
    assert out == ""


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run([], capsys)
    assert code == 2 and "usage: vst-vla <command>" in err


def test_arguments_reach_the_command_unchanged(capsys: pytest.CaptureFixture[str]) -> None:
    # argparse's own error (status 2) proves the argv got there, with the dispatcher's prog in the usage line.
    code, _, err = _run(["expert-success", "--episodes", "not-a-number"], capsys)
    assert code == 2
    assert "usage: vst-vla expert-success" in err and "invalid int value: 'not-a-number'" in err


def test_command_return_value_becomes_the_exit_status(monkeypatch: pytest.MonkeyPatch) -> None:
    module = type(sys)("fake_command")
    module.main = lambda argv: {"report": argv}  # a report, not a status: success
    monkeypatch.setitem(sys.modules, "fake_command", module)
    monkeypatch.setitem(cli.COMMANDS, "fake", cli.Command("fake_command", "a fake"))
    assert cli.main(["fake", "--x"]) == 0
    module.main = lambda argv: 3  # an int is the exit status (spatial.generate returns 2 on bad arguments)
    assert cli.main(["fake"]) == 3


def test_pyproject_scripts_point_to_importable_callables() -> None:
    scripts = tomllib.loads(PYPROJECT.read_text())["project"]["scripts"]
    assert scripts["vst-vla"] == "vst_vla.cli:main"
    for name in ("train", "collect", "eval"):  # the old entry points stay as aliases
        assert scripts[f"vst-vla-{name}"] == f"{cli.COMMANDS[name].module}:main"
    for target in scripts.values():
        module, attr = target.split(":")
        assert callable(getattr(importlib.import_module(module), attr)), target


def test_module_runs_as_a_script() -> None:
    # The same path as the installed console script, through a fresh interpreter.
    result = subprocess.run([sys.executable, "-m", "vst_vla.cli", "--help"], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert "expert-success" in result.stdout
