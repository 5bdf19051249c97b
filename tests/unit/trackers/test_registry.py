"""Tracker registration rules, lookups and entry-point loading (spec §24.1, like group types §9.5)."""

from __future__ import annotations

import tomllib
import types
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

import streams.trackers.loading
from streams.trackers import (
    BUILTIN_TRACKERS,
    ENTRY_POINT_GROUP,
    ExternalIssue,
    Field,
    TrackedIssue,
    Tracker,
    TrackerConfig,
    TrackerForm,
    TrackerLoadError,
    TrackerRegistrationError,
    TrackerRegistry,
    describe_tracker,
    load_trackers,
)
from streams.trackers.builtin.github import GitHubTracker

PYPROJECT = Path(__file__).resolve().parents[3] / "pyproject.toml"


class AcmeTracker(Tracker):
    """A minimal third-party tracker: what an entry point names."""

    slug = "acme"
    title = "ACME Tickets"
    version = "0.1"
    author = "ACME"
    description = "Tickets in ACME's own system."
    allowed_actions = ("create", "unlink")
    config_fields = (Field("token", "Token", secret=True),)

    async def create_issue(
        self, config: TrackerConfig, issue: TrackedIssue, form: TrackerForm, *, request_id: str
    ) -> ExternalIssue:
        return ExternalIssue(request_id)


class OtherAcmeTracker(AcmeTracker):
    """Another class claiming the slug `acme`."""


class GitHubImpostor(AcmeTracker):
    slug = "github"


def not_a_tracker() -> None:
    """An entry point may name anything; only a Tracker subclass is accepted."""


def make_tracker(name: str = "Example", **overrides: Any) -> type[Tracker]:
    attributes: dict[str, Any] = {
        "slug": "example", "title": "Example", "version": "1", "author": "me", "description": "An example.",
        "allowed_actions": ("create",), **overrides,
    }
    return types.new_class(name, (AcmeTracker,), {}, lambda namespace: namespace.update(attributes))


def entry_points_of(*points: EntryPoint) -> Any:
    return lambda group: list(points) if group == ENTRY_POINT_GROUP else []


def plugin(name: str, value: str) -> EntryPoint:
    return EntryPoint(name, value, ENTRY_POINT_GROUP)


# --- declaration rules ----------------------------------------------------------------------------


def test_a_slug_clash_is_one_line_naming_both_classes() -> None:
    registry = TrackerRegistry()
    registry.register(AcmeTracker)
    with pytest.raises(TrackerRegistrationError) as raised:
        registry.register(OtherAcmeTracker)
    assert str(raised.value) == (
        "The tracker slug 'acme' is declared by both tests.unit.trackers.test_registry.AcmeTracker "
        "and tests.unit.trackers.test_registry.OtherAcmeTracker."
    )
    assert registry.get("acme") is AcmeTracker and len(registry) == 1


def test_registering_the_same_class_again_is_a_no_op() -> None:
    registry = TrackerRegistry()
    assert registry.register(AcmeTracker) is registry.register(AcmeTracker) is AcmeTracker
    assert registry.all() == [AcmeTracker]


@pytest.mark.parametrize(
    "slug", ["a", "Acme", "9lives", "-acme", "with space", "a" * 33, "", "acme\n", "ünï", 5, None]
)
def test_a_slug_outside_the_pattern_is_refused(slug: object) -> None:
    with pytest.raises(TrackerRegistrationError, match="slug must match"):
        TrackerRegistry().register(make_tracker(slug=slug))


@pytest.mark.parametrize("slug", ["ab", "my-tracker_2", "a" * 32])
def test_slugs_of_the_pattern_are_accepted(slug: str) -> None:
    registry = TrackerRegistry()
    registry.register(make_tracker(slug=slug))
    assert slug in registry


@pytest.mark.parametrize(
    ("actions", "problem"),
    [
        (("create", "close"), "allowed_actions must be distinct names among create, link, unlink"),
        (("create", "create"), "allowed_actions must be distinct names"),
        ("create", "allowed_actions must be a collection"),
        (("create", 1), "allowed_actions must be a collection"),
        (("create", "link"), "allows 'link' but does not implement link_issue"),
    ],
)
def test_allowed_actions_must_be_a_subset_the_class_implements(actions: object, problem: str) -> None:
    with pytest.raises(TrackerRegistrationError, match=problem):
        TrackerRegistry().register(make_tracker(allowed_actions=actions))


def test_only_unlink_or_nothing_needs_no_method() -> None:
    registry = TrackerRegistry()
    registry.register(make_tracker("Unlinker", slug="unlinker", allowed_actions=("unlink",)))
    registry.register(make_tracker("Idle", slug="idle", allowed_actions=()))
    assert len(registry) == 2


@pytest.mark.parametrize("attribute", ["title", "version", "author", "description"])
def test_the_declared_texts_are_required(attribute: str) -> None:
    with pytest.raises(TrackerRegistrationError, match=f"{attribute} must be a non-empty string"):
        TrackerRegistry().register(make_tracker(**{attribute: " "}))


