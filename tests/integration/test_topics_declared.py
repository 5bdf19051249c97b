"""Every topic declared with its configuration by `migrate` and the worker; the broker creates none (spec §2.1)."""
from __future__ import annotations

import asyncio

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from tests.integration.harness import BROKER, Deployment, wait_for

pytestmark = pytest.mark.integration

SPEC_TOPICS = (  # spec §2.1
    "ingest-occurrences", "ingest-occurrences-dlq", "issue-platform-grouping", "issue-platform-group-changes",
    "issue-platform-post-process", "issue-platform-activity", "issue-platform-analytics", "issue-platform-quota",
    "issue-platform-options",
)
EIGHT_MIB = str(8 * 1024 * 1024)


def changelog(deployment: Deployment, table: str) -> str:
    return f"{deployment.consumer_group}-{table}-changelog"


async def broker_topics(prefix: str) -> dict[str, tuple[int, dict[str, str]]]:
    """name → (partitions, effective configuration) of every topic whose name starts with `prefix`."""
    admin = AIOKafkaAdminClient(bootstrap_servers=BROKER)
    await admin.start()
    try:
        names = [name for name in await admin.list_topics() if name.startswith(prefix)]
        if not names:
            return {}
        partitions = {topic["topic"]: len(topic["partitions"]) for topic in await admin.describe_topics(names)}
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name) for name in names])
        found = {}
        for response in responses:
            for resource in response.to_object()["resources"]:
                config = {entry["config_names"]: entry["config_value"] for entry in resource["config_entries"]}
                found[resource["resource_name"]] = (partitions[resource["resource_name"]], config)
        return found
    finally:
        await admin.close()


async def create_topic(name: str, partitions: int, config: dict[str, str] | None = None) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=BROKER)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1, topic_configs=config or {})])
    finally:
        await admin.close()


async def auto_create_setting() -> str:
    admin = AIOKafkaAdminClient(bootstrap_servers=BROKER)
    await admin.start()
    try:
        node = (await admin.describe_cluster())["brokers"][0]["node_id"]
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.BROKER, str(node))])
        entries = response.to_object()["resources"][0]["config_entries"]
        return next(entry["config_value"] for entry in entries if entry["config_names"] == "auto.create.topics.enable")
    finally:
        await admin.close()


def assert_declared(deployment: Deployment, topics: dict[str, tuple[int, dict[str, str]]]) -> None:
    for name in SPEC_TOPICS:
        partitions, config = topics[deployment.topic(name)]
        assert partitions == (1 if name == "issue-platform-options" else deployment.partitions), name
        assert config["max.message.bytes"] == EIGHT_MIB, name  # §2.1.1
    assert topics[deployment.topic("issue-platform-options")][1]["cleanup.policy"] == "compact"  # §10.4.1
    for table in ("groups", "quotas", "options"):
        partitions, config = topics[changelog(deployment, table)]
        assert partitions == (1 if table == "options" else deployment.partitions)
        assert (config["cleanup.policy"], config["segment.ms"], config["segment.bytes"],
                config["min.cleanable.dirty.ratio"], config["max.message.bytes"]) == (
            "compact", "600000", str(64 * 1024 * 1024), "0.1", EIGHT_MIB), table
    windowed = [name for name in topics if "-noise-" in name or "-seen-ids-" in name or "-quota-answers-" in name]
    assert len(windowed) >= 3  # seen-ids, quota answers and a noise table (the plugin types have noise gates)
    for name in windowed:
        config = topics[name][1]
        assert sorted(config["cleanup.policy"].split(",")) == ["compact", "delete"], name
        assert int(config["retention.ms"]) > int(config["segment.ms"]), name


def test_auto_create_is_off_and_the_readme_first_send_declares_the_ingest_topic(deployment: Deployment) -> None:
    assert asyncio.run(auto_create_setting()) == "false"
    # `send-example` before `migrate` and before any worker: nothing else would create the topic.
    sent = deployment.cli("send-example")
    assert sent.returncode == 0, sent.stderr
    partitions, config = asyncio.run(broker_topics(deployment.topic_prefix))[deployment.topic("ingest-occurrences")]
    assert (partitions, config["max.message.bytes"]) == (deployment.partitions, EIGHT_MIB)


