#!/usr/bin/env bash
# Switchyard local services: the real stack on loopback, for integration tests and people.
#
#   deploy/services.sh up       start Kafka + ClickHouse (+ schema registry if SWITCHYARD_REGISTRY=1)
#   deploy/services.sh down     stop whatever runs (SIGTERM, wait, SIGKILL); fine if nothing runs
#   deploy/services.sh status   show what runs; exit 0 only if every selected service is up and ready
#   deploy/services.sh clean    down, then delete the data dirs under $SERVICES_DIR
#   deploy/services.sh env      print `export VAR=...` lines for the running services
#
# Everything lives under $SERVICES_DIR (default <repo>/.services) and downloads are cached under
# $CACHE_DIR (default <repo>/.cache); both are git-ignored. See deploy/README.md for details,
# measurements and every environment variable.
set -euo pipefail

# ---------------------------------------------------------------------------------------------
# Pinned versions (change together with deploy/kafka/pom.xml).
KAFKA_VERSION=4.1.1
APICURIO_VERSION=3.3.3
DEPENDENCY_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)

SERVICES_DIR=$(realpath -m "${SERVICES_DIR:-$REPO_ROOT/.services}")
CACHE_DIR=$(realpath -m "${CACHE_DIR:-$REPO_ROOT/.cache}")

# Kafka (KRaft, one combined broker+controller node).
KAFKA_HOST=${KAFKA_HOST:-127.0.0.1}
KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}
KAFKA_JAVA=${KAFKA_JAVA:-java}
KAFKA_JVM_OPTS=${KAFKA_JVM_OPTS:--Xms256m -Xmx1g -XX:+UseSerialGC -XX:TieredStopAtLevel=1}
KAFKA_READY_TIMEOUT=${KAFKA_READY_TIMEOUT:-90}

# ClickHouse (Debian package clickhouse-server 18.16).
CH_HOST=${CH_HOST:-127.0.0.1}
CH_NATIVE_PORT=${CH_NATIVE_PORT:-9000}
CH_HTTP_PORT=${CH_HTTP_PORT:-8123}
CH_READY_TIMEOUT=${CH_READY_TIMEOUT:-60}

# Schema registry (Apicurio Registry 3.x, Confluent-compatible API under /apis/ccompat/v7). Optional.
SWITCHYARD_REGISTRY=${SWITCHYARD_REGISTRY:-0}
REGISTRY_HOST=${REGISTRY_HOST:-127.0.0.1}
REGISTRY_PORT=${REGISTRY_PORT:-8081}
REGISTRY_MGMT_PORT=${REGISTRY_MGMT_PORT:-$((REGISTRY_PORT + 10))}
REGISTRY_JAVA=${REGISTRY_JAVA:-}
REGISTRY_JVM_OPTS=${REGISTRY_JVM_OPTS:--Xms64m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1}
REGISTRY_COMPATIBILITY=${REGISTRY_COMPATIBILITY:-BACKWARD}
REGISTRY_READY_TIMEOUT=${REGISTRY_READY_TIMEOUT:-90}

STOP_TIMEOUT=${STOP_TIMEOUT:-30}
LOCK_TIMEOUT=${LOCK_TIMEOUT:-600}

KAFKA_DIR=$SERVICES_DIR/kafka
CH_DIR=$SERVICES_DIR/clickhouse
REG_DIR=$SERVICES_DIR/registry
KAFKA_HOME=$CACHE_DIR/kafka-$KAFKA_VERSION
KAFKA_LIB=$KAFKA_HOME/lib
APICURIO_HOME=$CACHE_DIR/apicurio-$APICURIO_VERSION
M2_REPO=$CACHE_DIR/m2

ALL_SERVICES="kafka clickhouse registry"

# Output, timing and process helpers (say, warn, err, die, show_logs, now, since, is_alive,
# cmdline_has, port_open).
LOG_TAG=services
# shellcheck source=deploy/lib.sh
source "$SCRIPT_DIR/lib.sh"

# ---------------------------------------------------------------------------------------------
# Processes. A service process is recognised by a marker string in its command line that is
# unique to this $SERVICES_DIR, so several stacks (other ports, other dirs) can coexist and a
# recycled pid is never mistaken for ours. Pid files are the fast path.

