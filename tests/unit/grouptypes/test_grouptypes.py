"""Group types: registry rules, built-ins, categories, release flags, loading (spec §9, §10.1-10.2)."""

import sys
import textwrap
import types
from collections.abc import Callable, Iterator
from datetime import timedelta
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

import grouptypes
import grouptypes.categories
import grouptypes.loading
from grouptypes import (
    DEFAULT_CREATION_QUOTA,
    CategoryRegistry,
    FlagValue,
    GroupCategory,
    GroupType,
    GroupTypeLoadError,
    GroupTypeRegistrationError,
    GroupTypeRegistry,
    NoiseConfig,
    PriorityLevel,
    Quota,
    RolloutStage,
    UnknownGroupType,
    default_registry,
    flag_enabled,
    flag_names,
    flag_slug,
    gate_passes,
    load_group_types,
    parse_flag_value,
    register_category,
    use_registry,
)

_OMIT: Any = object()  # marks an attribute make_type leaves out of the class body


@pytest.fixture(autouse=True)
def default_registry_is_untouched() -> Iterator[None]:
    # Every test must use its own registry; this guard fails the test that leaks into the global one.
    before = [gt.type_id for gt in default_registry.all()]
    yield
    assert [gt.type_id for gt in default_registry.all()] == before


@pytest.fixture
def registry() -> GroupTypeRegistry:
    return GroupTypeRegistry()


def make_type(
    registry: GroupTypeRegistry, name: str = "ExampleGroupType", **overrides: Any
) -> type[GroupType]:
    attrs: dict[str, Any] = {
        "type_id": 9001,
        "slug": "example",
        "description": "Example",
        "category": GroupCategory.PERFORMANCE,
        **overrides,
    }
    attrs = {key: value for key, value in attrs.items() if value is not _OMIT}
    return types.new_class(name, (GroupType,), {"registry": registry}, lambda ns: ns.update(attrs))


# --- registry rules (§9.2, §9.5) ------------------------------------------------------------------


def test_minimal_subclass_gets_the_documented_defaults(registry: GroupTypeRegistry) -> None:
    class Minimal(GroupType, registry=registry):
        type_id = 9001
        slug = "minimal"
        description = "Minimal"
        category = GroupCategory.REPLAY

    assert registry.get_by_type_id(9001) is Minimal
    assert Minimal.noise_config is None
    assert Minimal.default_priority == 50
    assert Minimal.released is False
    assert Minimal.in_default_search is True
    assert Minimal.enable_auto_resolve is True
    assert Minimal.enable_escalation_detection is True
    assert Minimal.creation_quota == Quota(window_seconds=3600, granularity_seconds=60, limit=5)


def test_duplicate_type_id_error_uses_the_spec_message(registry: GroupTypeRegistry) -> None:
    make_type(registry, "First", type_id=9001, slug="first")
    with pytest.raises(GroupTypeRegistrationError) as error:
        make_type(registry, "Second", type_id=9001, slug="second")
    assert str(error.value) == "A group type with the type_id 9001 has already been registered."


def test_duplicate_slug_is_a_registration_error(registry: GroupTypeRegistry) -> None:
    make_type(registry, "First", type_id=9001, slug="same")
    with pytest.raises(GroupTypeRegistrationError, match="'same'") as error:
        make_type(registry, "Second", type_id=9002, slug="same")
    assert "First" in str(error.value) and "Second" in str(error.value)
    assert registry.get_by_slug("same") is registry.get_by_type_id(9001)


def test_failed_registration_leaves_the_registry_unchanged(registry: GroupTypeRegistry) -> None:
    make_type(registry, "First", type_id=9001, slug="same")
    with pytest.raises(GroupTypeRegistrationError):
        make_type(registry, "Second", type_id=9002, slug="same")
    assert not registry.is_registered(9002)
    assert len(registry) == 1


def test_registering_the_same_class_again_is_a_no_op(registry: GroupTypeRegistry) -> None:
    example = make_type(registry)
    assert registry.register(example) is example
    assert registry.all() == [example]


@pytest.mark.parametrize(
    "category",
    [GroupCategory(99, "made_up"), GroupCategory(2, "perf"), 2, "performance", None],
    ids=["unregistered", "registered-value-other-name", "plain-int", "plain-name", "none"],
)
def test_unknown_category_is_a_registration_error(registry: GroupTypeRegistry, category: object) -> None:
    with pytest.raises(GroupTypeRegistrationError, match="category"):
        make_type(registry, category=category)