def test_migrate_declares_every_topic_and_changelog_with_its_configuration(deployment: Deployment) -> None:
    first = deployment.cli("migrate")
    assert first.returncode == 0, first.stderr
    topics = asyncio.run(broker_topics(deployment.topic_prefix))
    assert_declared(deployment, topics)
    assert f"created {len(topics)} topic(s) with their configuration" in first.stdout
    second = deployment.cli("migrate")
    assert second.returncode == 0, second.stderr
    assert f"topics are up to date ({len(topics)})" in second.stdout


def test_migrate_sets_a_differing_configuration_and_refuses_a_different_partition_count(
    deployment: Deployment,
) -> None:
    groups = changelog(deployment, "groups")
    post_process = deployment.topic("issue-platform-post-process")
    asyncio.run(create_topic(groups, deployment.partitions, {"retention.ms": "7200000"}))  # as Faust made it
    asyncio.run(create_topic(post_process, 3))
    migrated = deployment.cli("migrate")
    assert migrated.returncode == 2
    assert migrated.stderr.strip().splitlines() == [(
        f"issue-platform migrate: topic {post_process} has 3 partitions, not {deployment.partitions} "
        "(ISSUE_PLATFORM_PARTITIONS): Kafka cannot remove partitions, and added ones would move keys away from "
        "their state; recreate the topic, or use another topic prefix")]
    [changed] = [line for line in migrated.stdout.splitlines() if line.startswith(f"topic {groups}: set ")]
    assert "cleanup.policy delete → compact" in changed and "segment.ms 604800000 → 600000" in changed

    def altered() -> dict[str, tuple[int, dict[str, str]]] | None:
        # The broker applies a configuration change from its metadata log a moment after the controller took it.
        topics = asyncio.run(broker_topics(deployment.topic_prefix))
        return topics if topics[groups][1]["cleanup.policy"] == "compact" else None

    topics = wait_for(altered, timeout=10, what=f"the new configuration of {groups}")
    config = topics[groups][1]
    assert (config["cleanup.policy"], config["min.cleanable.dirty.ratio"], config["retention.ms"]) == (
        "compact", "0.1", "7200000")  # what else was set on the topic is kept
    assert topics[post_process][0] == 3


@pytest.mark.parametrize(("case", "expected"), [
    ("options-not-compacted", "cleanup.policy delete → compact"),
    ("options-two-partitions", "has 2 partitions, not 1"),
    ("grouping-six-partitions", "has 6 partitions, not 12 (ISSUE_PLATFORM_PARTITIONS)"),
])
def test_a_worker_refuses_to_start_on_topics_that_would_break_it(
    deployment: Deployment, case: str, expected: str,
) -> None:
    options = deployment.topic("issue-platform-options")
    if case == "options-not-compacted":
        asyncio.run(create_topic(options, 1, {"cleanup.policy": "delete"}))
    elif case == "options-two-partitions":
        asyncio.run(create_topic(options, 2, {"cleanup.policy": "compact"}))
    else:
        asyncio.run(create_topic(deployment.topic("issue-platform-grouping"), 6))
    worker = deployment.start_worker()
    assert worker.process.wait(60) == 2
    refusals = [line for line in worker.log().splitlines() if "refusing to start" in line]
    assert len(refusals) == 1 and expected in refusals[0], worker.log()
    assert "Traceback" not in worker.log()


def test_a_first_start_declares_every_topic_before_faust_runs(deployment: Deployment) -> None:
    worker = deployment.start_worker()  # no `migrate`
    wait_for(lambda: "Worker ready" in worker.log(), timeout=90, what="the worker to be ready")
    log = worker.log()
    assert log.index("created ") < log.index("Worker ready")
    assert_declared(deployment, asyncio.run(broker_topics(deployment.topic_prefix)))
    # Nothing is left for `migrate` to change after a worker created the topics.
    migrated = deployment.cli("migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "topics are up to date" in migrated.stdout
