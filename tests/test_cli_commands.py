"""The one command exposes every capability's sub-command, and each sub-command's help loads."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from leakwarden.cli import app

COMMANDS = (
    "demo",
    "detect",
    "scan",
    "inventory",
    "db",
    "protect",
    "reveal",
    "keys",
    "waybill",
    "audit",
    "serve",
    "token",
    "policy",
    "query",
    "export",
    "trace",
    "trace-index",
    "monitor",
)


def test_top_level_help_lists_every_command() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    for name in COMMANDS:
        assert f" {name} " in result.output, name


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_has_help(name: str) -> None:
    result = CliRunner().invoke(app, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
