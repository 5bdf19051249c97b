"""Start-up settings from the environment (prefix ISSUE_PLATFORM_) and an optional .env file."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError as SourceError

ENV_PREFIX = "ISSUE_PLATFORM_"
# Records up to 8 MiB travel through every topic (spec §2.1.1); inputs over 1 MiB are rejected at ingest.
MAX_RECORD_BYTES = 8 * 1024 * 1024


class SettingsError(Exception):
    """A setting is missing or malformed; the message is one line naming the environment variable."""


def split_broker_urls(value: str) -> list[str]:
    return [part.strip() for part in value.split(";") if part.strip()]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    # With `topic_prefix`, names the deployment's consumer group and Faust's own topics (`deployment_id`).
    app_id: str = Field("issue-platform", min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    broker_url: str = "kafka://127.0.0.1:9092"
    database_url: str = "postgresql://issue_platform:issue_platform@127.0.0.1:5432/issue_platform"
    # Prepended to every topic name of spec §2.1 and to `deployment_id`: this one setting isolates a
    # deployment (or a test run) on a shared cluster.
    topic_prefix: str = Field("", pattern=r"^[A-Za-z0-9._-]*$")
    # Every co-partitioned topic and changelog uses this count (Faust raises PartitionsMismatch otherwise).
    partitions: int = Field(12, ge=1, le=1024)
    data_dir: Path = Path(".data")
    web_host: str = "127.0.0.1"
    web_port: int = Field(6066, ge=1, le=65535)
    api_token: str | None = None
    processing_guarantee: Literal["at_least_once", "exactly_once"] = "at_least_once"
    # `uvloop` (libuv, less CPU per message) or Python's own `asyncio` loop; read before Faust starts.
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    # The garbage collector's youngest generation is collected after this many net allocations instead of
    # Python's 700, and the objects of start-up are frozen (streams/gc_tuning.py: ~200 µs less CPU per
    # occurrence in `make bench`); 0 keeps Python's defaults.
    gc_young_threshold: int = Field(50_000, ge=0, le=10_000_000)
    # How often the worker hands the C heap's free pages back to the system (glibc malloc_trim,
    # streams/timers/memory.py); 0: never.
    memory_trim_seconds: float = Field(60.0, ge=0, le=86_400)
    # Ingest, quota and the grouping owner take at most this many messages in one batch, gathered for at most
    # `grouping_batch_seconds`; the grouping owner sends its outputs after each such many decisions.
    grouping_batch_size: int = Field(500, ge=1, le=100_000)
    # The grouping owner decides a batch in memory, sends its outputs, then writes its states (spec §2.4.6): each
    # touched key once per batch of up to this many messages, which Zipf-hot keys come up in many times (the
    # writes were a third of grouping's CPU at 500: README, Performance); the outputs still go out every
    # `grouping_batch_size` decisions, so the latency of a larger state batch is only that of its inputs' acks.
    grouping_state_batch_size: int = Field(2000, ge=1, le=100_000)
    # How long the broker waits for a silent worker's heartbeat before it gives its partitions to others.
    group_session_timeout_seconds: float = Field(10.0, ge=6, le=300)
    grouping_batch_seconds: float = Field(0.05, gt=0, le=60)
    sink_batch_size: int = Field(500, ge=1, le=100_000)
    # Faust's take() waits this long after each batch, while the backlog of the commit before fills the next one:
    # batches grow with the load by themselves, so a short wait costs no CPU at full load and keeps latency low
    # at light load (bench.e2e: p50 590 -> 270 ms, p99 ~950 -> 450-625 ms at half load against 0.5 s).
    sink_batch_seconds: float = Field(0.1, gt=0, le=60)
    # The batch agents take their records from an inbox the consumer fills directly (streams/faust_compat/
    # batch_delivery.py: about 30 µs less CPU per consumed record) instead of through a Faust stream; false
    # goes back to Faust's streams (both pass the kill -9 test, tests/integration/test_grouping_engine.py).
    batch_delivery: bool = True
    topic_replication_factor: int = Field(1, ge=1, le=10)
    # NoDecode: a comma-separated list in the environment, not JSON.
    # How often expired windows are removed from the windowed tables (noise, dedupe).
    table_cleanup_seconds: float = Field(30.0, gt=0, le=3600)
    # A start-up setting, not a runtime option: the windowed table's size is fixed when declared (§10.4).
    dedupe_window_seconds: int = Field(3600, ge=60, le=604_800)
    grouptype_modules: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # How long the ids of counted drops are kept (spec §2.4.1): an input re-read after a crash is counted
    # once only while its id is kept, so keep them at least as long as the input topics keep records.
    counted_drops_retention_hours: int = Field(168, ge=1, le=87_600)
    # One RocksDB per table and partition (80+ with the defaults). Faust's own defaults, 3 x 64 MB of memtable
    # and a 2 GiB block cache per database, let memory and write-ahead logs grow to gigabytes. A memtable is
    # at most `rocksdb_write_buffer_mb` (two per database); all of them together at most `rocksdb_memtables_mb`
    # (the largest is flushed first); one block cache of `rocksdb_block_cache_mb` serves every database
    # (streams/faust_compat/rocksdb_memory.py).
    rocksdb_write_buffer_mb: int = Field(8, ge=1, le=1024)
    rocksdb_memtables_mb: int = Field(64, ge=8, le=65_536)
    rocksdb_block_cache_mb: int = Field(64, ge=1, le=65_536)
    # How often each worker looks for idle keys of its `groups` partitions to forget (design §4).
    idle_key_sweep_seconds: float = Field(600.0, gt=0, le=86_400)
    # How often every worker compares the input topic's end offsets with the highest ones recorded, raising
    # them, and stops if the topic went backwards (a recreated topic, spec §2.4.10; streams.timers.input_topic).
    input_topic_check_seconds: float = Field(15.0, gt=0, le=3600)
    # A creation's quota request unanswered this long is sent again, same id, by the key's owner (spec
    # §2.4.11); its pending keys are looked at every half of it.
    quota_retry_seconds: float = Field(60.0, gt=0, le=3600)
    # How often the leader merges the ledger's ranges and marks the offsets its audit judges by (§2.4.13).
    ledger_mark_seconds: float = Field(30.0, gt=0, le=3600)
    # How long after ingest committed past an input its outcome may still be on its way: `audit` calls an offset
    # unaccounted only past it (spec §2.4.13: 60 s). Tests shorten it.
    ledger_settle_seconds: float = Field(60.0, gt=0, le=86_400)
    # How often the leader's reconciler submits the unaccounted input offsets again (spec §2.4.13: at most hourly).
    ledger_reconcile_seconds: float = Field(3600.0, gt=0, le=86_400)
    # `json`: the worker logs one JSON object per line (time, level, logger, message, exception) for a log
    # collector; `text`: Faust's own lines (streams.logs).
    log_format: Literal["text", "json"] = "text"
    # A deployment that serves real traffic: refuses test-only settings such as fault injection.
    production: bool = False
    # Test only (issue 12 item 7): the timers' clock (spec §15, streams.timers.transitions) runs this many seconds
    # ahead of the wall clock, so 24-hour, 7-day and daily rules are tested in seconds. Refused with PRODUCTION.
    clock_offset_seconds: float = Field(0.0, ge=0, le=400 * 86_400)
    # Test only (issue 11 item 4): `fail_produce:<topic name without prefix>:<n>` makes the n-th record this
    # worker produces to that topic fail as a delivery timeout would, without sending it;
    # `drop_produce:<topic>:<n>` acknowledges it and never sends it (a record the broker lost);
    # `skip_delivery:<topic name without prefix>:<offset>` makes the consumer skip the first record it fetches
    # at that offset (streams/faust_compat/faults.py); `kill_at:<point>:<n>` kills the worker (SIGKILL) the
    # n-th time it reaches a named point (streams/agents/failure.KILL_POINTS). Empty: off.
    fault_injection: str = Field(
        "", pattern=r"^((fail|drop)_produce:[A-Za-z0-9._-]+:[1-9][0-9]*|skip_delivery:[A-Za-z0-9._-]+:(0|[1-9][0-9]*)"
                    r"|kill_at:[a-z_]+\.[a-z_]+:[1-9][0-9]*)?$")
    # A hole Faust left in an input (spec §2.4.9) makes the worker start over in its own process, reading again
    # from the committed offset, at most this many times in 10 minutes; past that, and at 0, it exits
    # (status 70) for its supervisor to restart (streams/agents/failure.restart_worker_now).
    self_restarts_max: int = Field(5, ge=0, le=100)
    # How long a starting worker waits for an unreachable PostgreSQL before it refuses to start: a worker
    # restarted during a short database outage starts once the database is back (0: refuse at once).
    start_database_wait_seconds: float = Field(60.0, ge=0, le=3600)
    # How long a worker may take to stop after SIGTERM or SIGINT before it gives up (exit status 75, tables
    # rebuilt at the next start): 25 keeps the whole stop under the 30 s an orchestrator usually waits.
    shutdown_timeout_seconds: float = Field(25.0, gt=0, le=3600)

    @property
    def deployment_id(self) -> str:
        """The Faust app id: the Kafka consumer group, and the start of every table changelog's name.

        Prefixed like the topics: two deployments that differ only by `topic_prefix` would otherwise share
        one consumer group and restore each other's tables from the same changelogs.
        """
        return self.topic_prefix + self.app_id

    @property
    def broker_urls(self) -> list[str]:
        """The `kafka://host:port` URLs of `broker_url`, which separates them with ';'."""
        return split_broker_urls(self.broker_url)

    @property
    def bootstrap_servers(self) -> list[str]:
        """The same brokers as aiokafka takes them: `host:port`."""
        return [url.removeprefix("kafka://") for url in self.broker_urls]

    @field_validator("broker_url")
    @classmethod
    def _broker_url_has_scheme(cls, value: str) -> str:
        urls = split_broker_urls(value)
        if not urls or not all(url.startswith("kafka://") for url in urls):
            raise ValueError("must be one or more kafka://host:port URLs separated by ';'")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url_is_postgres(cls, value: str) -> str:
        if not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql://user:password@host:port/database URL")
        return value

    @model_validator(mode="after")
    def _no_fault_injection_in_production(self) -> Settings:
        if self.production and self.fault_injection:
            raise ValueError(
                f"{ENV_PREFIX}FAULT_INJECTION is for tests only and is refused when {ENV_PREFIX}PRODUCTION is set")
        if self.production and self.clock_offset_seconds:
            raise ValueError(
                f"{ENV_PREFIX}CLOCK_OFFSET_SECONDS is for tests only and is refused when {ENV_PREFIX}PRODUCTION is set")
        return self

    @field_validator("grouptype_modules", mode="before")
    @classmethod
    def _split_module_list(cls, value: object) -> object:
        # Accept "a.b,c.d" from the environment as well as a JSON list.
        if isinstance(value, str) and not value.lstrip().startswith("["):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


def describe_error(error: ValidationError) -> str:
    """One line per broken setting, naming the environment variable a person would set."""
    lines = []
    for item in error.errors():
        if not item["loc"]:  # a rule over several settings names them in its message
            lines.append(f"invalid settings: {item['msg'].removeprefix('Value error, ')}")
            continue
        name = ENV_PREFIX + "_".join(str(part) for part in item["loc"]).upper()
        lines.append(f"invalid setting {name}: {item['msg']}")
    return "; ".join(lines)


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise SettingsError(describe_error(error)) from None
    except SourceError as error:
        raise SettingsError(f"invalid settings: {error}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
