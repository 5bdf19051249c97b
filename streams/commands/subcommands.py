"""Two-word CLI commands (`flag set`, …): click groups under Faust's root command, run like `@app.command`.

`@app.command` makes one top-level click command per function. Spec §22 wants nouns with verbs
(`issue-platform flag set …`), so a noun is a plain click group added to Faust's root group, and each verb
validates its arguments synchronously (a bad argument is a one-line usage error, exit status 2) and only
then runs its async body the way Faust runs a command body: inside a `faust.Worker` with the app's loop.
"""
from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

import click
from faust.cli.base import AppCommand, cli
from mode.worker import exiting


def command_group(name: str, help: str) -> click.Group:
    """A noun under `issue-platform` (e.g. `flag`); add verbs with `@group.command(...)`."""
    group = click.Group(name=name, help=help)
    cli.add_command(group)
    return group


def run_in_app(ctx: click.Context, body: Callable[..., Awaitable[Any]], **kwargs: Any) -> NoReturn:
    """Run `await body(**kwargs)` as Faust runs an `@app.command` body, then exit with its status."""
    # `abstract = True` keeps Faust from registering this class as another top-level command.
    command_class = type(body.__name__, (AppCommand,), {"abstract": True, "run": staticmethod(body)})
    command = command_class(ctx, **kwargs)
    with exiting(print_exception=True, file=sys.stderr):
        command()
    raise SystemExit(0)  # command() always exits; this line only tells the type checker so
