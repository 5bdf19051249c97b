"""The CLI command list: `streams.worker.COMMANDS` is what `issue-platform --help` offers; nothing else adds ours."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from streams import worker

CLI = str(Path(sys.executable).with_name("issue-platform"))

# spec §22 and issue 10: the surface that must not change
EXPECTED = {
    "migrate": None,
    "send-example": None,
    "validate": None,
    "grouptypes": None,
    "flag": {"set"},
    "option": {"set"},
    "dlq": {"list", "replay"},
    "project": {"set"},  # spec §22
    "parked": {"list", "retry"},  # spec §2.4.12
    "audit": None,  # spec §2.4.13
}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=60)


def listed_commands(help_text: str) -> set[str]:
    """The names under `Commands:` in a click help page."""
    _, _, listing = help_text.partition("\nCommands:\n")
    return {line.split()[0] for line in listing.splitlines() if line.startswith("  ") and line.split()}


def test_the_list_holds_exactly_our_commands_and_their_verbs() -> None:
    names = {command.name: command for command in worker.COMMANDS}
    assert set(names) == set(EXPECTED)
    for name, verbs in EXPECTED.items():
        command = names[name]
        if verbs is None:
            assert not isinstance(command, click.Group), name
        else:
            assert isinstance(command, click.Group) and set(command.commands) == verbs, name


def test_every_listed_command_is_offered_by_issue_platform_help() -> None:
    result = run("--help")
    assert result.returncode == 0, result.stderr
    offered = listed_commands(result.stdout)
    assert {command.name for command in worker.COMMANDS} <= offered
    assert {"worker", "send", "agents"} <= offered  # Faust's own stay beside ours


def test_every_group_offers_its_verbs() -> None:
    for command in worker.COMMANDS:
        if isinstance(command, click.Group):
            result = run(str(command.name), "--help")
            assert result.returncode == 0, result.stderr
            assert listed_commands(result.stdout) == set(command.commands), command.name


def test_importing_the_commands_registers_nothing_only_build_does() -> None:
    # In a fresh interpreter: Faust's root group must not know our commands until worker.build() adds them.
    script = (
        "from faust.cli.base import cli\n"
        "from streams import worker\n"
        "ours = {command.name for command in worker.COMMANDS}\n"
        "assert not ours & set(cli.commands), ours & set(cli.commands)\n"
        "worker.build()\n"
        "assert all(cli.commands[c.name] is c for c in worker.COMMANDS)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_a_bad_replay_selection_is_a_one_line_usage_error() -> None:
    result = run("dlq", "replay")
    assert result.returncode == 2
    assert result.stderr == (
        "Error: issue-platform dlq replay: give the ids to replay, or a reason to select them by\n"
    )
