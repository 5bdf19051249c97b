"""Runtime option and flag values are checked before they are stored; CLI arguments parse to them (spec §10)."""
from __future__ import annotations

import pytest

from grouptypes import BUILTIN_GROUP_TYPES, FlagValue, RolloutStage, flag_names
from grouptypes.listing import flag_state, render
from streams.core.options import (
    InvalidOption,
    check_flag_name,
    flag_value_from_cli,
    option_value_from_cli,
    parse_projects,
    validate_option,
)

FLAGS = frozenset(name for group_type in BUILTIN_GROUP_TYPES for name in flag_names(group_type).values())


def test_builtin_flags_are_the_three_of_each_unreleased_type() -> None:
    assert {"replay-click-dead-ingest", "replay-click-dead-post-process-group", "replay-click-dead-visible"} <= FLAGS
    assert not any(name.startswith("replay-click-rage-") for name in FLAGS)  # released: no flags (§10.1.2)


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ({"stage": "off"}, {"stage": "off"}),
        ({"stage": "ga"}, {"stage": "ga"}),
        ({"stage": "la", "projects": [3, 1]}, {"stage": "la", "projects": [1, 3]}),
        ({"stage": "ea", "projects": []}, {"stage": "ea", "projects": []}),
    ],
)
def test_flag_option_is_stored_in_its_normal_form(value: object, stored: object) -> None:
    assert validate_option("flag:replay-click-dead-ingest", value, flag_names=FLAGS) == stored


@pytest.mark.parametrize(
    "value",
    [
        {"stage": "la"},  # la/ea need a project list (§20.11.3)
        {"stage": "ga", "projects": [1]},  # off/ga take none
        {"stage": "beta"},
        {"stage": "la", "projects": [0]},
        {"stage": "la", "projects": [True]},
        {"stage": "off", "extra": 1},
        "ga",
        None,
    ],
)
def test_malformed_flag_value_is_refused(value: object) -> None:
    with pytest.raises(InvalidOption, match="flag:replay-click-dead-ingest"):
        validate_option("flag:replay-click-dead-ingest", value, flag_names=FLAGS)


@pytest.mark.parametrize("name", ["replay-click-rage-ingest", "replay-click-dead", "nope-ingest", ""])
def test_flag_of_no_registered_unreleased_type_is_refused(name: str) -> None:
    with pytest.raises(InvalidOption, match="unknown flag"):
        validate_option(f"flag:{name}", {"stage": "ga"}, flag_names=FLAGS)
    with pytest.raises(InvalidOption, match="replay-click-dead-ingest"):  # the message lists the real ones
        check_flag_name(name, FLAGS)


@pytest.mark.parametrize("value", [10, 60, 3600])
def test_scan_interval_within_10_to_3600_is_accepted(value: int) -> None:
    assert validate_option("timers.scan_interval_seconds", value, flag_names=FLAGS) == value


@pytest.mark.parametrize("value", [9, 3601, 0, -5, 60.0, "60", True, None])
def test_scan_interval_outside_its_bounds_or_not_an_integer_is_refused(value: object) -> None:
    with pytest.raises(InvalidOption, match="timers.scan_interval_seconds"):
        validate_option("timers.scan_interval_seconds", value, flag_names=FLAGS)


def test_dedupe_window_is_refused_as_a_start_up_setting() -> None:
    with pytest.raises(InvalidOption, match="start-up setting, not a runtime option"):
        validate_option("dedupe.window_seconds", 600, flag_names=FLAGS)


def test_unknown_option_name_is_refused_with_the_known_names() -> None:
    with pytest.raises(InvalidOption, match="timers.scan_interval_seconds"):
        validate_option("timers.scan_interval", 60, flag_names=FLAGS)


@pytest.mark.parametrize(("text", "projects"), [("1,2", [1, 2]), (" 7 , 3 ", [7, 3]), ("", []), ("5,", [5])])
def test_projects_argument_parses_to_project_ids(text: str, projects: list[int]) -> None:
    assert parse_projects(text) == projects


@pytest.mark.parametrize("text", ["1;2", "a", "0", "-1", "1.5"])
def test_projects_argument_that_is_not_positive_ids_is_refused(text: str) -> None:
    with pytest.raises(InvalidOption, match="--projects"):
        parse_projects(text)


def test_flag_set_arguments_become_the_rollout_value() -> None:
    assert flag_value_from_cli("la", "1,2") == FlagValue(RolloutStage.LA, frozenset({1, 2}))
    assert flag_value_from_cli("EA", "") == FlagValue(RolloutStage.EA)
    assert flag_value_from_cli("ga", None) == FlagValue(RolloutStage.GA)
    assert flag_value_from_cli("off", None) == FlagValue(RolloutStage.OFF)


@pytest.mark.parametrize(
    ("stage", "projects", "message"),
    [("la", None, "needs a 'projects' list"), ("ga", "1", "takes no projects"), ("beta", None, "stage must be")],
)
def test_flag_set_arguments_that_break_the_put_rules_are_refused(
    stage: str, projects: str | None, message: str
) -> None:
    with pytest.raises(InvalidOption, match=message):
        flag_value_from_cli(stage, projects)


def test_option_value_argument_is_json() -> None:
    assert option_value_from_cli("30") == 30
    assert option_value_from_cli('{"stage": "ga"}') == {"stage": "ga"}
    with pytest.raises(InvalidOption, match="must be JSON"):
        option_value_from_cli("thirty")


@pytest.mark.parametrize(
    ("stored", "shown"),
    [(None, "off (default)"), ({"stage": "ga"}, "ga"), ({"stage": "la", "projects": [2, 1]}, "la [1, 2]"),
     ({"stage": "ea", "projects": []}, "ea []")],
)
def test_flag_state_reads_as_stage_and_projects(stored: object, shown: str) -> None:
    assert flag_state(stored) == shown


def test_listing_shows_every_type_and_the_flags_of_unreleased_ones() -> None:
    listing = render(BUILTIN_GROUP_TYPES, {"flag:replay-click-dead-ingest": {"stage": "la", "projects": [1]}})
    lines = listing.splitlines()
    assert lines[0].split() == ["id", "slug", "category", "noise", "priority", "released", "quota", "AR", "Esc"]
    assert "1001  performance_slow_db_query" in listing
    row = next(line for line in lines if line.startswith("5001 "))
    assert row.split() == ["5001", "replay_click_dead", "replay", "-", "MEDIUM", "no", "5/1h", "yes", "yes"]
    flags = lines[lines.index(row) + 1: lines.index(row) + 4]
    assert [line.split()[1:] for line in flags] == [
        ["replay-click-dead-ingest", "la", "[1]"],
        ["replay-click-dead-post-process-group", "off", "(default)"],
        ["replay-click-dead-visible", "off", "(default)"],
    ]
    assert "flag replay-click-rage" not in listing


def test_listing_says_unknown_when_the_options_could_not_be_read() -> None:
    listing = render(BUILTIN_GROUP_TYPES, None)
    assert "replay-click-dead-ingest" in listing and "unknown" in listing
