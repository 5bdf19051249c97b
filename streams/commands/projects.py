"""CLI command `project set`: a project's settings through the options topic, as its PUT does (spec §11.1, §22)."""
from __future__ import annotations

import sys
from typing import Any

import click
import orjson
import psycopg

from storage import queries
from storage.projects import slug_holder
from streams.app import settings
from streams.commands.flags import produce_option
from streams.commands.running import EXIT_USAGE, run_in_app, usage_error
from streams.core.projects import InvalidSettings, check_patch, project_option_name

EXIT_CONFLICT = 1


@click.group(name="project")
def project_group() -> None:
    """Project settings (spec §11)."""


def rate_limit_from_cli(text: str) -> dict[str, Any]:
    """`--rate-limit`: `off`, `on`, `LIMIT/WINDOW_SECONDS[/GRANULARITY_SECONDS]` (on), or a JSON object."""
    lowered = text.strip().lower()
    if lowered in ("off", "on"):
        return {"enabled": lowered == "on"}
    if lowered.startswith("{"):
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as error:
            raise ValueError(f"--rate-limit is not valid JSON: {error}") from None
        if not isinstance(value, dict):
            raise ValueError("--rate-limit JSON must be an object")
        return value
    parts = lowered.split("/")
    if not 2 <= len(parts) <= 3 or not all(part.isdigit() for part in parts):
        raise ValueError(f"--rate-limit takes off, on, LIMIT/WINDOW_SECONDS[/GRANULARITY_SECONDS] or a JSON object, "
                         f"got {text!r}")
    limit: dict[str, Any] = {"enabled": True, "limit": int(parts[0]), "window_seconds": int(parts[1])}
    if len(parts) == 3:
        limit["granularity_seconds"] = int(parts[2])
    return limit


def patch_from_cli(slug: str | None, resolve_age_hours: str | None, rate_limit: str | None) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    if slug is not None:
        patch["slug"] = slug
    if resolve_age_hours is not None:
        text = resolve_age_hours.strip().lower()
        if text in ("none", "null"):
            patch["resolve_age_hours"] = None
        elif text.isdigit():
            patch["resolve_age_hours"] = int(text)
        else:
            raise ValueError(f"--resolve-age-hours takes an integer from 1 to 8760 or none, got {resolve_age_hours!r}")
    if rate_limit is not None:
        patch["occurrence_rate_limit"] = rate_limit_from_cli(rate_limit)
    if not patch:
        raise ValueError("name at least one of --slug, --resolve-age-hours, --rate-limit")
    return patch


@project_group.command(name="set")
@click.argument("project_id", type=click.IntRange(min=1))
@click.option("--slug", default=None, help="^[a-z0-9][a-z0-9-]{0,49}$, unique; p<id> only for project <id>")
@click.option("--resolve-age-hours", default=None, metavar="N|none", help="auto-resolve after N hours (1-8760)")
@click.option("--rate-limit", default=None, metavar="off|on|LIMIT/WINDOW[/GRANULE]|JSON",
              help="the occurrence rate limit per group key (spec §11.2), e.g. 100/3600 or off")
@click.pass_context
def project_set(ctx: click.Context, project_id: int, slug: str | None, resolve_age_hours: str | None,
                rate_limit: str | None) -> None:
    """Create project PROJECT_ID or change its settings; running workers apply it within seconds."""
    try:
        patch = patch_from_cli(slug, resolve_age_hours, rate_limit)
        check_patch(project_id, patch)  # checked again against the stored settings once they are read
    except ValueError as error:  # InvalidSettings too
        usage_error(ctx, str(error))
    run_in_app(ctx, set_project, command=ctx.command_path, project_id=project_id, patch=patch)


async def set_project(command: str, project_id: int, patch: dict[str, Any]) -> None:
    async with await psycopg.AsyncConnection.connect(settings.database_url, connect_timeout=5) as conn:
        row = await queries.project_by_id(conn, project_id)
        current = None if row is None else {"slug": row.slug, "resolve_age_hours": row.resolve_age_hours,
                                            "occurrence_rate_limit": row.occurrence_rate_limit}
        try:
            checked = check_patch(project_id, patch, current)
        except InvalidSettings as error:  # as usage_error does, from inside the app
            print(f"Error: {command}: {error}", file=sys.stderr)
            raise SystemExit(EXIT_USAGE) from None
        if "slug" in checked:
            holder = await slug_holder(conn, checked["slug"])
            if holder is not None and holder != project_id:
                print(f"Error: project {holder} already has slug {checked['slug']}; nothing changed", file=sys.stderr)
                raise SystemExit(EXIT_CONFLICT)
    await produce_option(project_option_name(project_id), checked)
