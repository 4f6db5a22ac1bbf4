#!/usr/bin/env bash
# A real Apache Kafka broker (3.9 by default, or a 4.x release, KRaft, one node acting as broker and
# controller) on loopback, for the interop suite (INTEROP_TARGET=kafka, differential.test.ts) and for
# benchmarks that compare Spool with Kafka.
#
#   test/interop/kafka-broker.sh start [--dir DIR] [--port PORT] [--request-log] [--version V] [--set KEY=VALUE]...   # prints the bootstrap address
#   test/interop/kafka-broker.sh stop  [--dir DIR]
#   test/interop/kafka-broker.sh status [--dir DIR]
#   test/interop/kafka-broker.sh classpath [--version V]   # resolves (and caches) the broker's classpath, prints it
#
# DIR (default /tmp/spool-kafka, or $KAFKA_BROKER_DIR) holds server.properties, the data, the log
# (server.log) and the pid; `start` wipes it first, so every start is a fresh, empty cluster.
# PORT (default 19092, or $KAFKA_PORT) is the client listener; the controller listens on PORT+1
# (or --controller-port). --request-log writes every request the broker completes, with its API key,
# version and client id, to DIR/requests.log (api-versions.ts summarises it per client). --set adds a
# line to server.properties (a broker config, e.g. producer.id.expiration.ms=2000); it may be repeated.
# The broker's jars come from Maven Central through test/interop/broker/pom.xml; the resolved
# classpath is cached in test/interop/.build/ (kafka-broker.classpath for 3.9.1, the pom's version;
# kafka-broker-V.classpath for any other, e.g. --version 4.1.1; or $KAFKA_VERSION). Needs mvn and
# java (11+; 17+ for Kafka 4.x).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
command="${1:-}"
[ $# -gt 0 ] && shift
dir="${KAFKA_BROKER_DIR:-/tmp/spool-kafka}"
port="${KAFKA_PORT:-19092}"
controller_port=""
request_log=false
settings=()
# The broker pom's own version; any other is resolved with -Dkafka.version into its own cache file.
default_version=3.9.1
version="${KAFKA_VERSION:-$default_version}"
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --controller-port) controller_port="$2"; shift 2 ;;
    --request-log) request_log=true; shift ;;
    --version) version="$2"; shift 2 ;;
    --set)
      [[ "$2" == *=* ]] || { echo "kafka-broker.sh: --set takes KEY=VALUE, got $2" >&2; exit 2; }
      settings+=("$2"); shift 2 ;;
    *) echo "kafka-broker.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
controller_port="${controller_port:-$((port + 1))}"
# Seconds to wait for "Kafka Server started" before giving up.
start_timeout_s="${KAFKA_START_TIMEOUT_S:-90}"

classpath() {
  local cache="$here/.build/kafka-broker.classpath"
  [ "$version" = "$default_version" ] || cache="$here/.build/kafka-broker-$version.classpath"
  if [ ! -s "$cache" ] || [ "$here/broker/pom.xml" -nt "$cache" ]; then
    mkdir -p "$here/.build"
    mvn -q -B -f "$here/broker/pom.xml" dependency:build-classpath -Dkafka.version="$version" -Dmdep.outputFile="$cache" >&2
  fi
  cat "$cache"
}

running_pid() {
  [ -f "$dir/kafka.pid" ] || return 1
  local pid
  pid="$(cat "$dir/kafka.pid")"
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

stop() {
  local pid
  if pid="$(running_pid)"; then
    kill "$pid"
    # A controlled shutdown takes a few seconds; past 30 s the broker is killed.
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$dir/kafka.pid"
}

start() {
  command -v java >/dev/null || { echo "kafka-broker.sh: java is not installed" >&2; exit 1; }
  command -v mvn >/dev/null || { echo "kafka-broker.sh: mvn is not installed" >&2; exit 1; }
  stop
  rm -rf "$dir"
  mkdir -p "$dir/data"
  local cp
  cp="$(classpath)"

  # Single-node settings (replication factor 1 for the internal topics) and no initial rebalance
  # delay, so a consumer group forms as soon as its members join, as it does on Spool.
  cat > "$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
EOF
  for setting in ${settings[@]+"${settings[@]}"}; do echo "$setting" >> "$dir/server.properties"; done
  cat > "$dir/log4j.properties" <<EOF
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$dir/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.state.change.logger=WARN
EOF
  if $request_log; then
    cat >> "$dir/log4j.properties" <<EOF
log4j.logger.kafka.request.logger=DEBUG, requests
log4j.additivity.kafka.request.logger=false
log4j.appender.requests=org.apache.log4j.FileAppender
log4j.appender.requests.File=$dir/requests.log
log4j.appender.requests.layout=org.apache.log4j.PatternLayout
log4j.appender.requests.layout.ConversionPattern=%m%n
EOF
  else
    echo "log4j.logger.kafka.request.logger=WARN" >> "$dir/log4j.properties"
  fi

  local java_opts=(-Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true
    -Dlog4j.configuration="file:$dir/log4j.properties")
  # A cluster id is 16 random bytes in unpadded URL-safe base64. One starting with '-' (1 in 64) would
  # be read by the storage tool as an option; Kafka's own Uuid.randomUuid() draws again, and so do we.
  local cluster_id
  cluster_id="-"
  while [[ "$cluster_id" == -* ]]; do
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
  done
  java "${java_opts[@]}" -cp "$cp" kafka.tools.StorageTool format \
    -t "$cluster_id" -c "$dir/server.properties" > "$dir/format.log" 2>&1 \
    || { cat "$dir/format.log" >&2; exit 1; }

  nohup java "${java_opts[@]}" -cp "$cp" kafka.Kafka "$dir/server.properties" \
    > "$dir/stdout.log" 2>&1 < /dev/null &
  echo $! > "$dir/kafka.pid"

  local deadline=$((SECONDS + start_timeout_s))
  until grep -q "Kafka Server started" "$dir/server.log" 2>/dev/null; do
    if ! running_pid >/dev/null; then
      echo "kafka-broker.sh: the broker exited during startup; last lines of its logs:" >&2
      tail -n 30 "$dir/stdout.log" "$dir/server.log" >&2 2>/dev/null || true
      exit 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      echo "kafka-broker.sh: the broker did not start within ${start_timeout_s}s (see $dir/server.log)" >&2
      stop
      exit 1
    fi
    sleep 0.2
  done
  echo "127.0.0.1:$port"
}

case "$command" in
  start) start ;;
  classpath) classpath ;;
  stop) stop ;;
  status)
    if pid="$(running_pid)"; then echo "running (pid $pid) on 127.0.0.1:$port"; else echo "stopped"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status|classpath [--dir DIR] [--port PORT] [--controller-port PORT] [--request-log] [--version V]" >&2; exit 2 ;;
esac