@pytest.mark.parametrize("slug", ["Upper", "with-dash", "with space", "", "ünï", "trailing\n", 5])
def test_slug_outside_the_allowed_pattern_is_a_registration_error(
    registry: GroupTypeRegistry, slug: object
) -> None:
    with pytest.raises(GroupTypeRegistrationError, match="slug"):
        make_type(registry, slug=slug)


def test_slug_with_digits_and_underscores_is_accepted(registry: GroupTypeRegistry) -> None:
    make_type(registry, slug="performance_p95_endpoint_2")
    assert registry.get_by_slug("performance_p95_endpoint_2") is not None


@pytest.mark.parametrize("type_id", [0, -1, True, "9001", 1.5])
def test_type_id_must_be_a_positive_integer(registry: GroupTypeRegistry, type_id: object) -> None:
    with pytest.raises(GroupTypeRegistrationError, match="type_id"):
        make_type(registry, type_id=type_id)


@pytest.mark.parametrize("priority", [0, 30, 100, 50.0, True, "medium", None])
def test_default_priority_must_be_low_medium_or_high(registry: GroupTypeRegistry, priority: object) -> None:
    with pytest.raises(GroupTypeRegistrationError, match="default_priority"):
        make_type(registry, default_priority=priority)


@pytest.mark.parametrize("priority", [25, 50, 75, PriorityLevel.HIGH])
def test_default_priority_accepts_the_three_levels(registry: GroupTypeRegistry, priority: int) -> None:
    assert make_type(registry, default_priority=priority).default_priority == priority


@pytest.mark.parametrize("attribute", ["type_id", "slug", "description", "category"])
def test_missing_required_attribute_is_a_registration_error(
    registry: GroupTypeRegistry, attribute: str
) -> None:
    with pytest.raises(GroupTypeRegistrationError, match=f"{attribute} is required"):
        make_type(registry, **{attribute: _OMIT})


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("noise_config", 3),
        ("noise_config", {"ignore_limit": 3}),
        ("creation_quota", (3600, 60, 5)),
        ("creation_quota", None),
        ("released", "yes"),
        ("in_default_search", 1),
        ("description", ""),
    ],
)
def test_attribute_of_the_wrong_kind_is_a_registration_error(
    registry: GroupTypeRegistry, attribute: str, value: Any
) -> None:
    with pytest.raises(GroupTypeRegistrationError, match=attribute):
        make_type(registry, **{attribute: value})


def test_unknown_type_id_lookup_raises_unknown_group_type(registry: GroupTypeRegistry) -> None:
    with pytest.raises(UnknownGroupType, match="9999 is not registered") as error:
        registry.get_by_type_id(9999)
    assert isinstance(error.value, LookupError)
    assert error.value.type_id == 9999


def test_unknown_slug_lookup_returns_none(registry: GroupTypeRegistry) -> None:
    assert registry.get_by_slug("nope") is None


def test_lookup_by_category_returns_the_set_of_type_ids(registry: GroupTypeRegistry) -> None:
    make_type(registry, "A", type_id=9001, slug="a", category=GroupCategory.REPLAY)
    make_type(registry, "B", type_id=9002, slug="b", category=GroupCategory.CRON)
    make_type(registry, "C", type_id=9003, slug="c", category=GroupCategory.REPLAY)
    assert registry.get_by_category(GroupCategory.REPLAY) == {9001, 9003}
    assert registry.get_by_category(5) == {9001, 9003}
    assert registry.get_by_category(GroupCategory.UPTIME) == set()


def test_all_lists_types_sorted_by_type_id(registry: GroupTypeRegistry) -> None:
    make_type(registry, "B", type_id=9002, slug="b")
    make_type(registry, "A", type_id=9001, slug="a")
    assert [gt.type_id for gt in registry.all()] == [9001, 9002]
    assert registry.is_registered(9002) and not registry.is_registered(9003)


def test_use_registry_routes_definitions_and_then_restores_the_default() -> None:
    isolated = GroupTypeRegistry()
    with use_registry(isolated):

        class Isolated(GroupType):
            type_id = 9001
            slug = "isolated"
            description = "Isolated"
            category = GroupCategory.CRON

        assert grouptypes.active_registry() is isolated
    assert isolated.get_by_type_id(9001) is Isolated
    assert grouptypes.active_registry() is default_registry


