"""CLI commands `flag set`, `option set` and `grouptypes`: release flags and runtime options (spec §10, §22)."""
from __future__ import annotations

import sys
from typing import Any

import click
import orjson
import psycopg

from grouptypes import RolloutStage, flag_option_name
from grouptypes.listing import render
from storage.options import read_options
from streams.app import app, settings
from streams.commands.running import run_in_app
from streams.core.options import (
    InvalidOption,
    check_flag_name,
    flag_value_from_cli,
    option_value_from_cli,
    validate_option,
)
from streams.services import registry
from streams.topics import options_topic


@click.group(name="flag")
def flag_group() -> None:
    """Release flags of unreleased group types (spec §10.1)."""


@click.group(name="option")
def option_group() -> None:
    """Runtime options every worker applies within seconds (spec §10.4)."""


@flag_group.command(name="set")
@click.argument("name")
@click.argument("stage", type=click.Choice([stage.value for stage in RolloutStage], case_sensitive=False))
@click.option("--projects", default=None, metavar="1,2",
              help="project ids the flag is on for; required for la/ea ('' for none yet), not allowed for off/ga")
@click.pass_context
def flag_set(ctx: click.Context, name: str, stage: str, projects: str | None) -> None:
    """Set release flag NAME (e.g. replay-click-dead-ingest) to off, la, ea or ga (spec §10.2)."""
    try:
        check_flag_name(name, registry.known_flag_names())
        value = flag_value_from_cli(stage, projects).to_dict()
    except InvalidOption as error:
        raise click.UsageError(str(error)) from None
    run_in_app(ctx, produce_option, name=flag_option_name(name), value=value)


@option_group.command(name="set")
@click.argument("name")
@click.argument("value")
@click.pass_context
def option_set(ctx: click.Context, name: str, value: str) -> None:
    """Set runtime option NAME to VALUE, given as JSON (e.g. timers.scan_interval_seconds 30)."""
    try:
        stored = validate_option(name, option_value_from_cli(value), flag_names=registry.known_flag_names())
    except InvalidOption as error:
        raise click.UsageError(str(error)) from None
    run_in_app(ctx, produce_option, name=name, value=stored)


async def produce_option(name: str, value: Any) -> None:
    """Producing needs no agent: the worker that owns the options partition applies it (spec §10.4.1)."""
    producer = app.producer
    await producer.start()
    try:
        # The first write may come before any worker ran: create the topic compacted with one partition,
        # never let the broker auto-create it with its defaults.
        await options_topic.maybe_declare()
        delivery = await options_topic.send(key=name.encode("utf-8"), value=orjson.dumps(value))
        await producer.flush()
        metadata = await delivery
    finally:
        await producer.stop()
    print(f"{name} = {orjson.dumps(value).decode()} (options offset {metadata.offset}); "
          "running workers apply it within seconds")


@click.command(name="grouptypes")
@click.pass_context
def grouptypes(ctx: click.Context) -> None:
    """Print the registered group types, their settings, and each unreleased type's flags (spec §9.6, §10.1)."""
    run_in_app(ctx, print_group_types)


async def print_group_types() -> None:
    try:
        async with await psycopg.AsyncConnection.connect(settings.database_url, connect_timeout=5) as conn:
            options: dict[str, Any] | None = await read_options(conn)
    except psycopg.Error as error:
        # The registry itself needs no database; say why the flag states are missing and show the rest.
        reason = " ".join(str(error).split()) or type(error).__name__
        print(f"flag states unknown: cannot read the options table ({reason}); run `issue-platform migrate`?",
              file=sys.stderr)
        options = None
    print(render(registry.all(), options))
