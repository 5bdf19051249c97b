"""Our topics on the broker: declared with their configuration by `migrate` and a starting worker (spec §2.1).

Faust creates a missing topic with its configuration but never looks at one that exists, and with the
broker's auto-create off (dev/kafka.sh, docker-compose.yml) a topic nobody declared cannot be written at
all. So every topic of spec §2.1 and every table changelog is declared here, with the configuration its
Faust topic carries (streams.topics, streams.tables), through aiokafka's admin client:

- `issue-platform migrate` creates the missing topics, sets every configuration that differs (one line per
  topic), and calls a partition count that differs an error: Kafka cannot take partitions away, and adding
  some moves keys to other partitions than their state.
- A starting worker refuses to start, in one line with exit status 2, when the options topic is not
  compacted or has more than one partition (spec §10.4.1) or a co-partitioned topic or changelog has
  another partition count than `settings.partitions`; otherwise it creates the missing topics, and reports
  other differences, one line per topic, for `migrate` to set.
"""
from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    LeaderNotAvailableError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from faust import TopicT
from mode.utils.times import want_seconds

from streams.app import settings
from streams.tables import TABLES
from streams.topics import COPARTITIONED_TOPICS, SPEC_TOPICS, options_topic

EXIT_REFUSED = 2
# How long a starting worker waits for an unreachable broker before it refuses to start.
BROKER_WAIT_SECONDS = 60.0
# How long a just-created topic may take to have a leader for every partition.
LEADERS_TIMEOUT_SECONDS = 30.0
# Kafka's DescribeConfigs config_source for a configuration set on the topic itself.
DYNAMIC_TOPIC_CONFIG = 1


class TopicsRefused(Exception):
    """The broker's topics are not what this deployment needs; the message is one line saying which and why."""


@dataclass(frozen=True)
class TopicSpec:
    """A topic as we declare it: the partition count and the topic-level configuration we set."""

    name: str
    partitions: int
    replicas: int
    config: Mapping[str, str]
    # A different partition count on the broker refuses a worker's start (co-partitioned with a table).
    fixed_partitions: bool = False
    # Configuration keys whose difference refuses a worker's start (the options topic's cleanup.policy).
    start_requires: tuple[str, ...] = ()


@dataclass(frozen=True)
class BrokerTopic:
    """A topic as the broker has it: partitions, effective configuration, and what is set on the topic itself."""

    partitions: int
    config: Mapping[str, str]
    overrides: Mapping[str, str] = field(default_factory=dict)


def faust_topic_config(topic: TopicT) -> dict[str, str]:
    """The configuration Faust creates `topic` with: cleanup and retention from its flags, then its `config`.

    The same merge as faust.transport.drivers.aiokafka.Transport._really_create_topic (0.15.3): the flags
    give `cleanup.policy` and `retention.ms`, and the topic's own config (a table's `extra_topic_configs`)
    overrides them.
    """
    config: dict[str, str] = {}
    policies = [policy for policy, on in (("compact", topic.compacting), ("delete", topic.deleting)) if on]
    if policies:
        config["cleanup.policy"] = ",".join(policies)
    if topic.retention:
        config["retention.ms"] = str(int(want_seconds(topic.retention) * 1000))
    config.update({key: str(value) for key, value in (topic.config or {}).items()})
    return config


def spec_of(topic: TopicT, *, fixed_partitions: bool = False, start_requires: tuple[str, ...] = ()) -> TopicSpec:
    return TopicSpec(
        name=topic.get_topic_name(),
        partitions=topic.partitions or settings.partitions,
        replicas=topic.replicas or settings.topic_replication_factor,
        config=faust_topic_config(topic),
        fixed_partitions=fixed_partitions,
        start_requires=start_requires,
    )


def deployment_topics() -> tuple[TopicSpec, ...]:
    """Every topic of spec §2.1 (with the topic prefix) and every table changelog, as we declare them."""
    specs = [
        spec_of(topic, fixed_partitions=topic in COPARTITIONED_TOPICS or topic is options_topic,
                start_requires=("cleanup.policy",) if topic is options_topic else ())
        for topic in SPEC_TOPICS
    ]
    # A changelog partition holds the state of the same partition of the topic its table is written from.
    specs += [spec_of(table.changelog_topic, fixed_partitions=True) for table in TABLES]
    return tuple(specs)


def _same_value(key: str, found: str | None, wanted: str) -> bool:
    if key == "cleanup.policy" and found is not None:
        return sorted(found.split(",")) == sorted(wanted.split(","))
    return found == wanted


def config_differences(spec: TopicSpec, found: BrokerTopic) -> dict[str, tuple[str | None, str]]:
    """Key → (value on the broker, value we declare), for every key of ours the broker has otherwise."""
    return {key: (found.config.get(key), wanted) for key, wanted in spec.config.items()
            if not _same_value(key, found.config.get(key), wanted)}


