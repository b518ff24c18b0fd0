"""The CLI skeleton: every command has --help, and unbuilt commands say so and exit non-zero."""
from typer.testing import CliRunner

from engine.cli import COMMAND_MODULES, app

runner = CliRunner()


def test_top_level_help_lists_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in COMMAND_MODULES:
        assert name in result.output


def test_every_command_has_help():
    for name in COMMAND_MODULES:
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Usage" in result.output
