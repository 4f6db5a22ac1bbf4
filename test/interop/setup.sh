#!/usr/bin/env bash
# Prepares the interop suite (npm run test:interop): installs kcat and the JDK/Maven/Go it needs
# if missing (Debian packages), builds the Java client program (on kafka-clients 3.9 and 4.4), the
# sarama and franz-go client programs, a Kafka Streams application and two Filebeat builds into test/interop/.build/, resolves Kafka Connect's
# jars (connect.test.ts) and the Apache Kafka broker's (for
# INTEROP_TARGET=kafka; 3.9.1, and the 4.x release and its tools for differential.test.ts). The Go
# builds run in the background while Maven works; their output goes to .build/logs/ and is shown
# only when a build fails. A Filebeat binary already in .build/ is kept (delete it to rebuild).
# Idempotent: run it again after changing any of the client programs.
#
#   test/interop/setup.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="$here/.build"
mkdir -p "$build/logs"

apt_updated=false
apt_install() {
  if ! $apt_updated; then
    apt-get update -qq
    apt_updated=true
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

step() { printf '\n== %s\n' "$*"; }

# The Go builds run one after another in one background job while the other steps run: on 2 cores
# each `go build` already keeps both busy, and building the two Filebeats at once made the whole of
# setup.sh take 7 min on a clean machine, against 5 one after the other. The job runs in its own
# process group (set -m), so a failing step ends the compiler it started too. Each build logs to
# .build/logs/NAME.log and leaves NAME.failed there when it fails.
set -m
go_pid=""
trap '[ -z "$go_pid" ] || kill -- "-$go_pid" 2>/dev/null || true' EXIT

# Filebeat from the beats module on the Go module proxy: download the module, build ./filebeat in
# its directory (its own go.mod and replace directives apply there), then move the binary into
# place, so that an interrupted build never leaves a binary that looks cached. (Called where
# set -e does not apply, hence the explicit returns.)
build_filebeat() {
  local module="$1" out="$2" dir
  dir="$(cd "$build" && go mod download -json "$module" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')" || return 1
  [ -d "$dir" ] || { echo "go mod download $module reported no module directory" >&2; return 1; }
  (cd "$dir" && GOFLAGS=-mod=readonly go build -buildvcs=false -ldflags='-s -w' -o "$out.partial" ./filebeat) || return 1
  mv "$out.partial" "$out"
}

build_sarama() { (cd "$here/go" && go build -o "$build/sarama-interop" .); }
build_franz() { (cd "$here/franz" && go build -o "$build/franz-interop" .); }

# NAME COMMAND...: runs it with its output in .build/logs/NAME.log, marks NAME.failed if it fails.
logged() {
  local name="$1"
  shift
  rm -f "$build/logs/$name.failed"
  "$@" >"$build/logs/$name.log" 2>&1 || touch "$build/logs/$name.failed"
}

step "Go programs: sarama client, franz-go client, Filebeat 7.17.28 and a Filebeat 9.3 snapshot (Go module proxy), in the background"
# sarama 1.61 needs Go 1.26 (go.mod); the machine image ships it in /usr/local/go.
command -v go >/dev/null || { echo "Go is not installed (go.mod needs Go 1.26+)" >&2; exit 1; }
# Filebeat versions (the binaries' names are those test/interop/filebeat.test.ts runs). 8.x and
# later are not served as tagged versions by the proxy (v8.* answers 403); the 9.3 development
# snapshot is a pseudo-version of the v7 module path (its libbeat/version.go says 9.3.0, it
# pins elastic/sarama v1.19.1-0.20250603175145-7672917f26b6).
filebeats=(
  "filebeat-7.17.28 github.com/elastic/beats/v7@v7.17.28"
  "filebeat-9.3.0-snapshot github.com/elastic/beats/v7@v7.0.0-alpha2.0.20251031181001-be9871f5dab9"
)
go_names=(sarama-interop franz-interop)
to_build=()
for filebeat in "${filebeats[@]}"; do
  read -r name module <<<"$filebeat"
  if [ -x "$build/$name" ]; then
    echo "cached $build/$name"
  else
    echo "building $build/$name from $module (minutes; log in $build/logs/$name.log)"
    go_names+=("$name")
    to_build+=("$filebeat")
  fi
done
(
  logged sarama-interop build_sarama
  logged franz-interop build_franz
  for filebeat in "${to_build[@]}"; do
    read -r name module <<<"$filebeat"
    logged "$name" build_filebeat "$module" "$build/$name"
  done
) &
go_pid=$!

step "kcat (librdkafka)"
command -v kcat >/dev/null || apt_install kcat
kcat -V | head -n 4 | tail -n 1

step "Java client program (kafka-clients 3.9, and 4.4 for java4.test.ts; Maven Central)"
command -v javac >/dev/null || apt_install openjdk-17-jdk-headless
command -v mvn >/dev/null || apt_install maven
mvn -q -B -Dstyle.color=never -f "$here/java/pom.xml" package
echo "built $build/java (classes + classpath.txt)"
mvn -q -B -Dstyle.color=never -f "$here/java/pom.xml" -P kafka4 package
echo "built $build/java4 (the same program on kafka-clients 4.4; java4.test.ts)"

step "KIP-848 client program (kafka-clients 4.4, group.protocol=consumer; kip848.test.ts)"
mvn -q -B -Dstyle.color=never -f "$here/kip848/pom.xml" package
echo "built $build/kip848 (classes + classpath.txt)"

step "Apache Kafka's command-line tools (kafka-tools 3.9.1, Maven Central; kafka-tools.test.ts and the benchmarks)"
mvn -q -B -Dstyle.color=never -f "$here/../../bench/kafka-tools/pom.xml" package
echo "built $build/bench-kafka-tools (classes + classpath.txt)"

step "Kafka Streams program (kafka-streams 3.9.1, Maven Central; streams.test.ts)"
mvn -q -B -Dstyle.color=never -f "$here/streams/pom.xml" package
echo "built $build/streams (classes + classpath.txt)"

step "Kafka Connect 3.9.1: connect-runtime, connect-file, connect-json (Maven Central; connect.test.ts)"
mvn -q -B -Dstyle.color=never -f "$here/connect/pom.xml" dependency:build-classpath -Dmdep.outputFile="$build/connect.classpath"
echo "resolved $build/connect.classpath"

step "Apache Kafka broker jars (for INTEROP_TARGET=kafka, the brokers connect.test.ts and streams.test.ts start, and benchmarks)"
mvn -q -B -Dstyle.color=never -f "$here/broker/pom.xml" dependency:build-classpath -Dmdep.outputFile="$build/kafka-broker.classpath"
echo "resolved $build/kafka-broker.classpath"

# differential.test.ts: the 4.x tools (and ToolRunner) in kafka-cli/, and a 4.x broker of the same
# version (its version is kafka-cli/pom.xml's kafka.version) beside 3.9.1.
kafka4_version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/kafka-cli/pom.xml")"
step "Apache Kafka $kafka4_version: command-line tools and broker jars (differential.test.ts)"
mvn -q -B -Dstyle.color=never -f "$here/kafka-cli/pom.xml" package
echo "built $build/kafka-cli (classes + classpath.txt)"
bash "$here/kafka-broker.sh" classpath --version "$kafka4_version" >/dev/null
echo "resolved $build/kafka-broker-$kafka4_version.classpath"

step "Python clients for differential.test.ts: confluent-kafka (librdkafka) and kafka-python, PyPI, in a venv"
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
[ -x "$build/python-clients/bin/python" ] || python3 -m venv "$build/python-clients"
"$build/python-clients/bin/pip" install -q --disable-pip-version-check confluent-kafka==2.16.1 kafka-python==3.0.12
echo "installed $build/python-clients"

step "waiting for the Go builds"
wait "$go_pid" || true
go_pid=""
go_failed=false
for name in "${go_names[@]}"; do
  if [ -e "$build/logs/$name.failed" ]; then
    echo "building $name failed; the end of $build/logs/$name.log:" >&2
    tail -n 30 "$build/logs/$name.log" >&2
    go_failed=true
  else
    echo "built $name"
  fi
done
$go_failed && exit 1

step "ready: npm run test:interop (Spool), or INTEROP_TARGET=kafka npm run test:interop (Apache Kafka)"