marker() {
    case $1 in
        kafka)      printf '%s' "kafka.Kafka $KAFKA_DIR/server.properties" ;;
        clickhouse) printf '%s' "--config-file=$CH_DIR/config.xml" ;;
        registry)   printf '%s' "-Dswitchyard.registry.dir=$REG_DIR" ;;
    esac
}
pidfile() {
    case $1 in
        kafka)      printf '%s' "$KAFKA_DIR/kafka.pid" ;;
        clickhouse) printf '%s' "$CH_DIR/clickhouse.pid" ;;
        registry)   printf '%s' "$REG_DIR/registry.pid" ;;
    esac
}

# find_pid SERVICE: print the pid of the running service, or nothing (exit 1).
find_pid() { find_marked_pid "$(pidfile "$1")" "$(marker "$1")"; }

rss_mb() { awk '/^VmRSS:/ { printf "%d MB", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo "? MB"; }

port_owner() {
    if command -v ss >/dev/null 2>&1; then
        ss -Hltnp "sport = :$1" 2>/dev/null | awk '{ $1=$1; print }' | head -n 3
    fi
}

# require_free_port SERVICE HOST PORT WHAT
require_free_port() {
    if port_open "$2" "$3"; then
        err "$1: port $2:$3 ($4) is already in use by another process (not this stack, SERVICES_DIR=$SERVICES_DIR)."
        local o
        o=$(port_owner "$3")
        [[ -n $o ]] && err "listener: $o"
        die "$1: free the port or choose another one (see deploy/README.md for the port variables)."
    fi
}

# start_bg SERVICE OUTFILE WORKDIR CMD...: start CMD detached in its own session, record its pid.
# fd 9 (the stack lock) is closed so the server does not keep the lock held.
start_bg() {
    local svc=$1 out=$2 wd=$3 pid
    shift 3
    (cd "$wd" && exec setsid "$@" </dev/null >>"$out" 2>&1 9>&-) &
    pid=$!
    printf '%s\n' "$pid" >"$(pidfile "$svc")"
    STARTED_PID=$pid
}

# stop_service SERVICE: SIGTERM, wait up to STOP_TIMEOUT, then SIGKILL.
stop_service() {
    local svc=$1 pid t0 i
    if ! pid=$(find_pid "$svc"); then
        say "$svc: not running"
        return 0
    fi
    t0=$(now)
    say "$svc: stopping pid $pid (SIGTERM, up to ${STOP_TIMEOUT}s)..."
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_TIMEOUT * 5; i++)); do
        is_alive "$pid" || break
        sleep 0.2
    done
    if is_alive "$pid"; then
        warn "$svc: pid $pid still alive after ${STOP_TIMEOUT}s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            is_alive "$pid" || break
            sleep 0.2
        done
        is_alive "$pid" && die "$svc: pid $pid survived SIGKILL"
    fi
    rm -f "$(pidfile "$svc")"
    say "$svc: stopped in $(since "$t0")s"
}

# wait_ready SERVICE PID TIMEOUT CHECK_FN LOGFILE...: poll CHECK_FN until it succeeds.
# On death or timeout: show the logs, stop the half-started process, exit non-zero.
wait_ready() {
    local svc=$1 pid=$2 timeout=$3 check=$4 t0
    shift 4
    t0=$(now)
    while true; do
        if "$check"; then
            READY_SECS=$(since "$t0")
            return 0
        fi
        if ! is_alive "$pid"; then
            err "$svc: process $pid exited during start-up."
            show_logs "$@"
            rm -f "$(pidfile "$svc")"
            die "$svc: failed to start (logs above)."
        fi
        if awk -v s="$t0" -v e="$(now)" -v t="$timeout" 'BEGIN { exit !(e - s > t) }'; then
            err "$svc: not ready after ${timeout}s."
            show_logs "$@"
            stop_service "$svc" || true
            die "$svc: failed to become ready within ${timeout}s (logs above)."
        fi
        sleep 0.25
    done
}

# ---------------------------------------------------------------------------------------------
# Prerequisites: install missing packages with apt-get (Debian/Ubuntu).

apt_install() {
    local sudo=() created_policy=0
    if [[ $EUID -ne 0 ]]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            die "missing packages: $*. Install them as root: apt-get update && apt-get install -y $*"
        fi
    fi
    command -v apt-get >/dev/null 2>&1 || die "missing packages ($*) and no apt-get on this machine; install them by hand."
    # Installing clickhouse-server runs `invoke-rc.d clickhouse-server start`, which would start the
    # system-wide server on 9000/8123 and take our ports. A policy-rc.d that exits 101 forbids that.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\n# temporary, created by switchyard deploy/services.sh\nexit 101\n' |
            "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
        "${sudo[@]}" chmod 755 /usr/sbin/policy-rc.d
        created_policy=1
    fi
    local rc=0
    say "installing packages: $* (apt-get update && apt-get install -y ...)"
    {
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -q &&
            "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q \
                --no-install-recommends "$@"
    } || rc=$?
    if ((created_policy)); then "${sudo[@]}" rm -f /usr/sbin/policy-rc.d; fi
    ((rc == 0)) || die "apt-get install $* failed (exit $rc)."
}