# --- value objects (§9.3) -------------------------------------------------------------------------


def test_noise_config_defaults_to_three_occurrences_in_24_hours() -> None:
    config = NoiseConfig()
    assert config.ignore_limit == 3
    assert config.expiry_time == timedelta(hours=24)
    assert config.expiry_seconds == 86_400


def test_noise_config_ignore_limit_of_one_is_allowed() -> None:
    assert NoiseConfig(ignore_limit=1).ignore_limit == 1


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"ignore_limit": 0}, "ignore_limit"),
        ({"ignore_limit": -3}, "ignore_limit"),
        ({"ignore_limit": True}, "ignore_limit"),
        ({"ignore_limit": 2.0}, "ignore_limit"),
        ({"expiry_time": timedelta(0)}, "expiry_time"),
        ({"expiry_time": timedelta(seconds=-60)}, "expiry_time"),
        ({"expiry_time": timedelta(seconds=1.5)}, "expiry_time"),
        ({"expiry_time": 86_400}, "expiry_time"),
    ],
)
def test_bad_noise_config_values_are_registration_errors(kwargs: dict[str, Any], problem: str) -> None:
    with pytest.raises(GroupTypeRegistrationError, match=problem):
        NoiseConfig(**kwargs)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ((0, 60, 5), "window_seconds"),
        ((3600, 0, 5), "granularity_seconds"),
        ((3600, 60, 0), "limit"),
        ((3600, 60, -1), "limit"),
        ((3600.0, 60, 5), "window_seconds"),
        ((3600, 60, True), "limit"),
        ((3600, 7, 5), "multiple"),
        ((60, 3600, 5), "multiple"),
    ],
)
def test_bad_quota_values_are_registration_errors(args: tuple[Any, Any, Any], problem: str) -> None:
    with pytest.raises(GroupTypeRegistrationError, match=problem):
        Quota(*args)


def test_default_creation_quota_is_five_groups_per_hour() -> None:
    assert Quota(3600, 60, 5) == DEFAULT_CREATION_QUOTA
    assert DEFAULT_CREATION_QUOTA.granules == 60


def test_bad_value_object_in_a_class_body_fails_the_definition(registry: GroupTypeRegistry) -> None:
    with pytest.raises(GroupTypeRegistrationError, match="multiple"):

        class BadQuota(GroupType, registry=registry):
            type_id = 9001
            slug = "bad_quota"
            description = "Bad quota"
            category = GroupCategory.CRON
            creation_quota = Quota(100, 30, 5)

    assert len(registry) == 0


# --- built-in types (§9.6) ------------------------------------------------------------------------