def describe_changes(differences: Mapping[str, tuple[str | None, str]]) -> str:
    return ", ".join(f"{key} {found} → {wanted}" for key, (found, wanted) in sorted(differences.items()))


def partitions_problem(spec: TopicSpec, found: BrokerTopic) -> str | None:
    if found.partitions == spec.partitions:
        return None
    setting = "" if spec.partitions == 1 else " (ISSUE_PLATFORM_PARTITIONS)"
    return (f"topic {spec.name} has {found.partitions} partitions, not {spec.partitions}{setting}: Kafka cannot "
            "remove partitions, and added ones would move keys away from their state; recreate the topic, "
            "or use another topic prefix")


def start_refusal(spec: TopicSpec, found: BrokerTopic) -> str | None:
    """Why a worker must not start with this topic as the broker has it (one line), or None."""
    if spec.fixed_partitions and (problem := partitions_problem(spec, found)):
        return problem
    differences = config_differences(spec, found)
    required = {key: differences[key] for key in spec.start_requires if key in differences}
    if required:
        return (f"topic {spec.name} has {describe_changes(required)} needed (spec §10.4.1: compacted, so every "
                "option's latest value is kept for good); `issue-platform migrate` sets it")
    return None


async def describe(admin: AIOKafkaAdminClient, names: Sequence[str]) -> dict[str, BrokerTopic | None]:
    """Each topic as the broker has it; None for a topic that does not exist."""
    found: dict[str, BrokerTopic | None] = {name: None for name in names}
    # Only topics that exist are described: a metadata request naming a missing topic creates it on a broker
    # with auto-create on (aiokafka asks for that), with the broker's defaults instead of our configuration.
    listed = set(await admin.list_topics())
    existing = [name for name in names if name in listed]
    if not existing:
        return found
    partitions: dict[str, int] = {}
    for topic in await admin.describe_topics(existing):
        if topic["error_code"] == UnknownTopicOrPartitionError.errno:
            continue  # deleted since it was listed
        if topic["error_code"] not in (0, LeaderNotAvailableError.errno):
            raise KafkaError(f"describing topic {topic['topic']} failed with error code {topic['error_code']}")
        partitions[topic["topic"]] = len(topic["partitions"])
    if not partitions:
        return found
    responses = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name) for name in partitions])
    for response in responses:
        for resource in response.to_object()["resources"]:
            name = resource["resource_name"]
            if resource["error_code"] != 0:
                raise KafkaError(f"describing the configuration of topic {name} failed: "
                                 f"{resource['error_message'] or resource['error_code']}")
            entries = resource["config_entries"]
            found[name] = BrokerTopic(
                partitions=partitions[name],
                config={entry["config_names"]: entry["config_value"] for entry in entries},
                overrides={entry["config_names"]: entry["config_value"] for entry in entries
                           if entry["config_source"] == DYNAMIC_TOPIC_CONFIG},
            )
    return found


async def create(admin: AIOKafkaAdminClient, specs: Sequence[TopicSpec]) -> list[str]:
    """Create the topics; returns the names this call created (another process may create one first)."""
    if not specs:
        return []
    response = await admin.create_topics([
        NewTopic(spec.name, spec.partitions, spec.replicas, topic_configs=dict(spec.config)) for spec in specs])
    created = []
    for error in response.to_object()["topic_errors"]:
        if error["error_code"] == 0:
            created.append(error["topic"])
        elif error["error_code"] != TopicAlreadyExistsError.errno:
            raise KafkaError(f"creating topic {error['topic']} failed: "
                             f"{error.get('error_message') or error['error_code']}")
    await _wait_for_leaders(admin, specs)
    return created


async def _wait_for_leaders(admin: AIOKafkaAdminClient, specs: Sequence[TopicSpec]) -> None:
    # A produce right after `migrate` (a test, a detector) would otherwise meet a topic without leaders yet.
    deadline = time.monotonic() + LEADERS_TIMEOUT_SECONDS
    names = [spec.name for spec in specs]
    while True:
        topics = await admin.describe_topics(names)
        if all(topic["error_code"] == 0 and topic["partitions"]
               and all(part["leader"] >= 0 for part in topic["partitions"]) for topic in topics):
            return
        if time.monotonic() > deadline:
            raise KafkaError(f"topics {', '.join(names)} have no leader for every partition after "
                             f"{LEADERS_TIMEOUT_SECONDS:.0f} s")
        await asyncio.sleep(0.2)


async def alter(admin: AIOKafkaAdminClient, spec: TopicSpec, found: BrokerTopic) -> None:
    """Set our configuration on the topic, keeping what else was set on it (AlterConfigs replaces the whole set)."""
    configs = {**found.overrides, **spec.config}
    responses = await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, spec.name, configs)])
    for response in responses:
        for resource in response.to_object()["resources"]:
            if resource["error_code"] != 0:
                raise KafkaError(f"setting the configuration of topic {spec.name} failed: "
                                 f"{resource['error_message'] or resource['error_code']}")


