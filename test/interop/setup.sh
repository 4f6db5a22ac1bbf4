#!/usr/bin/env bash
# Prepares the interop suite (npm run test:interop): installs kcat and the JDK/Maven/Go it needs
# if missing (Debian packages), builds the Java client program and the sarama client program into
# test/interop/.build/, and resolves the Apache Kafka broker's jars (for INTEROP_TARGET=kafka).
# Idempotent: run it again after changing any of the client programs.
#
#   test/interop/setup.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="$here/.build"
mkdir -p "$build"

apt_updated=false
apt_install() {
  if ! $apt_updated; then
    apt-get update -qq
    apt_updated=true
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

step() { printf '\n== %s\n' "$*"; }

step "kcat (librdkafka)"
command -v kcat >/dev/null || apt_install kcat
kcat -V | head -n 4 | tail -n 1

step "Java client program (kafka-clients 3.9, Maven Central)"
command -v javac >/dev/null || apt_install openjdk-17-jdk-headless
command -v mvn >/dev/null || apt_install maven
mvn -q -B -Dstyle.color=never -f "$here/java/pom.xml" package
echo "built $build/java (classes + classpath.txt)"

step "sarama client program (Go module proxy)"
# sarama 1.61 needs Go 1.26 (go.mod); the machine image ships it in /usr/local/go.
command -v go >/dev/null || { echo "Go is not installed (go.mod needs Go 1.26+)" >&2; exit 1; }
(cd "$here/go" && go build -o "$build/sarama-interop" .)
echo "built $build/sarama-interop"

step "Apache Kafka broker jars (for INTEROP_TARGET=kafka and benchmarks)"
mvn -q -B -Dstyle.color=never -f "$here/broker/pom.xml" dependency:build-classpath -Dmdep.outputFile="$build/kafka-broker.classpath"
echo "resolved $build/kafka-broker.classpath"

step "ready: npm run test:interop (Spool), or INTEROP_TARGET=kafka npm run test:interop (Apache Kafka)"
