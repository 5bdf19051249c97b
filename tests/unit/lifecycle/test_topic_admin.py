"""Our topics' declared configuration, and what `migrate` and a starting worker do with the broker's (spec §2.1)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError
from faust.transport.drivers.aiokafka import Transport
from mode.utils.times import want_seconds

from streams import topic_admin
from streams.app import settings
from streams.core.noise import window_step
from streams.settings import MAX_RECORD_BYTES
from streams.tables import DEDUPE_SECONDS, noise_tables
from streams.topic_admin import (
    BrokerTopic,
    TopicSpec,
    config_differences,
    deployment_topics,
    migrate_topics,
    prepare_topics_for_start,
    start_refusal,
)

SPEC_TOPICS = {  # spec §2.1
    "ingest-occurrences", "ingest-occurrences-dlq", "issue-platform-grouping", "issue-platform-group-changes",
    "issue-platform-post-process", "issue-platform-activity", "issue-platform-analytics", "issue-platform-quota",
    "issue-platform-options",
}


def specs_by_name() -> dict[str, TopicSpec]:
    return {spec.name: spec for spec in deployment_topics()}


def changelog(table: str) -> str:
    return f"{settings.deployment_id}-{table}-changelog"


def test_every_topic_of_the_spec_and_every_changelog_is_declared_with_8_mib_records() -> None:
    specs = specs_by_name()
    names = {settings.topic_prefix + name for name in SPEC_TOPICS}
    changelogs = {changelog(name) for name in ("groups", f"seen-ids-{DEDUPE_SECONDS}s", "quotas",
                                               f"quota-answers-{DEDUPE_SECONDS}s", "options", "timer-index")}
    changelogs |= {changelog(f"noise-{size}s") for size in noise_tables}
    assert set(specs) == names | changelogs
    assert all(spec.config["max.message.bytes"] == str(MAX_RECORD_BYTES) for spec in specs.values())  # §2.1.1


def test_the_options_topic_and_its_changelog_are_compacted_with_one_partition() -> None:  # spec §10.4.1
    specs = specs_by_name()
    for name in (settings.topic_prefix + "issue-platform-options", changelog("options")):
        assert specs[name].partitions == 1 and specs[name].fixed_partitions
        assert specs[name].config["cleanup.policy"] == "compact"
    assert specs[settings.topic_prefix + "issue-platform-options"].start_requires == ("cleanup.policy",)


def test_state_changelogs_are_compacted_with_segments_that_roll_so_the_cleaner_runs() -> None:
    specs = specs_by_name()
    for table in ("groups", "quotas", "options"):
        config = specs[changelog(table)].config
        assert config["cleanup.policy"] == "compact"
        assert int(config["segment.ms"]) <= 3_600_000 and int(config["segment.bytes"]) <= 64 * 1024 * 1024
        assert float(config["min.cleanable.dirty.ratio"]) <= 0.1
        assert int(config["delete.retention.ms"]) >= 3_600_000


@pytest.mark.parametrize("table", [*(f"noise-{size}s" for size in noise_tables), f"seen-ids-{DEDUPE_SECONDS}s",
                                   f"quota-answers-{DEDUPE_SECONDS}s"])
def test_a_windowed_changelog_deletes_records_a_little_after_their_window_is_gone(table: str) -> None:
    name = changelog(table)
    size = int(table.rsplit("-", 1)[1].rstrip("s"))
    step = window_step(size) if table.startswith("noise-") else size
    config = specs_by_name()[name].config
    assert config["cleanup.policy"] == "compact,delete"
    retention_seconds = int(config["retention.ms"]) / 1000
    # A record written at t serves a window that Faust drops at t + size + step + expires at the latest.
    assert size + step + size <= retention_seconds <= size + step + size + 3600
    assert int(config["segment.ms"]) < int(config["retention.ms"])


def test_co_partitioned_topics_and_every_changelog_have_the_partitions_setting() -> None:
    specs = specs_by_name()
    fixed = {name for name, spec in specs.items() if spec.fixed_partitions}
    assert {settings.topic_prefix + "issue-platform-grouping", settings.topic_prefix + "issue-platform-quota"} <= fixed
    assert all(spec.fixed_partitions for name, spec in specs.items() if name.endswith("-changelog"))
    assert settings.topic_prefix + "ingest-occurrences" not in fixed
    assert all(spec.partitions == settings.partitions for name, spec in specs.items() if "options" not in name)


def test_the_declared_configuration_is_the_one_faust_creates_the_topic_with() -> None:
    # The merge of faust.transport.drivers.aiokafka.Transport._really_create_topic: flags, then the config.
    from streams.tables import TABLES
    from streams.topics import SPEC_TOPICS as TOPICS

    for topic in (*TOPICS, *(table.changelog_topic for table in TABLES)):
        retention = int(want_seconds(topic.retention) * 1000.0) if topic.retention else None  # Producer.create_topic
        faust_config = Transport._topic_config(None, retention, topic.compacting, topic.deleting)  # type: ignore
        faust_config.update(topic.config)
        assert {key: str(value) for key, value in faust_config.items()} == dict(topic_admin.faust_topic_config(topic))


def spec(name: str = "t", *, partitions: int = 12, fixed: bool = True, requires: tuple[str, ...] = (),
         **config: str) -> TopicSpec:
    return TopicSpec(name, partitions, 1, {"cleanup.policy": "compact", **config}, fixed_partitions=fixed,
                     start_requires=requires)


def test_cleanup_policies_compare_as_a_set() -> None:
    declared = TopicSpec("t", 1, 1, {"cleanup.policy": "compact,delete"})
    assert config_differences(declared, BrokerTopic(1, {"cleanup.policy": "delete,compact"})) == {}
    assert config_differences(declared, BrokerTopic(1, {"cleanup.policy": "delete"})) == {
        "cleanup.policy": ("delete", "compact,delete")}


def test_an_options_topic_that_is_not_compacted_refuses_the_start_in_one_line() -> None:
    options = spec("p.issue-platform-options", partitions=1, requires=("cleanup.policy",))
    refusal = start_refusal(options, BrokerTopic(1, {"cleanup.policy": "delete"}))
    assert refusal is not None and "\n" not in refusal
    assert "p.issue-platform-options" in refusal and "cleanup.policy delete → compact" in refusal
    assert "§10.4.1" in refusal


def test_an_options_topic_with_two_partitions_refuses_the_start() -> None:
    options = spec("p.issue-platform-options", partitions=1, requires=("cleanup.policy",))
    refusal = start_refusal(options, BrokerTopic(2, {"cleanup.policy": "compact"}))
    assert refusal is not None and "has 2 partitions, not 1" in refusal


def test_a_co_partitioned_topic_with_another_count_refuses_the_start_and_another_topic_does_not() -> None:
    refusal = start_refusal(spec("grouping"), BrokerTopic(6, {"cleanup.policy": "compact"}))
    assert refusal is not None and "has 6 partitions, not 12 (ISSUE_PLATFORM_PARTITIONS)" in refusal
    assert start_refusal(spec("ingest", fixed=False), BrokerTopic(6, {"cleanup.policy": "compact"})) is None
    # Other configuration differences are for `migrate`, not a reason to refuse.
    drifted = spec("grouping", **{"segment.ms": "1"})
    assert start_refusal(drifted, BrokerTopic(12, {"cleanup.policy": "compact"})) is None


class FakeAdmin:
    """The parts of aiokafka's AIOKafkaAdminClient that streams.topic_admin uses, over a dict of topics."""

    def __init__(self, topics: Mapping[str, BrokerTopic]) -> None:
        self.topics = dict(topics)
        self.altered: dict[str, dict[str, str]] = {}
        self.created: list[str] = []

    async def list_topics(self) -> list[str]:
        return list(self.topics)

    async def describe_topics(self, names: list[str]) -> list[dict[str, Any]]:
        assert all(name in self.topics for name in names), "a metadata request for a missing topic creates it"
        return [{"topic": name, "error_code": 0,
                 "partitions": [{"partition": p, "leader": 1} for p in range(self.topics[name].partitions)]}
                for name in names]

    async def describe_configs(self, resources: list[Any]) -> list[Any]:
        def entries(topic: BrokerTopic) -> list[dict[str, Any]]:
            return [{"config_names": key, "config_value": value,
                     "config_source": 1 if key in topic.overrides else 5} for key, value in topic.config.items()]
        body = {"resources": [{"resource_name": r.name, "error_code": 0, "error_message": "",
                               "config_entries": entries(self.topics[r.name])} for r in resources]}
        return [type("Response", (), {"to_object": lambda self: body})()]

    async def create_topics(self, new_topics: list[Any]) -> Any:
        errors = []
        for new in new_topics:
            if new.name in self.topics:
                errors.append({"topic": new.name, "error_code": TopicAlreadyExistsError.errno})
                continue
            self.topics[new.name] = BrokerTopic(new.num_partitions, dict(new.topic_configs), dict(new.topic_configs))
            self.created.append(new.name)
            errors.append({"topic": new.name, "error_code": 0})
        body = {"topic_errors": errors}
        return type("Response", (), {"to_object": lambda self: body})()

    async def alter_configs(self, resources: list[Any]) -> list[Any]:
        for resource in resources:
            self.altered[resource.name] = dict(resource.configs)
        body = {"resources": [{"error_code": 0, "error_message": ""}]}
        return [type("Response", (), {"to_object": lambda self: body})()]


