#!/usr/bin/env bash
# Real Apache Kafka (single-node KRaft) without Docker: jars from Maven Central, started with `java -cp`.
# Usage: dev/kafka.sh up|down|status. Idempotent. Settings mirror docker-compose.yml (spec §2.1.1, design §6).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
cache="${ISSUE_PLATFORM_CACHE:-$root/.cache}"
libs="$cache/kafka-libs"
state="${ISSUE_PLATFORM_KAFKA_DIR:-$cache/kafka}"
port="${KAFKA_PORT:-9092}"
controller_port="${KAFKA_CONTROLLER_PORT:-9093}"
partitions="${ISSUE_PLATFORM_PARTITIONS:-12}"
max_bytes=8388608  # 8 MiB records, spec §2.1.1
log="$state/server.log"
pidfile="$state/kafka.pid"

broker_answers() {
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

fetch_jars() {
  if [ -f "$libs/.complete" ]; then return; fi
  echo "kafka: fetching broker jars from Maven Central into $libs"
  mkdir -p "$libs"
  mvn -q -B -Dmaven.repo.local="$cache/m2" -f "$here/kafka/pom.xml" \
    dependency:copy-dependencies -DoutputDirectory="$libs"
  touch "$libs/.complete"
}

write_config() {
  mkdir -p "$state/data"
  cat > "$state/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$state/data
num.partitions=$partitions
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
# Off: every topic is declared with its configuration (issue-platform migrate, the worker at start, spec §2.1).
auto.create.topics.enable=false
message.max.bytes=$max_bytes
replica.fetch.max.bytes=$max_bytes
socket.request.max.bytes=104857600
log.retention.hours=168
PROPS
  cat > "$state/log4j.properties" <<'PROPS'
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.KafkaRaftServer=INFO
PROPS
}

up() {
  if broker_answers; then echo "kafka: already answering on 127.0.0.1:$port"; return; fi
  command -v java >/dev/null || { echo "kafka: java not found (install a JDK 17)" >&2; exit 1; }
  fetch_jars
  write_config
  local cp="$libs/*"
  if [ ! -f "$state/data/meta.properties" ]; then
    java -cp "$cp" -Dlog4j.configuration="file:$state/log4j.properties" kafka.tools.StorageTool format \
      -t "$(java -cp "$cp" -Dlog4j.configuration="file:$state/log4j.properties" kafka.tools.StorageTool random-uuid)" -c "$state/server.properties" >/dev/null
  fi
  echo "kafka: starting Apache Kafka (KRaft) on 127.0.0.1:$port, log in $log"
  nohup java -Xms256m -Xmx1g -cp "$cp" -Dlog4j.configuration="file:$state/log4j.properties" \
    kafka.Kafka "$state/server.properties" >"$log" 2>&1 &
  echo $! > "$pidfile"
  for _ in $(seq 1 120); do
    # The port opens before the broker serves metadata; the raft server logs this line once it does.
    if grep -q "Kafka Server started" "$log" 2>/dev/null && broker_answers; then echo "kafka: ready"; return; fi
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then echo "kafka: broker exited, see $log:" >&2; tail -20 "$log" >&2; exit 1; fi
    sleep 0.5
  done
  echo "kafka: not answering after 60 s, see $log" >&2; exit 1
}

down() {
  local pid=""
  [ -f "$pidfile" ] && pid="$(cat "$pidfile")"
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
    # No pid file (deleted, or another checkout's `up`): find this checkout's broker by its config path.
    pid="$(pgrep -f "kafka.Kafka $state/server.properties" | head -1 || true)"
  fi
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    echo "kafka: stopped"
  else
    echo "kafka: not running"
  fi
  rm -f "$pidfile"
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  reset) down; rm -rf "$state"; echo "kafka: data removed" ;;
  status) if broker_answers; then echo "kafka: up on 127.0.0.1:$port"; else echo "kafka: down"; exit 1; fi ;;
  *) echo "usage: $0 up|down|reset|status" >&2; exit 2 ;;
esac