def test_a_class_without_a_slug_is_refused() -> None:
    class Nameless(Tracker):
        title = version = author = description = "x"

    with pytest.raises(TrackerRegistrationError, match="Nameless: slug is required"):
        TrackerRegistry().register(Nameless)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ((Field("token", "Token"), Field("token", "Again")), "the name 'token' is used twice"),
        ((Field("kind", "Kind", "select"),), "select field 'kind' needs choices"),
        ((Field("kind", "Kind", "select", default="c", choices=(("a", "A"),)),), "not one of its choices"),
        ((Field("kind", "Kind", "text", choices=(("a", "A"),)),), "has choices but is not a select"),
        ((Field("kind", "Kind", "checkbox"),),  # type: ignore[arg-type]
         "type 'checkbox', not one of text, textarea, select"),
        ((Field("Bad-Name", "Bad"),), "field name must match"),
        (({"name": "token"},), "is not a Field"),
        ([], None),
    ],
)
def test_config_fields_are_checked(fields: Any, problem: str | None) -> None:
    tracker = make_tracker(config_fields=fields)
    if problem is None:
        TrackerRegistry().register(tracker)
        return
    with pytest.raises(TrackerRegistrationError, match=problem):
        TrackerRegistry().register(tracker)


@pytest.mark.parametrize("candidate", [Tracker, object, AcmeTracker(), "acme"])
def test_only_a_tracker_subclass_can_be_registered(candidate: object) -> None:
    with pytest.raises(TrackerRegistrationError, match="is not a subclass of streams.trackers.Tracker"):
        TrackerRegistry().register(candidate)  # type: ignore[arg-type]


def test_describe_lists_what_get_trackers_answers() -> None:
    assert describe_tracker(AcmeTracker) == {
        "slug": "acme",
        "title": "ACME Tickets",
        "version": "0.1",
        "author": "ACME",
        "description": "Tickets in ACME's own system.",
        "allowed_actions": ["create", "unlink"],
        "config_fields": [{"name": "token", "label": "Token", "type": "text", "required": True, "secret": True}],
    }


# --- loading ---------------------------------------------------------------------------------------


def test_loading_registers_the_four_builtins_then_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        streams.trackers.loading, "entry_points",
        entry_points_of(plugin("acme", "tests.unit.trackers.test_registry:AcmeTracker")),
    )
    registry = load_trackers()
    assert [tracker.slug for tracker in registry.all()] == ["acme", "github", "gitlab", "jira", "webhook"]
    assert registry.get("acme") is AcmeTracker


def test_the_builtins_own_entry_points_register_nothing_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        streams.trackers.loading, "entry_points",
        entry_points_of(plugin("github", "streams.trackers.builtin.github:GitHubTracker")),
    )
    assert load_trackers().get("github") is GitHubTracker


def test_a_plugin_clashing_with_a_builtin_fails_loading_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        streams.trackers.loading, "entry_points",
        entry_points_of(plugin("impostor", "tests.unit.trackers.test_registry:GitHubImpostor")),
    )
    with pytest.raises(TrackerLoadError) as raised:
        load_trackers()
    message = str(raised.value)
    assert message == (
        "Could not load the tracker of entry point 'impostor' = 'tests.unit.trackers.test_registry:GitHubImpostor' "
        "(issue_platform.trackers): TrackerRegistrationError: The tracker slug 'github' is declared by both "
        "streams.trackers.builtin.github.GitHubTracker and tests.unit.trackers.test_registry.GitHubImpostor."
    )
    assert isinstance(raised.value.__cause__, TrackerRegistrationError)


def test_entry_points_load_in_name_order_whatever_the_install_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        streams.trackers.loading, "entry_points",
        entry_points_of(
            plugin("zz-other", "tests.unit.trackers.test_registry:OtherAcmeTracker"),
            plugin("aa-acme", "tests.unit.trackers.test_registry:AcmeTracker"),
        ),
    )
    with pytest.raises(TrackerLoadError, match="entry point 'zz-other'"):
        load_trackers()


@pytest.mark.parametrize(
    ("value", "cause"),
    [
        ("no_such_tracker_module:Tracker", "ModuleNotFoundError: No module named 'no_such_tracker_module'"),
        ("tests.unit.trackers.test_registry:Missing", "AttributeError"),
        ("tests.unit.trackers.test_registry:not_a_tracker", "is not a subclass of streams.trackers.Tracker"),
    ],
)
def test_an_unloadable_entry_point_fails_loading_naming_it(
    monkeypatch: pytest.MonkeyPatch, value: str, cause: str
) -> None:
    monkeypatch.setattr(streams.trackers.loading, "entry_points", entry_points_of(plugin("broken", value)))
    with pytest.raises(TrackerLoadError) as raised:
        load_trackers()
    assert f"'broken' = '{value}'" in str(raised.value)
    assert cause in str(raised.value)
    assert "\n" not in str(raised.value)


def test_pyproject_declares_the_builtins_as_entry_points() -> None:
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["entry-points"][ENTRY_POINT_GROUP]
    assert declared == {
        tracker.slug: f"{tracker.__module__}:{tracker.__qualname__}" for tracker in BUILTIN_TRACKERS
    }
    for name, value in declared.items():
        assert plugin(name, value).load().slug == name