# Copied from the spec table, not from builtin.py, so that a drift in either shows up here.
# id | slug | category | noise | priority | released | quota | AR | Esc
SPEC_BUILTIN_TABLE = """
1001 | performance_slow_db_query                      | performance | 100  | LOW    | yes | 5     | yes | yes
1004 | performance_render_blocking_asset_span         | performance | 3    | LOW    | yes | 5     | yes | yes
1006 | performance_n_plus_one_db_queries              | performance | 3    | LOW    | yes | 5     | yes | yes
1007 | performance_consecutive_db_queries             | performance | 15   | LOW    | yes | 5     | yes | yes
1008 | performance_file_io_main_thread                | performance | 3    | LOW    | yes | 5     | yes | yes
1009 | performance_consecutive_http                   | performance | 5    | LOW    | yes | 5     | yes | yes
1010 | performance_n_plus_one_api_calls               | performance | 3    | LOW    | yes | 5     | yes | yes
1011 | performance_m_n_plus_one_db_queries            | performance | 3    | LOW    | yes | 5     | yes | yes
1012 | performance_uncompressed_assets                | performance | 100  | LOW    | yes | 5     | yes | yes
1013 | performance_db_main_thread                     | performance | 3    | LOW    | yes | 5     | yes | yes
1015 | performance_large_http_payload                 | performance | 3    | LOW    | yes | 5     | yes | yes
1016 | performance_http_overhead                      | performance | 20   | LOW    | yes | 5     | yes | yes
1018 | performance_p95_endpoint_regression            | performance | -    | MEDIUM | yes | 5     | no  | no
1906 | performance_n_plus_one_db_queries_experimental | performance | 3    | LOW    | no  | 5     | yes | yes
2001 | profile_file_io_main_thread                    | performance | -    | LOW    | yes | 5     | yes | yes
2002 | profile_image_decode_main_thread               | performance | -    | LOW    | yes | 5     | yes | yes
2003 | profile_json_decode_main_thread                | performance | -    | LOW    | yes | 5     | yes | yes
2007 | profile_regex_main_thread                      | performance | -    | LOW    | yes | 5     | yes | yes
2009 | profile_frame_drop                             | performance | 2000 | LOW    | yes | 5     | yes | yes
2011 | profile_function_regression                    | performance | -    | MEDIUM | yes | 5     | no  | yes
4001 | monitor_check_in_failure                       | cron        | -    | HIGH   | yes | 60000 | yes | yes
5001 | replay_click_dead                              | replay      | -    | MEDIUM | no  | 5     | yes | yes
5002 | replay_click_rage                              | replay      | -    | MEDIUM | yes | 5     | yes | yes
5003 | replay_hydration_error                         | replay      | -    | MEDIUM | yes | 5     | yes | yes
6001 | feedback                                       | feedback    | -    | MEDIUM | yes | 1000  | no  | no
7001 | uptime_domain_failure                          | uptime      | -    | HIGH   | yes | 1000  | no  | no
"""
SPEC_ROWS = [[cell.strip() for cell in line.split("|")] for line in SPEC_BUILTIN_TABLE.strip().splitlines()]
SPEC_PRIORITIES = {"LOW": 25, "MEDIUM": 50, "HIGH": 75}
SPEC_CATEGORY_VALUES = {"performance": 2, "cron": 4, "replay": 5, "feedback": 6, "uptime": 7}


@pytest.mark.parametrize("row", SPEC_ROWS, ids=[row[1] for row in SPEC_ROWS])
def test_builtin_type_matches_the_spec_table(row: list[str]) -> None:
    type_id, slug, category, noise, priority, released, quota, auto_resolve, escalation = row
    gt = default_registry.get_by_type_id(int(type_id))
    assert gt.slug == slug
    assert default_registry.get_by_slug(slug) is gt
    assert gt.category.value == SPEC_CATEGORY_VALUES[category]
    assert gt.category.name == category
    if noise == "-":
        assert gt.noise_config is None
    else:
        assert gt.noise_config == NoiseConfig(ignore_limit=int(noise), expiry_time=timedelta(hours=24))
    assert gt.default_priority == SPEC_PRIORITIES[priority]
    assert gt.released is (released == "yes")
    assert gt.creation_quota == Quota(window_seconds=3600, granularity_seconds=60, limit=int(quota))
    assert gt.enable_auto_resolve is (auto_resolve == "yes")
    assert gt.enable_escalation_detection is (escalation == "yes")
    assert gt.in_default_search is (slug != "feedback")
    assert gt.description


def test_exactly_the_spec_table_types_are_shipped_and_error_is_not() -> None:
    assert [gt.type_id for gt in default_registry.all()] == [int(row[0]) for row in SPEC_ROWS]
    assert not default_registry.is_registered(1)
    assert [gt.type_id for gt in grouptypes.BUILTIN_GROUP_TYPES] == [int(row[0]) for row in SPEC_ROWS]


def test_builtin_class_names_follow_the_group_type_convention() -> None:
    assert grouptypes.builtin.PerformanceSlowDBQueryGroupType.type_id == 1001
    assert all(gt.__name__.endswith("GroupType") for gt in grouptypes.BUILTIN_GROUP_TYPES)


# --- categories (§9.4) ----------------------------------------------------------------------------

SPEC_CATEGORIES = {
    1: "error", 2: "performance", 3: "profile", 4: "cron", 5: "replay", 6: "feedback",
    7: "uptime", 8: "metric_alert", 9: "test_notification", 10: "outage", 11: "metric", 12: "db_query",
    13: "http_client", 14: "frontend", 15: "mobile", 16: "ai_detected", 17: "preprod", 18: "instrumentation",
}  # fmt: skip


def test_reference_categories_have_the_spec_values_and_names() -> None:
    categories = CategoryRegistry()
    assert {c.value: c.name for c in categories.all()} == SPEC_CATEGORIES
    for value, name in SPEC_CATEGORIES.items():
        constant = getattr(GroupCategory, name.upper())
        assert constant == GroupCategory(value, name)
        assert grouptypes.category_by_value(value) == constant
        assert grouptypes.category_by_name(name) == constant
        assert int(constant) == value and str(constant) == name