DECLARED = (
    TopicSpec("a", 12, 1, {"cleanup.policy": "compact", "segment.ms": "3600000"}, fixed_partitions=True),
    TopicSpec("b", 12, 1, {"max.message.bytes": "8388608"}),
    TopicSpec("c", 12, 1, {"max.message.bytes": "8388608"}),
)


async def test_migrate_creates_what_is_missing_and_sets_what_differs_keeping_other_settings() -> None:
    admin = FakeAdmin({
        "a": BrokerTopic(12, {"cleanup.policy": "delete", "segment.ms": "604800000", "retention.ms": "1000"},
                         overrides={"retention.ms": "1000"}),
        "b": BrokerTopic(12, {"max.message.bytes": "8388608"}),
    })
    outcome = await migrate_topics(admin, DECLARED)  # type: ignore[arg-type]
    assert admin.created == ["c"]
    assert admin.altered == {"a": {"retention.ms": "1000", "cleanup.policy": "compact", "segment.ms": "3600000"}}
    assert outcome.lines == ["created 1 topic(s) with their configuration: c",
                             "topic a: set cleanup.policy delete → compact, segment.ms 604800000 → 3600000"]
    assert outcome.errors == []
    as_declared = FakeAdmin({spec.name: BrokerTopic(12, dict(spec.config)) for spec in DECLARED})
    again = await migrate_topics(as_declared, DECLARED)  # type: ignore[arg-type]
    assert again.lines == ["topics are up to date (3)"] and again.errors == []


