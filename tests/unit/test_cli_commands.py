"""Commands from other distributions: the ``axiom.commands`` entry points, and their absence."""

from __future__ import annotations

import sys
import tomllib
import types
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from axiom_runtime import cli

ROOT = Path(__file__).resolve().parents[2]


def test_the_operator_distribution_registers_its_command() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"][cli.ENTRY_POINT_GROUP] == {"operator": "axiom_operator.cli"}


def test_operator_not_installed_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "entry_points", lambda group: [])
    code = cli.main(["operator", "--standalone"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE
    assert err == (
        "axiom: error: command 'operator' is not installed: it comes with the axiom-operator "
        "distribution (pip install axiom-operator)\n"
    )


def test_a_command_registered_by_entry_point_is_listed_and_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plugin = types.ModuleType("axiom_test_plugin")
    plugin.SUMMARY = "say hello"  # type: ignore[attr-defined]
    plugin.configure = lambda parser: parser.set_defaults(  # type: ignore[attr-defined]
        handler=lambda options: print("hello") or 0
    )
    monkeypatch.setitem(sys.modules, "axiom_test_plugin", plugin)
    entry = EntryPoint("hello", "axiom_test_plugin", cli.ENTRY_POINT_GROUP)
    monkeypatch.setattr(cli, "entry_points", lambda group: [entry] if group == entry.group else [])
    assert cli.main(["--help"]) == cli.EXIT_OK
    assert "  hello  say hello" in capsys.readouterr().out.replace("    ", "  ")
    assert cli.main(["hello"]) == cli.EXIT_OK
    assert capsys.readouterr().out == "hello\n"


def test_an_entry_point_cannot_replace_a_runtime_command(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = EntryPoint("serve", "elsewhere.cli", cli.ENTRY_POINT_GROUP)
    monkeypatch.setattr(cli, "entry_points", lambda group: [entry])
    assert cli.installed_commands()["serve"].module == "axiom_runtime.cli_serve"


def test_a_broken_plugin_fails_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    entry = EntryPoint("broken", "axiom_no_such_module_anywhere", cli.ENTRY_POINT_GROUP)
    monkeypatch.setattr(cli, "entry_points", lambda group: [entry])
    assert cli.main(["broken"]) == cli.EXIT_FAILURE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'broken' is installed but cannot be loaded" in err
