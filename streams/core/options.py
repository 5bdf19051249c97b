"""Runtime options (spec §10.4): the names that exist, and the check every value passes before it is stored."""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import orjson

from grouptypes.flags import FLAG_OPTION_PREFIX, FlagValue, RolloutStage, parse_flag_value


class InvalidOption(ValueError):
    """A name that is not a runtime option, or a value that breaks its option's rule; the message says which."""


@dataclass(frozen=True)
class IntegerOption:
    """An integer runtime option with inclusive bounds (spec §10.4, §20.11.4)."""

    name: str
    default: int
    minimum: int
    maximum: int
    description: str

    def check(self, value: object) -> int:
        # bool is an int subclass, but `true` is never a number of seconds.
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidOption(f"{self.name} must be an integer, got {orjson.dumps(value).decode()}")
        if not self.minimum <= value <= self.maximum:
            raise InvalidOption(f"{self.name} must be between {self.minimum} and {self.maximum}, got {value}")
        return value


# spec §10.4
INTEGER_OPTIONS: dict[str, IntegerOption] = {
    option.name: option
    for option in (
        IntegerOption(
            "timers.scan_interval_seconds", default=60, minimum=10, maximum=3600,
            description="How often each worker's timers scan the groups it owns (spec §15.1)",
        ),
    )
}

# spec §10.4: settings a worker reads once at start; they look like options but cannot change at runtime.
STARTUP_SETTINGS: dict[str, str] = {
    "dedupe.window_seconds": (
        "dedupe.window_seconds is a start-up setting, not a runtime option (spec §10.4): the seen-ids "
        "windowed table's size is fixed when a worker declares it, so change the worker setting and "
        "restart the workers instead"
    ),
}


def validate_option(name: str, value: object, *, flag_names: Collection[str]) -> object:
    """The value to store for option `name`, normalised; InvalidOption if the name or value is not allowed.

    `flag_names` are the flags of the registered unreleased types (spec §10.1.1); a flag option is
    `flag:<flag name>` with a §10.2 rollout object as its value.
    """
    if name in STARTUP_SETTINGS:
        raise InvalidOption(STARTUP_SETTINGS[name])
    if name.startswith(FLAG_OPTION_PREFIX):
        check_flag_name(name[len(FLAG_OPTION_PREFIX):], flag_names)
        try:
            return parse_flag_value(value).to_dict()
        except ValueError as error:
            raise InvalidOption(f"{name}: {error}") from None
    if name in INTEGER_OPTIONS:
        return INTEGER_OPTIONS[name].check(value)
    known = ", ".join([f"{FLAG_OPTION_PREFIX}<flag name>", *sorted(INTEGER_OPTIONS)])
    raise InvalidOption(f"unknown option {name!r}; the runtime options are {known} (spec §10.4)")


def check_flag_name(flag_name: str, flag_names: Collection[str]) -> None:
    """Only the flags of registered unreleased types exist (spec §10.1): a typo must not store a dead flag."""
    if flag_name in flag_names:
        return
    known = ", ".join(sorted(flag_names)) or "none (every registered type is released)"
    raise InvalidOption(
        f"unknown flag {flag_name!r}: flags exist only for registered unreleased group types, named "
        f"<type slug with '-'>-ingest, -post-process-group or -visible (spec §10.1.1); known flags: {known}"
    )


def parse_projects(text: str) -> list[int]:
    """`--projects 1,2` → [1, 2]; an empty string is the empty list (LA/EA for no project yet)."""
    projects: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit() or int(part) <= 0:
            raise InvalidOption(f"--projects takes comma-separated positive project ids, got {part!r}")
        projects.append(int(part))
    return projects


def flag_value_from_cli(stage: str, projects: str | None) -> FlagValue:
    """The flag value of `flag set <name> <stage> [--projects 1,2]`, checked as spec §20.11.3 checks a PUT."""
    try:
        rollout = RolloutStage(stage.lower())
    except ValueError:
        allowed = "|".join(s.value for s in RolloutStage)
        raise InvalidOption(f"stage must be one of {allowed}, got {stage!r}") from None
    obj: dict[str, object] = {"stage": rollout.value}
    if projects is not None:
        obj["projects"] = parse_projects(projects)
    try:
        return parse_flag_value(obj)
    except ValueError as error:
        hint = " (use --projects 1,2; --projects '' for none yet)" if "needs" in str(error) else ""
        raise InvalidOption(f"{error}{hint}") from None


def option_value_from_cli(text: str) -> object:
    """`option set <name> <value>`: the value is JSON (`60`, `{"stage": "ga"}`)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise InvalidOption(f"the value must be JSON (e.g. 60 or '{{\"stage\": \"ga\"}}'): {error}") from None