@dataclass
class Outcome:
    """What declaring the topics did (`lines`), and what it could not do or refuses (`errors`), one line each."""

    lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def migrate_topics(admin: AIOKafkaAdminClient, specs: Sequence[TopicSpec]) -> Outcome:
    """`migrate`: create what is missing, set every configuration that differs, report partition differences."""
    outcome = Outcome()
    found = await describe(admin, [spec.name for spec in specs])
    created = await create(admin, [spec for spec in specs if found[spec.name] is None])
    if created:
        outcome.lines.append(f"created {len(created)} topic(s) with their configuration: {', '.join(created)}")
    for spec in specs:
        existing = found[spec.name]
        if existing is None:
            continue
        if problem := partitions_problem(spec, existing):
            outcome.errors.append(problem)
        differences = config_differences(spec, existing)
        if differences:
            await alter(admin, spec, existing)
            outcome.lines.append(f"topic {spec.name}: set {describe_changes(differences)}")
    if not outcome.lines and not outcome.errors:
        outcome.lines.append(f"topics are up to date ({len(specs)})")
    return outcome


async def prepare_topics_for_start(admin: AIOKafkaAdminClient, specs: Sequence[TopicSpec]) -> Outcome:
    """A starting worker: refuse on what would break; else create what is missing and report other differences."""
    outcome = Outcome()
    found = await describe(admin, [spec.name for spec in specs])
    for spec in specs:
        existing = found[spec.name]
        if existing is None:
            continue
        if refusal := start_refusal(spec, existing):
            outcome.errors.append(refusal)
        elif problem := partitions_problem(spec, existing):
            outcome.lines.append(problem)
        elif differences := config_differences(spec, existing):
            outcome.lines.append(f"topic {spec.name} has {describe_changes(differences)}: "
                                 "`issue-platform migrate` sets them")
    if outcome.errors:
        return outcome  # a refused start leaves the broker as it found it
    created = await create(admin, [spec for spec in specs if found[spec.name] is None])
    if created:
        outcome.lines.insert(0, f"created {len(created)} topic(s) with their configuration: {', '.join(created)}")
    return outcome


async def connect(servers: list[str], *, wait_seconds: float = 0.0,
                  on_wait: Callable[[str], None] | None = None) -> AIOKafkaAdminClient:
    """A started admin client; an unreachable broker is retried for `wait_seconds`, then KafkaConnectionError."""
    deadline = time.monotonic() + wait_seconds
    said = False
    while True:
        # A plain connection first: aiokafka logs an ERROR line for every refused bootstrap attempt.
        if await _any_answers(servers):
            admin = AIOKafkaAdminClient(bootstrap_servers=servers, request_timeout_ms=30_000)
            try:
                await admin.start()
                return admin
            except KafkaConnectionError:
                await admin.close()
        if time.monotonic() >= deadline:
            raise KafkaConnectionError(f"no Kafka broker answers at {', '.join(servers)}")
        if on_wait is not None and not said:
            on_wait(f"waiting up to {wait_seconds:.0f} s for the Kafka broker at {', '.join(servers)}")
            said = True
        await asyncio.sleep(1.0)


async def _any_answers(servers: Sequence[str]) -> bool:
    for server in servers:
        host, _, port = server.rpartition(":")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host.strip("[]"), int(port)), timeout=5)
        except (OSError, TimeoutError, ValueError):
            continue
        writer.close()
        return True
    return False


async def _declare_for_start() -> Outcome:
    servers = settings.bootstrap_servers
    try:
        admin = await connect(servers, wait_seconds=BROKER_WAIT_SECONDS,
                              on_wait=lambda line: print(f"issue-platform: {line}", file=sys.stderr))
    except KafkaConnectionError:
        raise TopicsRefused(f"no Kafka broker answers at {', '.join(servers)} (ISSUE_PLATFORM_BROKER_URL) "
                            f"after {BROKER_WAIT_SECONDS:.0f} s") from None
    try:
        return await prepare_topics_for_start(admin, deployment_topics())
    finally:
        await admin.close()


def prepare_worker_topics() -> None:
    """Before Faust starts: declare the deployment's topics, or refuse the start in one line, exit status 2."""
    # A private loop, never installed as the thread's current one: Faust's worker sets up its own loop next.
    loop = asyncio.new_event_loop()
    try:
        outcome = loop.run_until_complete(_declare_for_start())
    except (TopicsRefused, KafkaError) as error:
        print(f"issue-platform: {error}", file=sys.stderr)
        raise SystemExit(EXIT_REFUSED) from None
    finally:
        loop.close()
    # Faust has not set up logging yet.
    for line in outcome.lines:
        print(f"issue-platform: {line}", file=sys.stderr)
    if outcome.errors:
        print(f"issue-platform: refusing to start: {'; '.join(outcome.errors)}", file=sys.stderr)
        raise SystemExit(EXIT_REFUSED)