async def test_migrate_reports_a_different_partition_count_as_an_error_and_changes_no_partitions() -> None:
    admin = FakeAdmin({"a": BrokerTopic(6, {"cleanup.policy": "compact", "segment.ms": "3600000"}),
                       "b": BrokerTopic(3, {"max.message.bytes": "8388608"}),
                       "c": BrokerTopic(12, {"max.message.bytes": "8388608"})})
    outcome = await migrate_topics(admin, DECLARED)  # type: ignore[arg-type]
    assert [error.split(":")[0] for error in outcome.errors] == [
        "topic a has 6 partitions, not 12 (ISSUE_PLATFORM_PARTITIONS)",
        "topic b has 3 partitions, not 12 (ISSUE_PLATFORM_PARTITIONS)",
    ]
    assert admin.topics["a"].partitions == 6 and admin.altered == {}


async def test_a_starting_worker_creates_what_is_missing_reports_drift_and_refuses_on_partitions() -> None:
    admin = FakeAdmin({"a": BrokerTopic(12, {"cleanup.policy": "compact", "segment.ms": "604800000"}),
                       "b": BrokerTopic(3, {"max.message.bytes": "8388608"})})
    outcome = await prepare_topics_for_start(admin, DECLARED)  # type: ignore[arg-type]
    assert admin.created == ["c"] and admin.altered == {}
    assert outcome.lines[0] == "created 1 topic(s) with their configuration: c"
    assert outcome.lines[1] == "topic a has segment.ms 604800000 → 3600000: `issue-platform migrate` sets them"
    assert outcome.lines[2].startswith("topic b has 3 partitions, not 12")
    assert outcome.errors == []
    admin.topics["a"] = BrokerTopic(6, {"cleanup.policy": "compact", "segment.ms": "3600000"})
    refused = await prepare_topics_for_start(admin, DECLARED)  # type: ignore[arg-type]
    assert len(refused.errors) == 1 and refused.errors[0].startswith("topic a has 6 partitions, not 12")


async def test_an_unreachable_broker_is_waited_for_with_one_line_then_refused() -> None:
    said: list[str] = []
    with pytest.raises(KafkaConnectionError, match="no Kafka broker answers at 127.0.0.1:1"):
        await topic_admin.connect(["127.0.0.1:1"], wait_seconds=1.5, on_wait=said.append)  # port 1: refused at once
    assert said == ["waiting up to 2 s for the Kafka broker at 127.0.0.1:1"]