clickhouse_server_cmd() {
    # Prints the command (words separated by newlines) that runs the ClickHouse server.
    if [[ -n ${CLICKHOUSE_SERVER_BIN:-} ]]; then printf '%s\n' "$CLICKHOUSE_SERVER_BIN"; return 0; fi
    local c
    for c in "$(command -v clickhouse-server 2>/dev/null || true)" /usr/sbin/clickhouse-server /usr/bin/clickhouse-server; do
        if [[ -n $c && -x $c ]]; then printf '%s\n' "$c"; return 0; fi
    done
    # Upstream packages ship one multi-call binary: `clickhouse server`.
    for c in "$(command -v clickhouse 2>/dev/null || true)" /usr/bin/clickhouse; do
        if [[ -n $c && -x $c ]]; then printf '%s\nserver\n' "$c"; return 0; fi
    done
    return 1
}

ensure_prereqs() {
    local want_kafka=$1 want_ch=$2 want_reg=$3 pkgs=()
    command -v curl >/dev/null 2>&1 || pkgs+=(curl)
    command -v setsid >/dev/null 2>&1 || pkgs+=(util-linux)
    command -v flock >/dev/null 2>&1 || pkgs+=(util-linux)
    # The ClickHouse server, its client and kcat (used to check Kafka by hand and in tests) come together.
    if ((want_ch)); then
        if ! clickhouse_server_cmd >/dev/null || ! command -v clickhouse-client >/dev/null 2>&1 ||
            ! command -v kcat >/dev/null 2>&1; then
            pkgs+=(clickhouse-server clickhouse-client kcat)
        fi
    fi
    # Maven is needed only to fill the download cache.
    if { ((want_kafka)) && [[ ! -f $KAFKA_HOME/.complete ]]; } ||
        { ((want_reg)) && [[ ! -f $APICURIO_HOME/.complete ]]; }; then
        command -v mvn >/dev/null 2>&1 || pkgs+=(maven)
    fi
    if ((want_kafka)); then
        command -v "$KAFKA_JAVA" >/dev/null 2>&1 || pkgs+=(openjdk-17-jre-headless)
    fi
    if ((${#pkgs[@]})); then
        # shellcheck disable=SC2207
        pkgs=($(printf '%s\n' "${pkgs[@]}" | sort -u))
        apt_install "${pkgs[@]}"
    fi
}

# java_major JAVA: print the feature version (17, 21, 25, ...) of a java binary.
java_major() {
    "$1" -version 2>&1 | awk -F'"' '/version "/ { split($2, v, "."); if (v[1] == "1") print v[2]; else print v[1]; exit }'
}

# ---------------------------------------------------------------------------------------------
# Kafka.

ensure_kafka_jars() {
    local pom=$SCRIPT_DIR/kafka/pom.xml sum t0
    sum=$(sha256sum "$pom" | cut -d' ' -f1)
    if [[ -f $KAFKA_HOME/.complete && $(<"$KAFKA_HOME/.complete") == "$sum" && -f $KAFKA_LIB/kafka_2.13-$KAFKA_VERSION.jar ]]; then
        say "kafka: jars cached in ${KAFKA_LIB#"$REPO_ROOT"/} ($(find "$KAFKA_LIB" -name '*.jar' | wc -l) jars)"
        return 0
    fi
    command -v mvn >/dev/null 2>&1 || die "kafka: mvn not found (needed once to fetch the broker jars)."
    say "kafka: resolving Apache Kafka $KAFKA_VERSION jars from Maven Central into ${KAFKA_LIB#"$REPO_ROOT"/} (first run only)..."
    t0=$(now)
    rm -rf "$KAFKA_LIB" "$KAFKA_HOME/.complete"
    mkdir -p "$KAFKA_LIB" "$M2_REPO"
    if ! mvn -q -B -Dstyle.color=never -f "$pom" -Dmaven.repo.local="$M2_REPO" -Dkafka.version="$KAFKA_VERSION" \
        "$DEPENDENCY_PLUGIN:copy-dependencies" -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIB" \
        >"$CACHE_DIR/mvn-kafka.log" 2>&1; then
        rm -rf "$KAFKA_LIB"
        show_logs "$CACHE_DIR/mvn-kafka.log"
        die "kafka: mvn dependency:copy-dependencies failed (log above). Is Maven Central reachable?"
    fi
    [[ -f $KAFKA_LIB/kafka_2.13-$KAFKA_VERSION.jar ]] || die "kafka: kafka_2.13-$KAFKA_VERSION.jar missing after mvn."
    printf '%s\n' "$sum" >"$KAFKA_HOME/.complete"
    say "kafka: $(find "$KAFKA_LIB" -name '*.jar' | wc -l) jars ($(du -sh "$KAFKA_LIB" | cut -f1)) resolved in $(since "$t0")s"
}

render() { # render TEMPLATE OUT VAR=VALUE...
    local tmpl=$1 out=$2 expr=() kv
    shift 2
    for kv in "$@"; do expr+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
    sed "${expr[@]}" "$tmpl" >"$out.tmp"
    if grep -q '@[A-Z_]*@' "$out.tmp"; then die "unrendered placeholder in $out: $(grep -o '@[A-Z_]*@' "$out.tmp" | head -1)"; fi
    mv "$out.tmp" "$out"
}

kafka_port_check() {
    port_open "$KAFKA_HOST" "$KAFKA_PORT"
}

kafka_ready_check() {
    port_open "$KAFKA_HOST" "$KAFKA_PORT" || return 1
    tail -c +"$((KAFKA_LOG_OFFSET + 1))" "$KAFKA_DIR/logs/server.log" 2>/dev/null | grep -q 'Kafka Server started'
}

kafka_java_opts() {
    # shellcheck disable=SC2206
    local opts=($KAFKA_JVM_OPTS)
    # log4j2's own shutdown hook would stop logging before Kafka's shutdown finishes; file
    # appenders flush every line, so without the hook the log keeps the last shutdown lines.
    printf '%s\n' "${opts[@]}" -Djava.awt.headless=true -Dlog4j2.shutdownHookEnabled=false \
        -Dlog4j2.configurationFile="$SCRIPT_DIR/kafka/log4j2.yaml" -Dkafka.logs.dir="$KAFKA_DIR/logs"
}

start_kafka() {
    local pid major id t0 opts=()
    if pid=$(find_pid kafka); then
        say "kafka: already running (pid $pid), checking readiness..."
        # The `up` that started it waited for "Kafka Server started"; since then server.log may
        # have rolled over, so a running broker only needs its listener to answer.
        wait_ready kafka "$pid" "$KAFKA_READY_TIMEOUT" kafka_port_check "$KAFKA_DIR/logs/server.log" "$KAFKA_DIR/kafka.out"
        return 0
    fi
    command -v "$KAFKA_JAVA" >/dev/null 2>&1 || die "kafka: java not found (KAFKA_JAVA=$KAFKA_JAVA)."
    major=$(java_major "$KAFKA_JAVA")
    [[ -n $major && $major -ge 17 ]] || die "kafka: Kafka $KAFKA_VERSION needs Java 17+, $KAFKA_JAVA is Java ${major:-unknown}."
    ensure_kafka_jars
    require_free_port kafka "$KAFKA_HOST" "$KAFKA_PORT" "Kafka PLAINTEXT listener, KAFKA_PORT"
    require_free_port kafka "$KAFKA_HOST" "$KAFKA_CONTROLLER_PORT" "Kafka controller listener, KAFKA_CONTROLLER_PORT"
    mkdir -p "$KAFKA_DIR/data" "$KAFKA_DIR/logs"
    render "$SCRIPT_DIR/kafka/server.properties.tmpl" "$KAFKA_DIR/server.properties" \
        KAFKA_VERSION="$KAFKA_VERSION" KAFKA_DIR="$KAFKA_DIR" KAFKA_HOST="$KAFKA_HOST" \
        KAFKA_PORT="$KAFKA_PORT" KAFKA_CONTROLLER_PORT="$KAFKA_CONTROLLER_PORT"
    mapfile -t opts < <(kafka_java_opts)
    if [[ ! -f $KAFKA_DIR/data/meta.properties ]]; then
        # Cluster id: 16 random bytes, base64url without padding (22 chars), must not start with '-'.
        id=-
        while [[ $id == -* ]]; do id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '='); done
        t0=$(now)
        say "kafka: formatting fresh KRaft storage in ${KAFKA_DIR#"$REPO_ROOT"/}/data (cluster id $id)..."
        if ! "$KAFKA_JAVA" "${opts[@]}" -cp "$KAFKA_LIB/*" kafka.tools.StorageTool format \
            -t "$id" -c "$KAFKA_DIR/server.properties" >"$KAFKA_DIR/format.log" 2>&1; then
            show_logs "$KAFKA_DIR/format.log"
            die "kafka: storage format failed (log above)."
        fi
        say "kafka: storage formatted in $(since "$t0")s"
    else
        say "kafka: reusing existing data in ${KAFKA_DIR#"$REPO_ROOT"/}/data (cluster id $(sed -n 's/^cluster.id=//p' "$KAFKA_DIR/data/meta.properties"))"
    fi
    # Readiness looks for "Kafka Server started" only in what this run appends to server.log.
    KAFKA_LOG_OFFSET=$(stat -c %s "$KAFKA_DIR/logs/server.log" 2>/dev/null || echo 0)
    printf '%s\n' "$KAFKA_LOG_OFFSET" >"$KAFKA_DIR/server.log.offset"
    say "kafka: starting Apache Kafka $KAFKA_VERSION on $KAFKA_HOST:$KAFKA_PORT (controller :$KAFKA_CONTROLLER_PORT), JVM: $KAFKA_JVM_OPTS"
    printf '\n===== %s start =====\n' "$(date -Is)" >>"$KAFKA_DIR/kafka.out"
    start_bg kafka "$KAFKA_DIR/kafka.out" "$KAFKA_DIR" \
        "$KAFKA_JAVA" "${opts[@]}" -cp "$KAFKA_LIB/*" kafka.Kafka "$KAFKA_DIR/server.properties"
    wait_ready kafka "$STARTED_PID" "$KAFKA_READY_TIMEOUT" kafka_ready_check "$KAFKA_DIR/logs/server.log" "$KAFKA_DIR/kafka.out"
    say "kafka: ready in ${READY_SECS}s (pid $STARTED_PID, RSS $(rss_mb "$STARTED_PID"))"
}

# ---------------------------------------------------------------------------------------------
# ClickHouse.

ch_ready_check() {
    [[ $(curl -s --max-time 2 "http://$CH_HOST:$CH_HTTP_PORT/ping" 2>/dev/null) == "Ok." ]]
}

start_clickhouse() {
    local pid cmd=()
    if pid=$(find_pid clickhouse); then
        say "clickhouse: already running (pid $pid), checking readiness..."
        wait_ready clickhouse "$pid" "$CH_READY_TIMEOUT" ch_ready_check "$CH_DIR/log/clickhouse-server.err.log" "$CH_DIR/clickhouse.out"
        return 0
    fi
    mapfile -t cmd < <(clickhouse_server_cmd) || true
    ((${#cmd[@]})) || die "clickhouse: no clickhouse-server binary found (apt-get install -y clickhouse-server)."
    require_free_port clickhouse "$CH_HOST" "$CH_NATIVE_PORT" "ClickHouse native protocol, CH_NATIVE_PORT"
    require_free_port clickhouse "$CH_HOST" "$CH_HTTP_PORT" "ClickHouse HTTP, CH_HTTP_PORT"
    mkdir -p "$CH_DIR"/{data,tmp,user_files,format_schemas,log}
    render "$SCRIPT_DIR/clickhouse/config.xml" "$CH_DIR/config.xml" \
        CH_DIR="$CH_DIR" CH_HOST="$CH_HOST" CH_NATIVE_PORT="$CH_NATIVE_PORT" CH_HTTP_PORT="$CH_HTTP_PORT"
    cp "$SCRIPT_DIR/clickhouse/users.xml" "$CH_DIR/users.xml"
    say "clickhouse: starting $(printf '%s ' "${cmd[@]}")on $CH_HOST (native :$CH_NATIVE_PORT, HTTP :$CH_HTTP_PORT), data in ${CH_DIR#"$REPO_ROOT"/}/data"
    printf '\n===== %s start =====\n' "$(date -Is)" >>"$CH_DIR/clickhouse.out"
    # The Debian 18.16 server runs fine as root (and as any user owning $CH_DIR): no user switch.
    start_bg clickhouse "$CH_DIR/clickhouse.out" "$CH_DIR" "${cmd[@]}" --config-file="$CH_DIR/config.xml"
    wait_ready clickhouse "$STARTED_PID" "$CH_READY_TIMEOUT" ch_ready_check \
        "$CH_DIR/log/clickhouse-server.err.log" "$CH_DIR/clickhouse.out"
    say "clickhouse: ready in ${READY_SECS}s (pid $STARTED_PID, RSS $(rss_mb "$STARTED_PID"), version $(curl -s --max-time 5 "http://$CH_HOST:$CH_HTTP_PORT/?query=SELECT%20version()" || echo '?'))"
}

# ---------------------------------------------------------------------------------------------
# Schema registry (Apicurio Registry, Confluent-compatible API).

REGISTRY_API() { printf 'http://%s:%s/apis/ccompat/v7' "$REGISTRY_HOST" "$REGISTRY_PORT"; }

# find_registry_java: print a Java 21+ binary (REGISTRY_JAVA if set, else JAVA_HOME, PATH, /usr/lib/jvm/*).
find_registry_java() {
    local c m
    if [[ -n $REGISTRY_JAVA ]]; then
        m=$(java_major "$REGISTRY_JAVA" 2>/dev/null || true)
        [[ -n $m && $m -ge 21 ]] || return 1
        printf '%s' "$REGISTRY_JAVA"
        return 0
    fi
    for c in "${JAVA_HOME:+$JAVA_HOME/bin/java}" "$(command -v java 2>/dev/null || true)" /usr/lib/jvm/*/bin/java; do
        [[ -n $c && -x $c ]] || continue
        m=$(java_major "$c")
        if [[ -n $m && $m -ge 21 ]]; then printf '%s' "$c"; return 0; fi
    done
    return 1
}

ensure_apicurio() {
    local t0 tgz tmp
    if [[ -f $APICURIO_HOME/.complete && -f $APICURIO_HOME/quarkus-run.jar ]]; then
        say "registry: Apicurio Registry $APICURIO_VERSION cached in ${APICURIO_HOME#"$REPO_ROOT"/}"
        return 0
    fi
    command -v mvn >/dev/null 2>&1 || die "registry: mvn not found (needed once to fetch Apicurio)."
    say "registry: fetching io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all (~160 MB, first run only)..."
    t0=$(now)
    mkdir -p "$M2_REPO"
    if ! (cd "$CACHE_DIR" && mvn -q -B -Dstyle.color=never -Dmaven.repo.local="$M2_REPO" "$DEPENDENCY_PLUGIN:get" -Dtransitive=false \
        -Dartifact="io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all") >"$CACHE_DIR/mvn-apicurio.log" 2>&1; then
        show_logs "$CACHE_DIR/mvn-apicurio.log"
        die "registry: mvn dependency:get failed (log above). Is Maven Central reachable?"
    fi
    tgz=$M2_REPO/io/apicurio/apicurio-registry-app/$APICURIO_VERSION/apicurio-registry-app-$APICURIO_VERSION-all.tar.gz
    [[ -f $tgz ]] || die "registry: $tgz missing after mvn."
    rm -rf "$APICURIO_HOME" "$APICURIO_HOME.tmp"
    tmp=$APICURIO_HOME.tmp
    mkdir -p "$tmp"
    tar -xzf "$tgz" -C "$tmp" || die "registry: cannot extract $tgz"
    [[ -f $tmp/quarkus-run.jar ]] || die "registry: quarkus-run.jar not found in $tgz"
    mv "$tmp" "$APICURIO_HOME"
    date -Is >"$APICURIO_HOME/.complete"
    say "registry: fetched and extracted in $(since "$t0")s"
}

registry_ready_check() {
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$(REGISTRY_API)/subjects" 2>/dev/null) == 200 ]]
}

start_registry() {
    local pid java opts=() resp
    if pid=$(find_pid registry); then
        say "registry: already running (pid $pid), checking readiness..."
        wait_ready registry "$pid" "$REGISTRY_READY_TIMEOUT" registry_ready_check "$REG_DIR/registry.out"
        return 0
    fi
    if ! java=$(find_registry_java); then
        if [[ -n $REGISTRY_JAVA ]]; then
            die "registry: REGISTRY_JAVA=$REGISTRY_JAVA is not Java 21+ (it is Java $(java_major "$REGISTRY_JAVA" 2>/dev/null || echo '?')); Apicurio Registry $APICURIO_VERSION needs Java 21+."
        fi
        die "registry: Apicurio Registry $APICURIO_VERSION needs Java 21+ and none was found (checked JAVA_HOME, PATH, /usr/lib/jvm/*). Set REGISTRY_JAVA=/path/to/java21+/bin/java, or run without SWITCHYARD_REGISTRY=1."
    fi
    ensure_apicurio
    require_free_port registry "$REGISTRY_HOST" "$REGISTRY_PORT" "schema registry HTTP, REGISTRY_PORT"
    require_free_port registry "$REGISTRY_HOST" "$REGISTRY_MGMT_PORT" "registry management (health/metrics), REGISTRY_MGMT_PORT"
    mkdir -p "$REG_DIR"
    # shellcheck disable=SC2206
    opts=($REGISTRY_JVM_OPTS)
    say "registry: starting Apicurio Registry $APICURIO_VERSION ($java, Java $(java_major "$java")) on $REGISTRY_HOST:$REGISTRY_PORT, in-memory storage"
    printf '\n===== %s start =====\n' "$(date -Is)" >>"$REG_DIR/registry.out"
    # quarkus.management.*: the management interface (health, metrics) defaults to 0.0.0.0:9000,
    # which is ClickHouse's native port; keep it on loopback next to the registry port.
    start_bg registry "$REG_DIR/registry.out" "$REG_DIR" \
        "$java" "${opts[@]}" -Dswitchyard.registry.dir="$REG_DIR" \
        -Dquarkus.http.host="$REGISTRY_HOST" -Dquarkus.http.port="$REGISTRY_PORT" \
        -Dquarkus.management.host="$REGISTRY_HOST" -Dquarkus.management.port="$REGISTRY_MGMT_PORT" \
        -jar "$APICURIO_HOME/quarkus-run.jar"
    wait_ready registry "$STARTED_PID" "$REGISTRY_READY_TIMEOUT" registry_ready_check "$REG_DIR/registry.out"
    # Apicurio's default compatibility is NONE; Confluent's is BACKWARD.
    resp=$(curl -s --max-time 10 -X PUT -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
        --data "{\"compatibility\":\"$REGISTRY_COMPATIBILITY\"}" "$(REGISTRY_API)/config") ||
        die "registry: cannot set global compatibility: curl failed"
    [[ $resp == *"$REGISTRY_COMPATIBILITY"* ]] || die "registry: cannot set global compatibility: $resp"
    say "registry: ready in ${READY_SECS}s (pid $STARTED_PID, RSS $(rss_mb "$STARTED_PID")), global compatibility $REGISTRY_COMPATIBILITY"
}

# ---------------------------------------------------------------------------------------------
# Commands.

selected() { # selected CMD: the services a command applies to
    if [[ -n ${SERVICES:-} ]]; then
        local s
        for s in ${SERVICES//,/ }; do
            [[ " $ALL_SERVICES " == *" $s "* ]] || die "unknown service '$s' in SERVICES (known: $ALL_SERVICES)"
        done
        printf '%s' "${SERVICES//,/ }"
    elif [[ $1 == up ]]; then
        if [[ $SWITCHYARD_REGISTRY == 1 ]]; then printf 'kafka clickhouse registry'; else printf 'kafka clickhouse'; fi
    else
        printf '%s' "$ALL_SERVICES"
    fi
}
has() { [[ " $1 " == *" $2 "* ]]; }

lock() {
    mkdir -p "$SERVICES_DIR"
    exec 9>"$SERVICES_DIR/.lock"
    if ! flock -n 9; then
        say "another services.sh holds $SERVICES_DIR/.lock; waiting (up to ${LOCK_TIMEOUT}s)..."
        flock -w "$LOCK_TIMEOUT" 9 || die "could not take $SERVICES_DIR/.lock within ${LOCK_TIMEOUT}s"
    fi
}

print_addresses() {
    local svcs=$1 pid
    say "addresses:"
    if has "$svcs" kafka && pid=$(find_pid kafka); then
        say "  Kafka bootstrap      $KAFKA_HOST:$KAFKA_PORT   (PLAINTEXT; controller $KAFKA_HOST:$KAFKA_CONTROLLER_PORT)"
    fi
    if has "$svcs" clickhouse && pid=$(find_pid clickhouse); then
        say "  ClickHouse native    $CH_HOST:$CH_NATIVE_PORT   (user default, no password)"
        say "  ClickHouse HTTP      http://$CH_HOST:$CH_HTTP_PORT"
    fi
    if has "$svcs" registry && pid=$(find_pid registry); then
        say "  Schema registry      $(REGISTRY_API)   (Confluent API; Apicurio UI/API at http://$REGISTRY_HOST:$REGISTRY_PORT)"
    fi
}

cmd_up() {
    local svcs t0 k=0 c=0 r=0
    svcs=$(selected up)
    t0=$(now)
    lock
    say "up: $svcs (SERVICES_DIR=$SERVICES_DIR)"
    has "$svcs" kafka && k=1
    has "$svcs" clickhouse && c=1
    has "$svcs" registry && r=1
    ensure_prereqs "$k" "$c" "$r"
    mkdir -p "$CACHE_DIR"
    if ((k)); then start_kafka; fi
    if ((c)); then start_clickhouse; fi
    if ((r)); then start_registry; fi
    say "up: done in $(since "$t0")s"
    print_addresses "$svcs"
    if ((!r)) && [[ -z ${SERVICES:-} ]]; then
        say "  (schema registry not started; SWITCHYARD_REGISTRY=1 make services starts Apicurio on :$REGISTRY_PORT)"
    fi
}

cmd_down() {
    local svcs s
    svcs=$(selected down)
    lock
    say "down: $svcs (SERVICES_DIR=$SERVICES_DIR)"
    # Reverse dependency order: registry, then Kafka, then ClickHouse.
    for s in registry kafka clickhouse; do
        has "$svcs" "$s" && stop_service "$s"
    done
    say "down: done"
}

cmd_status() {
    local svcs s pid ok=0 state
    svcs=$(selected status)
    say "status (SERVICES_DIR=$SERVICES_DIR):"
    for s in $svcs; do
        if pid=$(find_pid "$s"); then
            case $s in
                kafka)      KAFKA_LOG_OFFSET=$(cat "$KAFKA_DIR/server.log.offset" 2>/dev/null || echo 0)
                            if kafka_port_check; then state=ready; else state="NOT READY"; ok=1; fi
                            say "  kafka       running  pid $pid  RSS $(rss_mb "$pid")  $state  $KAFKA_HOST:$KAFKA_PORT  log ${KAFKA_DIR#"$REPO_ROOT"/}/logs/server.log" ;;
                clickhouse) if ch_ready_check; then state=ready; else state="NOT READY"; ok=1; fi
                            say "  clickhouse  running  pid $pid  RSS $(rss_mb "$pid")  $state  native $CH_HOST:$CH_NATIVE_PORT  http :$CH_HTTP_PORT  log ${CH_DIR#"$REPO_ROOT"/}/log/" ;;
                registry)   if registry_ready_check; then state=ready; else state="NOT READY"; ok=1; fi
                            say "  registry    running  pid $pid  RSS $(rss_mb "$pid")  $state  $(REGISTRY_API)  log ${REG_DIR#"$REPO_ROOT"/}/registry.out" ;;
            esac
        else
            if [[ $s == registry && -z ${SERVICES:-} ]]; then
                say "  registry    stopped  (optional: SWITCHYARD_REGISTRY=1)"
            else
                say "  $(printf '%-10s' "$s")  stopped"
                ok=1
            fi
        fi
    done
    return "$ok"
}

cmd_clean() {
    local svcs s
    svcs=$(selected clean)
    cmd_down
    for s in $svcs; do
        case $s in
            kafka)      say "clean: removing $KAFKA_DIR"; rm -rf "$KAFKA_DIR" ;;
            clickhouse) say "clean: removing $CH_DIR"; rm -rf "$CH_DIR" ;;
            registry)   say "clean: removing $REG_DIR"; rm -rf "$REG_DIR" ;;
        esac
    done
    say "clean: done (downloads in $CACHE_DIR kept)"
}

cmd_env() {
    local pid
    if pid=$(find_pid kafka); then echo "export SWITCHYARD_KAFKA_BROKERS=$KAFKA_HOST:$KAFKA_PORT"; fi
    if pid=$(find_pid clickhouse); then
        echo "export SWITCHYARD_CLICKHOUSE_ADDR=$CH_HOST:$CH_NATIVE_PORT"
        echo "export SWITCHYARD_CLICKHOUSE_HTTP_URL=http://$CH_HOST:$CH_HTTP_PORT"
    fi
    if pid=$(find_pid registry); then echo "export SWITCHYARD_SCHEMA_REGISTRY_URL=$(REGISTRY_API)"; fi
}

usage() {
    sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

main() {
    case ${1:-} in
        up | start)     cmd_up ;;
        down | stop)    cmd_down ;;
        status)         cmd_status ;;
        clean)          cmd_clean ;;
        env)            cmd_env ;;
        -h | --help | help) usage ;;
        *)              usage >&2; exit 2 ;;
    esac
}

main "$@"