def test_unknown_category_lookups_return_none() -> None:
    assert grouptypes.category_by_value(99) is None
    assert grouptypes.category_by_name("nope") is None


def test_new_category_can_be_registered_and_used_by_a_group_type() -> None:
    categories = CategoryRegistry()
    llm = categories.register(40, "llm_monitoring")
    registry = GroupTypeRegistry(categories=categories)
    make_type(registry, category=llm)
    assert registry.get_by_category(40) == {9001}
    assert categories.by_name("llm_monitoring") == llm


def test_category_unknown_to_a_registry_is_rejected_by_it() -> None:
    elsewhere = CategoryRegistry()
    llm = elsewhere.register(40, "llm_monitoring")
    with pytest.raises(GroupTypeRegistrationError, match="category"):
        make_type(GroupTypeRegistry(categories=CategoryRegistry()), category=llm)


@pytest.mark.parametrize(
    ("value", "name", "problem"),
    [
        (2, "new_name", "value 2 is already registered as 'performance'"),
        (40, "replay", "name 'replay' is already registered"),
        (0, "zero", "positive integer"),
        (-4, "negative", "positive integer"),
        (True, "boolean", "positive integer"),
        (40, "Upper", "must match"),
        (40, "with-dash", "must match"),
        (40, "digit1", "must match"),
        (40, "", "must match"),
    ],
)
def test_category_collision_or_bad_value_is_a_registration_error(value: Any, name: Any, problem: str) -> None:
    categories = CategoryRegistry()
    with pytest.raises(GroupTypeRegistrationError, match=problem):
        categories.register(value, name)
    assert len(categories.all()) == 18


def test_register_category_adds_to_the_default_categories(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grouptypes.categories, "default_categories", CategoryRegistry())
    category = register_category(41, "batch_jobs")
    assert grouptypes.category_by_value(41) == category == GroupCategory(41, "batch_jobs")
    with pytest.raises(GroupTypeRegistrationError):
        register_category(41, "other")


# --- priority (§8.4) ------------------------------------------------------------------------------


def test_priority_levels_have_lowercase_api_names() -> None:
    assert [(int(p), p.api_name) for p in PriorityLevel] == [(25, "low"), (50, "medium"), (75, "high")]


# --- release flags (§10.1, §10.2) -----------------------------------------------------------------


def unreleased(registry: GroupTypeRegistry) -> type[GroupType]:
    return make_type(registry, "ReplayClickDead", type_id=5001, slug="replay_click_dead", released=False)


def test_unreleased_type_has_three_flags_named_from_its_slug(registry: GroupTypeRegistry) -> None:
    gt = unreleased(registry)
    assert flag_slug(gt) == "replay-click-dead"
    assert flag_names(gt) == {
        "ingest": "replay-click-dead-ingest",
        "post_process": "replay-click-dead-post-process-group",
        "visible": "replay-click-dead-visible",
    }


def test_builtin_unreleased_types_have_flags_and_released_ones_do_not() -> None:
    assert flag_names(default_registry.get_by_type_id(5001))["ingest"] == "replay-click-dead-ingest"
    assert flag_names(default_registry.get_by_type_id(1906))["visible"] == (
        "performance-n-plus-one-db-queries-experimental-visible"
    )
    assert flag_names(default_registry.get_by_type_id(5002)) == {}


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ({"stage": "off"}, FlagValue(RolloutStage.OFF)),
        ({"stage": "ga"}, FlagValue(RolloutStage.GA)),
        ({"stage": "la", "projects": [3, 1, 3]}, FlagValue(RolloutStage.LA, frozenset({1, 3}))),
        ({"stage": "ea", "projects": []}, FlagValue(RolloutStage.EA)),
    ],
)
def test_parse_flag_value_accepts_every_stored_stage(stored: dict[str, Any], expected: FlagValue) -> None:
    assert parse_flag_value(stored) == expected


