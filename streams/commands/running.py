"""How every CLI command runs: a plain click command whose async body runs inside Faust's AppCommand.

A commands module only defines its click commands and groups; nothing registers itself on import (no
`@app.command`, which adds a command to Faust's root group as a side effect of the decorator).
`streams.worker.COMMANDS` lists them and `build()` adds each to Faust's root group, beside `worker` and
Faust's other commands. A command checks its arguments synchronously (a bad one is a usage error, exit
status 2, before anything starts) and then hands its async body to `run_in_app`, which runs it the way Faust
runs any command body: inside a `faust.Worker` on the app's loop, so the app's producer is there to start.
"""
from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

import click
from faust.cli.base import AppCommand, State
from mode.worker import exiting

EXIT_USAGE = 2  # click's status for a bad command line


def run_in_app(ctx: click.Context, body: Callable[..., Awaitable[Any]], **kwargs: Any) -> NoReturn:
    """Run `await body(**kwargs)` as Faust runs an AppCommand, then exit with its status."""
    # `abstract = True` keeps Faust from registering this class as another top-level command.
    command_class = type(body.__name__, (AppCommand,), {"abstract": True, "run": staticmethod(body)})
    command = command_class(ctx, **kwargs)
    with exiting(print_exception=True, file=sys.stderr):
        command()
    raise SystemExit(0)  # command() always exits; this line only tells the type checker so


def json_output(ctx: click.Context) -> bool:
    """Whether the global `issue-platform --json` was given (Faust keeps it in the root context's State)."""
    return ctx.ensure_object(State).json


def usage_error(ctx: click.Context, message: str) -> NoReturn:
    """A bad argument found by our own checks, in one line: `Error: issue-platform dlq replay: …`, status 2."""
    print(f"Error: {ctx.command_path}: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)