@pytest.mark.parametrize(
    ("stored", "problem"),
    [
        ("ga", "must be an object"),
        (None, "must be an object"),
        ({}, "needs a 'stage'"),
        ({"stage": "beta"}, "stage must be one of"),
        ({"stage": "GA"}, "stage must be one of"),
        ({"stage": "la"}, "needs a 'projects' list"),
        ({"stage": "ea", "projects": 7}, "must be a list"),
        ({"stage": "ea", "projects": "1,2"}, "must be a list"),
        ({"stage": "la", "projects": [1, 0]}, "positive integer"),
        ({"stage": "la", "projects": [1, "2"]}, "positive integer"),
        ({"stage": "la", "projects": [True]}, "positive integer"),
        ({"stage": "ga", "projects": [1]}, "takes no projects"),
        ({"stage": "off", "projects": []}, "takes no projects"),
        ({"stage": "ga", "project": [1]}, "unknown keys"),
    ],
)
def test_parse_flag_value_rejects_malformed_values(stored: object, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_flag_value(stored)


@pytest.mark.parametrize(
    ("stored", "project_id", "enabled"),
    [
        ({"stage": "off"}, 1, False),
        ({"stage": "la", "projects": [1, 2]}, 1, True),
        ({"stage": "la", "projects": [1, 2]}, 3, False),
        ({"stage": "ea", "projects": [7]}, 7, True),
        ({"stage": "ea", "projects": [7]}, 8, False),
        ({"stage": "ea", "projects": []}, 7, False),
        ({"stage": "ga"}, 12345, True),
    ],
)
def test_flag_enabled_follows_the_rollout_stage(
    stored: dict[str, Any], project_id: int, enabled: bool
) -> None:
    assert flag_enabled(parse_flag_value(stored), project_id) is enabled


def test_unset_flag_is_off() -> None:
    assert flag_enabled(None, 1) is False


def test_flag_value_round_trips_through_its_stored_form() -> None:
    value = parse_flag_value({"stage": "la", "projects": [5, 2]})
    assert value.to_dict() == {"stage": "la", "projects": [2, 5]}
    assert parse_flag_value(value.to_dict()) == value
    assert parse_flag_value({"stage": "ga"}).to_dict() == {"stage": "ga"}


def test_released_type_passes_every_gate_without_options(registry: GroupTypeRegistry) -> None:
    released = make_type(registry, released=True)
    for gate in grouptypes.GATES:
        assert gate_passes(released, gate, 1, {}) is True


def test_unreleased_type_gates_read_their_own_flag_option(registry: GroupTypeRegistry) -> None:
    gt = unreleased(registry)
    options = {
        "flag:replay-click-dead-ingest": {"stage": "ga"},
        "flag:replay-click-dead-post-process-group": {"stage": "la", "projects": [2]},
        "flag:replay-click-dead-visible": {"stage": "off"},
    }
    assert gate_passes(gt, "ingest", 1, options) is True
    assert gate_passes(gt, "post_process", 1, options) is False
    assert gate_passes(gt, "post_process", 2, options) is True
    assert gate_passes(gt, "visible", 2, options) is False


def test_unreleased_type_gates_are_closed_when_no_option_is_set(registry: GroupTypeRegistry) -> None:
    gt = unreleased(registry)
    assert not any(gate_passes(gt, gate, 1, {}) for gate in grouptypes.GATES)


def test_unreadable_stored_flag_closes_the_gate(registry: GroupTypeRegistry) -> None:
    gt = unreleased(registry)
    assert gate_passes(gt, "ingest", 1, {"flag:replay-click-dead-ingest": {"stage": "sometimes"}}) is False


def test_unknown_gate_is_a_value_error(registry: GroupTypeRegistry) -> None:
    with pytest.raises(ValueError, match="unknown gate"):
        gate_passes(unreleased(registry), "search", 1, {})  # type: ignore[arg-type]


def test_visible_types_are_released_plus_those_flagged_visible_for_the_project(
    registry: GroupTypeRegistry,
) -> None:
    released = make_type(registry, "Released", type_id=9001, slug="released", released=True)
    hidden = unreleased(registry)
    options = {"flag:replay-click-dead-visible": {"stage": "ea", "projects": [4]}}
    assert registry.visible(4, options) == [hidden, released]
    assert registry.visible(5, options) == [released]


# --- loading (§9.5.5) -----------------------------------------------------------------------------


@pytest.fixture
def write_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, str], str]]:
    """Write importable modules into tmp_path; they are dropped from sys.modules afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    written: list[str] = []

    def write(name: str, source: str) -> str:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        written.append(name)
        return name

    yield write
    for name in written:
        sys.modules.pop(name, None)


def plugin_source(type_id: int, slug: str, class_name: str = "PluginGroupType") -> str:
    return f"""
        from grouptypes import GroupCategory, GroupType

        class {class_name}(GroupType):
            type_id = {type_id}
            slug = "{slug}"
            description = "Plugin type {type_id}"
            category = GroupCategory.CRON
        """


def test_load_group_types_registers_builtins_then_extra_modules(
    write_module: Callable[[str, str], str],
) -> None:
    module = write_module("gt_plugin_extra", plugin_source(9001, "plugin_extra"))
    with use_registry(GroupTypeRegistry()) as isolated:
        loaded = load_group_types([module])
    assert loaded is isolated
    assert loaded.get_by_slug("plugin_extra") is sys.modules[module].PluginGroupType
    assert loaded.get_by_type_id(1001) is grouptypes.builtin.PerformanceSlowDBQueryGroupType
    assert len(loaded) == len(grouptypes.BUILTIN_GROUP_TYPES) + 1


def test_loading_twice_does_not_register_twice(write_module: Callable[[str, str], str]) -> None:
    module = write_module("gt_plugin_twice", plugin_source(9001, "plugin_twice"))
    with use_registry(GroupTypeRegistry()) as isolated:
        load_group_types([module])
        load_group_types([module])
    assert len(isolated) == len(grouptypes.BUILTIN_GROUP_TYPES) + 1


def test_broken_module_raises_load_error_naming_it_in_one_line(
    write_module: Callable[[str, str], str],
) -> None:
    module = write_module("gt_plugin_broken", "raise RuntimeError('database\\nunreachable')\n")
    with use_registry(GroupTypeRegistry()), pytest.raises(GroupTypeLoadError) as error:
        load_group_types([module])
    message = str(error.value)
    assert "'gt_plugin_broken'" in message
    assert "RuntimeError: database unreachable" in message
    assert "\n" not in message
    assert isinstance(error.value.__cause__, RuntimeError)


def test_missing_module_raises_load_error_naming_it() -> None:
    with use_registry(GroupTypeRegistry()), pytest.raises(GroupTypeLoadError, match="'gt_no_such_module'"):
        load_group_types(["gt_no_such_module"])


def test_module_whose_type_breaks_a_rule_raises_load_error(write_module: Callable[[str, str], str]) -> None:
    module = write_module("gt_plugin_duplicate", plugin_source(1001, "plugin_duplicate"))
    with use_registry(GroupTypeRegistry()), pytest.raises(GroupTypeLoadError) as error:
        load_group_types([module])
    assert "'gt_plugin_duplicate'" in str(error.value)
    assert "A group type with the type_id 1001 has already been registered." in str(error.value)


def test_extra_modules_are_imported_in_the_given_order(write_module: Callable[[str, str], str]) -> None:
    # Both define the same slug, so the one imported second is the one reported.
    second = write_module("gt_plugin_order_b", plugin_source(9002, "contested"))
    first = write_module("gt_plugin_order_a", plugin_source(9001, "contested"))
    with use_registry(GroupTypeRegistry()), pytest.raises(GroupTypeLoadError, match="'gt_plugin_order_a'"):
        load_group_types([second, first])


def test_entry_points_load_sorted_by_name_and_before_extra_modules(
    write_module: Callable[[str, str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_module("gt_ep_one", plugin_source(9001, "ep_contested"))
    write_module("gt_ep_two", plugin_source(9002, "ep_contested"))
    extra = write_module("gt_ep_extra", plugin_source(9003, "ep_extra"))
    group = grouptypes.ENTRY_POINT_GROUP
    discovered = [EntryPoint("zz_two", "gt_ep_two", group), EntryPoint("aa_one", "gt_ep_one", group)]
    monkeypatch.setattr(
        grouptypes.loading,
        "entry_points",
        lambda group: discovered if group == grouptypes.ENTRY_POINT_GROUP else [],
    )
    with use_registry(GroupTypeRegistry()), pytest.raises(GroupTypeLoadError) as error:
        load_group_types([extra])
    # aa_one was imported first, so zz_two's module is the one that collides; the extra module never ran.
    assert "'gt_ep_two'" in str(error.value) and "zz_two" in str(error.value)
    assert "gt_ep_extra" not in sys.modules
