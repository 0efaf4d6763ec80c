#!/usr/bin/env bash
# Fetch, start, check and stop a real Apache Kafka (KRaft, one combined
# broker+controller) and a real OpenSearch node on 127.0.0.1, without Docker.
#
#   services.sh fetch        download (Maven Central, via mvn) and unpack into the cache
#   services.sh up           fetch if needed, start both from clean data, wait until healthy
#   services.sh down         stop both (safe when nothing runs)
#   services.sh status       show what runs; exit 0 only if both are up and healthy
#   services.sh kafka-stop   stop Kafka only, keeping its data
#   services.sh kafka-start  start Kafka only, on the data it has (no wipe)
#   services.sh kafka-kill   SIGKILL the broker (a crash: no clean shutdown)
#   services.sh opensearch-stop   stop OpenSearch only, keeping its data
#   services.sh opensearch-start  start OpenSearch only, on the data it has (no wipe)
#   services.sh cache-dir    print the cache folder (distributions and run dir)
#
# See deploy/local/README.md for ports, environment overrides and the cache layout.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"

KAFKA_VERSION="${SOC_KAFKA_VERSION:-4.4.0}"
OPENSEARCH_VERSION="${SOC_OPENSEARCH_VERSION:-2.19.6}"
KAFKA_GAV="org.apache.kafka:kafka_2.13:$KAFKA_VERSION"
OPENSEARCH_GAV="org.opensearch.distribution.integ-test-zip:opensearch:$OPENSEARCH_VERSION:zip"

KAFKA_PORT="${SOC_LOCAL_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${SOC_LOCAL_KAFKA_CONTROLLER_PORT:-19093}"
OPENSEARCH_PORT="${SOC_LOCAL_OPENSEARCH_PORT:-19200}"
OPENSEARCH_TRANSPORT_PORT="${SOC_LOCAL_OPENSEARCH_TRANSPORT_PORT:-19300}"
KAFKA_HEAP="${SOC_LOCAL_KAFKA_HEAP:-512m}"
OPENSEARCH_HEAP="${SOC_LOCAL_OPENSEARCH_HEAP:-512m}"
START_TIMEOUT="${SOC_LOCAL_START_TIMEOUT:-120}" # seconds, per service
STOP_TIMEOUT="${SOC_LOCAL_STOP_TIMEOUT:-30}"    # seconds before SIGKILL
# OpenSearch refuses to run as root; as root we run it as this system user.
OPENSEARCH_USER="${SOC_LOCAL_OPENSEARCH_USER:-socsvc}"

# Every folder from / down to $1 lets others through (o+x)? OpenSearch runs as
# another user when we are root, and must reach its install and run dir.
traversable_by_others() {
  local d="$1" mode
  while :; do
    mode="$(stat -c %a "$d")" || return 1
    (((8#$mode & 1) == 1)) || return 1
    [[ "$d" == / ]] && return 0
    d="$(dirname "$d")"
  done
}

# The cache: $SOC_LOCAL_CACHE, else .cache/local-services in the repository. As
# root, when a parent of the repository is private (a clone under /root or in a
# `mktemp -d` folder, mode 0700), OpenSearch's user could not reach that, so the
# cache goes to /var/tmp/soc-local-services-<hash of the repository's path>
# instead: one per clone, so two clones never share a run dir or a pid file.
default_cache() {
  if [[ "$(id -u)" -ne 0 ]] || traversable_by_others "$REPO_ROOT"; then
    printf '%s\n' "$REPO_ROOT/.cache/local-services"
    return
  fi
  local hash
  hash="$(printf '%s' "$REPO_ROOT" | sha256sum | cut -c1-12)"
  printf '%s\n' "/var/tmp/soc-local-services-$hash"
}
CACHE="${SOC_LOCAL_CACHE:-$(default_cache)}"
# The unpacked distributions: $SOC_LOCAL_DIST, else the cache. A second set of services
# (other ports, another SOC_LOCAL_CACHE) may reuse the first set's distributions.
DIST="${SOC_LOCAL_DIST:-$CACHE}"
KAFKA_HOME="$DIST/kafka-$KAFKA_VERSION"
OPENSEARCH_HOME="$DIST/opensearch-$OPENSEARCH_VERSION"
RUN="$CACHE/run"
KAFKA_RUN="$RUN/kafka"
OPENSEARCH_RUN="$RUN/opensearch"
KAFKA_PID="$KAFKA_RUN/kafka.pid"
OPENSEARCH_PID="$OPENSEARCH_RUN/opensearch.pid"
# A fixed KRaft cluster id (base64url of the 16 bytes "soc-local-kafka1"), so
# no extra JVM is needed to make a random one.
KAFKA_CLUSTER_ID="c29jLWxvY2FsLWthZmthMQ"

log() { printf '[services] %s\n' "$*" >&2; }
die() {
  printf '[services] ERROR: %s\n' "$*" >&2
  exit 1
}

# Print the last lines of each existing log file given, for diagnosing CI failures.
show_logs() {
  local f
  for f in "$@"; do
    [[ -s "$f" ]] || continue
    printf '[services] ----- last 60 lines of %s -----\n' "$f" >&2
    tail -n 60 "$f" >&2
    printf '[services] ----- end of %s -----\n' "$f" >&2
  done
}
kafka_logs() { show_logs "$KAFKA_RUN/logs/stdout.log" "$KAFKA_RUN/logs/server.log"; }
opensearch_logs() { show_logs "$OPENSEARCH_RUN/logs/stdout.log" "$OPENSEARCH_RUN/logs/soc-local.log"; }

# ---------------------------------------------------------------- java

find_java_home() {
  local home="${SOC_JAVA_HOME:-${JAVA_HOME:-}}"
  if [[ -z "$home" ]]; then
    local java
    java="$(command -v java)" || die "no java on PATH and JAVA_HOME unset; Java 17+ is needed"
    home="$(dirname "$(dirname "$(readlink -f "$java")")")"
  fi
  [[ -x "$home/bin/java" ]] || die "no $home/bin/java (set JAVA_HOME to a Java 17+ home)"
  local major
  major="$("$home/bin/java" -version 2>&1 | sed -nE '1s/.*version "([0-9]+).*/\1/p')"
  [[ "${major:-0}" -ge 17 ]] || die "$home/bin/java is Java ${major:-?}; Kafka 4 and OpenSearch 2.19 need Java 17+"
  JAVA_HOME_RESOLVED="$home"
  JAVA="$home/bin/java"
}

# ---------------------------------------------------------------- fetch

# Run mvn on deploy/local/pom.xml, its output kept in a log; ~/.m2 is the download cache.
# SOC_MVN_ARGS adds arguments (e.g. "-o" or "-s my-settings.xml").
run_mvn() {
  local logfile="$1"
  shift
  command -v mvn >/dev/null || die "mvn not found; Maven is needed to fetch from Maven Central"
  local -a extra=()
  read -r -a extra <<<"${SOC_MVN_ARGS:-}"
  mvn -B -f "$HERE/pom.xml" "${extra[@]}" "$@" >"$logfile" 2>&1
}

mvn_failed() {
  local gav="$1" logfile="$2"
  grep -m 1 -E '^\[ERROR\]' "$logfile" >&2 || true
  die "could not resolve $gav from Maven Central (full mvn output: $logfile)"
}

fetch_kafka() {
  [[ -f "$KAFKA_HOME/.complete" ]] && return 0
  log "fetching $KAFKA_GAV (+ kafka-tools, runtime dependencies) with mvn"
  rm -rf "$KAFKA_HOME"
  local tmp
  tmp="$(mktemp -d "$DIST/.fetch-kafka.XXXXXX")"
  run_mvn "$DIST/fetch-kafka.log" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp/lib" ||
    { rm -rf "$tmp"; mvn_failed "$KAFKA_GAV" "$DIST/fetch-kafka.log"; }
  [[ -f "$tmp/lib/kafka_2.13-$KAFKA_VERSION.jar" ]] ||
    { rm -rf "$tmp"; die "mvn ran but $tmp/lib has no kafka_2.13-$KAFKA_VERSION.jar"; }
  touch "$tmp/.complete"
  chmod -R a+rX "$tmp"
  mv -T "$tmp" "$KAFKA_HOME" # atomic: a half-done fetch is never mistaken for a cache
}

fetch_opensearch() {
  [[ -f "$OPENSEARCH_HOME/.complete" ]] && return 0
  command -v unzip >/dev/null || die "unzip not found (apt-get install unzip)"
  log "fetching $OPENSEARCH_GAV with mvn"
  rm -rf "$OPENSEARCH_HOME"
  local tmp
  tmp="$(mktemp -d "$DIST/.fetch-opensearch.XXXXXX")"
  run_mvn "$DIST/fetch-opensearch.log" \
    dependency:copy -Dartifact="$OPENSEARCH_GAV" -DoutputDirectory="$tmp" ||
    { rm -rf "$tmp"; mvn_failed "$OPENSEARCH_GAV" "$DIST/fetch-opensearch.log"; }
  # unzip, not dependency:unpack, because unzip keeps bin/*'s execute bits.
  unzip -q "$tmp/opensearch-$OPENSEARCH_VERSION.zip" -d "$tmp" ||
    { rm -rf "$tmp"; die "cannot unzip $OPENSEARCH_GAV"; }
  local dir="$tmp/opensearch-$OPENSEARCH_VERSION"
  [[ -x "$dir/bin/opensearch" ]] || { rm -rf "$tmp"; die "$OPENSEARCH_GAV has no bin/opensearch"; }
  touch "$dir/.complete"
  chmod -R a+rX "$dir" # OpenSearch may run as another user ($OPENSEARCH_USER)
  mv -T "$dir" "$OPENSEARCH_HOME"
  rm -rf "$tmp"
}

cmd_fetch() {
  mkdir -p "$CACHE" "$DIST"
  chmod 755 "$CACHE"
  fetch_kafka
  fetch_opensearch
  log "kafka $KAFKA_VERSION in $KAFKA_HOME"
  log "opensearch $OPENSEARCH_VERSION in $OPENSEARCH_HOME"
}

# ---------------------------------------------------------------- processes

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The pid in pid file $1 if that process is alive and its command line
# contains $2 (our run dir), so a recycled pid is never taken for ours.
live_pid() {
  local pidfile="$1" marker="$2" pid
  [[ -s "$pidfile" ]] || return 1
  pid="$(<"$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  [[ "$(ps -ww -o args= -p "$pid" 2>/dev/null)" == *"$marker"* ]] || return 1
  printf '%s\n' "$pid"
}

# Stop the process of pid file $2 (name $1, marker $3): SIGTERM, wait, SIGKILL.
stop_pid() {
  local name="$1" pidfile="$2" marker="$3" pid i
  if ! pid="$(live_pid "$pidfile" "$marker")"; then
    rm -f "$pidfile"
    log "$name: not running"
    return 0
  fi
  log "$name: stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < STOP_TIMEOUT * 5; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name: still alive after ${STOP_TIMEOUT}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
  fi
  kill -0 "$pid" 2>/dev/null && die "$name: pid $pid survived SIGKILL"
  rm -f "$pidfile"
  log "$name: stopped"
}

# Start "$@" detached in its own session, its pid in pid file $1 and its
# stdout+stderr in file $2. The pid is written by the shell that then execs
# the command, so it is the service's own pid (never a wrapper's).
spawn() {
  local pidfile="$1" out="$2"
  shift 2
  # "9>&-": the service must not inherit the lock (see lock()), or it would hold it for life.
  # shellcheck disable=SC2016 # $$ and $@ are for the inner shell
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" </dev/null >>"$out" 2>&1 9>&- &
  # Wait for the pid file so callers can poll it right away.
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -s "$pidfile" ]] && return 0
    sleep 0.1
  done
  die "could not start: $*"
}

# ---------------------------------------------------------------- kafka

kafka_cp() { printf '%s/lib/*' "$KAFKA_HOME"; }

kafka_write_config() {
  mkdir -p "$KAFKA_RUN/config" "$KAFKA_RUN/data" "$KAFKA_RUN/logs"
  cat >"$KAFKA_RUN/config/server.properties" <<EOF
# Written by deploy/local/services.sh; rewritten at every start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_RUN/data
auto.create.topics.enable=true
num.partitions=3
default.replication.factor=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
  # Broker log4j2 config: everything into logs/server.log.
  cat >"$KAFKA_RUN/config/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = $KAFKA_RUN/logs/server.log
appender.file.append = true
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
EOF
  # For the command-line tools (format, health check): warnings to stderr only.
  cat >"$KAFKA_RUN/config/tools-log4j2.properties" <<'EOF'
status = warn
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
EOF
}

# Run a Kafka command-line class (e.g. org.apache.kafka.tools.TopicCommand).
kafka_tool() {
  "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dlog4j2.configurationFile="$KAFKA_RUN/config/tools-log4j2.properties" \
    -cp "$(kafka_cp)" "$@"
}

# A real metadata round trip, not just an open port.
kafka_healthy() {
  port_open "$KAFKA_PORT" || return 1
  timeout 30 "$JAVA" -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dlog4j2.configurationFile="$KAFKA_RUN/config/tools-log4j2.properties" \
    -cp "$(kafka_cp)" org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "127.0.0.1:$KAFKA_PORT" --list >/dev/null 2>&1
}

kafka_banner() { printf 'kafka: %s (KRaft) on 127.0.0.1:%s\n' "$KAFKA_VERSION" "$KAFKA_PORT"; }

# Start Kafka; $1 = "clean" wipes its data and logs first.
kafka_start() {
  local mode="${1:-keep}" pid
  if pid="$(live_pid "$KAFKA_PID" "$KAFKA_RUN")"; then
    if kafka_healthy; then
      log "kafka: already running (pid $pid) and healthy"
      kafka_banner
      return 0
    fi
    log "kafka: pid $pid is alive but not healthy; restarting it"
    stop_pid kafka "$KAFKA_PID" "$KAFKA_RUN"
  fi
  local port
  for port in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
    port_open "$port" && die "kafka: port 127.0.0.1:$port is taken by another process"
  done
  if [[ "$mode" == clean ]]; then
    rm -rf "$KAFKA_RUN"
  fi
  kafka_write_config
  # KRaft needs a formatted log dir (meta.properties); format only if it is not.
  if [[ ! -f "$KAFKA_RUN/data/meta.properties" ]]; then
    kafka_tool kafka.tools.StorageTool format --cluster-id "$KAFKA_CLUSTER_ID" \
      --config "$KAFKA_RUN/config/server.properties" --ignore-formatted \
      >>"$KAFKA_RUN/logs/stdout.log" 2>&1 ||
      { kafka_logs; die "kafka: storage format failed"; }
  fi
  log "kafka: starting on 127.0.0.1:$KAFKA_PORT (controller $KAFKA_CONTROLLER_PORT)"
  spawn "$KAFKA_PID" "$KAFKA_RUN/logs/stdout.log" \
    "$JAVA" "-Xms${KAFKA_HEAP}" "-Xmx${KAFKA_HEAP}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Djava.awt.headless=true -Dkafka.logs.dir="$KAFKA_RUN/logs" \
    -Dlog4j2.configurationFile="$KAFKA_RUN/config/log4j2.properties" \
    -cp "$(kafka_cp)" kafka.Kafka "$KAFKA_RUN/config/server.properties"
  local deadline=$((SECONDS + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! live_pid "$KAFKA_PID" "$KAFKA_RUN" >/dev/null; then
      kafka_logs
      die "kafka: exited during start-up"
    fi
    if kafka_healthy; then
      log "kafka: healthy (pid $(<"$KAFKA_PID"))"
      kafka_banner
      return 0
    fi
    sleep 1
  done
  kafka_logs
  die "kafka: not healthy after ${START_TIMEOUT}s"
}

# ---------------------------------------------------------------- opensearch

# As root: make sure the unprivileged user exists and can reach the install.
opensearch_user_setup() {
  [[ "$(id -u)" -eq 0 ]] || return 0
  if ! id -u "$OPENSEARCH_USER" >/dev/null 2>&1; then
    log "creating system user $OPENSEARCH_USER (OpenSearch refuses to run as root)"
    # Exit code 9 = it appeared meanwhile (a parallel run): fine.
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin "$OPENSEARCH_USER" || [[ $? -eq 9 ]]
  fi
}

# Run "$@" as the OpenSearch user (setpriv execs in place, unlike runuser/su
# which fork: so the pid we record is OpenSearch's own).
as_opensearch_user() { "${RUN_AS[@]}" "$@"; }

opensearch_write_config() {
  local conf="$OPENSEARCH_RUN/config"
  mkdir -p "$conf/jvm.options.d" "$OPENSEARCH_RUN/data" "$OPENSEARCH_RUN/logs" "$OPENSEARCH_RUN/tmp"
  cp "$OPENSEARCH_HOME/config/log4j2.properties" "$conf/"
  # bin/opensearch cd's into the install, so the stock relative paths (logs/gc.log,
  # HeapDumpPath=data) would point into the read-only install: send them to the run dir.
  # The heap comes from jvm.options.d instead of the stock -Xms1g/-Xmx1g.
  sed -E \
    -e '/^-Xm[sx]/d' \
    -e "s#-XX:HeapDumpPath=data#-XX:HeapDumpPath=$OPENSEARCH_RUN/logs#" \
    -e "s#(file=|-Xloggc:|-XX:ErrorFile=)logs/#\\1$OPENSEARCH_RUN/logs/#" \
    "$OPENSEARCH_HOME/config/jvm.options" >"$conf/jvm.options"
  printf -- '-Xms%s\n-Xmx%s\n' "$OPENSEARCH_HEAP" "$OPENSEARCH_HEAP" >"$conf/jvm.options.d/heap.options"
  # path.data and path.logs are given as -E arguments (see opensearch_start).
  cat >"$conf/opensearch.yml" <<EOF
# Written by deploy/local/services.sh; rewritten at every start.
cluster.name: soc-local
node.name: soc-local-1
network.host: 127.0.0.1
http.port: $OPENSEARCH_PORT
transport.port: $OPENSEARCH_TRANSPORT_PORT
discovery.type: single-node
bootstrap.system_call_filter: false
cluster.routing.allocation.disk.threshold_enabled: false
EOF
  if [[ "$(id -u)" -eq 0 ]]; then
    chown -R "$OPENSEARCH_USER:$OPENSEARCH_USER" "$OPENSEARCH_RUN"
  fi
}

# Fail early (before anything starts), with a clear message, if the OpenSearch
# user cannot reach the install, e.g. a repo under /root (mode 700).
opensearch_preflight() {
  opensearch_user_setup
  as_opensearch_user test -x "$OPENSEARCH_HOME/bin/opensearch" ||
    die "user $RUN_AS_NAME cannot reach $OPENSEARCH_HOME (a parent dir lacks o+x); SOC_LOCAL_CACHE=$SOC_LOCAL_CACHE must be a dir it can traverse (unset, a reachable one is chosen)"
}

opensearch_healthy() {
  local body
  body="$(curl -fsS --max-time 10 \
    "http://127.0.0.1:$OPENSEARCH_PORT/_cluster/health?wait_for_status=yellow&timeout=5s" 2>/dev/null)" ||
    return 1
  [[ "$body" == *'"timed_out":false'* && "$body" != *'"status":"red"'* ]]
}

opensearch_banner() {
  local version
  version="$(curl -fsS --max-time 10 "http://127.0.0.1:$OPENSEARCH_PORT/" |
    sed -nE 's/.*"number" *: *"([^"]+)".*/\1/p' | head -n 1)" || true
  printf 'opensearch: %s on http://127.0.0.1:%s\n' "${version:-unknown}" "$OPENSEARCH_PORT"
}

# Start OpenSearch; $1 = "keep" starts on the data it has, else from clean data.
opensearch_start() {
  local mode="${1:-clean}" pid
  if pid="$(live_pid "$OPENSEARCH_PID" "$OPENSEARCH_RUN")"; then
    if opensearch_healthy; then
      log "opensearch: already running (pid $pid) and healthy"
      opensearch_banner
      return 0
    fi
    log "opensearch: pid $pid is alive but not healthy; restarting it"
    stop_pid opensearch "$OPENSEARCH_PID" "$OPENSEARCH_RUN"
  fi
  local port
  for port in "$OPENSEARCH_PORT" "$OPENSEARCH_TRANSPORT_PORT"; do
    port_open "$port" && die "opensearch: port 127.0.0.1:$port is taken by another process"
  done
  opensearch_preflight
  if [[ "$mode" != keep ]]; then
    rm -rf "$OPENSEARCH_RUN"
  fi
  opensearch_write_config
  as_opensearch_user test -w "$OPENSEARCH_RUN/data" || die "opensearch: cannot write $OPENSEARCH_RUN/data"
  log "opensearch: starting on http://127.0.0.1:$OPENSEARCH_PORT (transport $OPENSEARCH_TRANSPORT_PORT)"
  # The -E paths also put the run dir on the command line, which live_pid checks.
  spawn "$OPENSEARCH_PID" "$OPENSEARCH_RUN/logs/stdout.log" \
    env OPENSEARCH_JAVA_HOME="$JAVA_HOME_RESOLVED" JAVA_HOME="$JAVA_HOME_RESOLVED" \
    OPENSEARCH_PATH_CONF="$OPENSEARCH_RUN/config" OPENSEARCH_TMPDIR="$OPENSEARCH_RUN/tmp" \
    HOME="$OPENSEARCH_RUN" \
    "${RUN_AS[@]}" "$OPENSEARCH_HOME/bin/opensearch" \
    -Epath.data="$OPENSEARCH_RUN/data" -Epath.logs="$OPENSEARCH_RUN/logs"
  local deadline=$((SECONDS + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! live_pid "$OPENSEARCH_PID" "$OPENSEARCH_RUN" >/dev/null; then
      opensearch_logs
      die "opensearch: exited during start-up"
    fi
    if opensearch_healthy; then
      log "opensearch: healthy (pid $(<"$OPENSEARCH_PID"))"
      opensearch_banner
      return 0
    fi
    sleep 1
  done
  opensearch_logs
  die "opensearch: not healthy after ${START_TIMEOUT}s"
}

# ---------------------------------------------------------------- commands

# Serialise commands that start or stop things (a second `up` waits for the first).
lock() {
  mkdir -p "$CACHE"
  chmod 755 "$CACHE"
  exec 9>"$CACHE/.lock"
  flock -w 600 9 || die "another services.sh holds $CACHE/.lock"
}

prepare_run_dir() {
  mkdir -p "$RUN"
  chmod 755 "$RUN"
}

# EXIT trap of a start: if it failed, stop the services named ("kafka",
# "opensearch"), so that CI is not left with half a set (logs stay under run/).
stop_on_failure() {
  local rc=$? name
  ((rc == 0)) && return 0
  log "start failed; stopping $* (logs are kept under $RUN)"
  for name in "$@"; do
    case "$name" in
    kafka) stop_pid kafka "$KAFKA_PID" "$KAFKA_RUN" || true ;;
    opensearch) stop_pid opensearch "$OPENSEARCH_PID" "$OPENSEARCH_RUN" || true ;;
    esac
  done
  exit "$rc"
}

cmd_up() {
  lock
  cmd_fetch
  find_java_home
  prepare_run_dir
  opensearch_preflight
  trap 'stop_on_failure opensearch kafka' EXIT
  kafka_start clean
  opensearch_start
  trap - EXIT
}

cmd_down() {
  lock
  stop_pid opensearch "$OPENSEARCH_PID" "$OPENSEARCH_RUN"
  stop_pid kafka "$KAFKA_PID" "$KAFKA_RUN"
}

cmd_kafka_stop() {
  lock
  stop_pid kafka "$KAFKA_PID" "$KAFKA_RUN"
}

cmd_kafka_start() {
  lock
  fetch_kafka
  find_java_home
  prepare_run_dir
  trap 'stop_on_failure kafka' EXIT
  kafka_start keep
  trap - EXIT
}

# SIGKILL the broker: a crash, with no clean shutdown (its data stays).
cmd_kafka_kill() {
  lock
  local pid
  if ! pid="$(live_pid "$KAFKA_PID" "$KAFKA_RUN")"; then
    log "kafka: not running"
    return 0
  fi
  log "kafka: killing pid $pid (SIGKILL)"
  kill -KILL "$pid" 2>/dev/null || true
  local i
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  kill -0 "$pid" 2>/dev/null && die "kafka: pid $pid survived SIGKILL"
  rm -f "$KAFKA_PID"
}

cmd_opensearch_stop() {
  lock
  stop_pid opensearch "$OPENSEARCH_PID" "$OPENSEARCH_RUN"
}

cmd_opensearch_start() {
  lock
  fetch_opensearch
  find_java_home
  prepare_run_dir
  trap 'stop_on_failure opensearch' EXIT
  opensearch_start keep
  trap - EXIT
}

cmd_status() {
  local rc=0 pid
  if [[ -f "$KAFKA_HOME/.complete" ]] && find_java_home && pid="$(live_pid "$KAFKA_PID" "$KAFKA_RUN")"; then
    if kafka_healthy; then
      printf '%s, pid %s, healthy\n' "$(kafka_banner)" "$pid"
    else
      printf 'kafka: pid %s running but NOT healthy on 127.0.0.1:%s\n' "$pid" "$KAFKA_PORT"
      rc=1
    fi
  else
    printf 'kafka: stopped\n'
    rc=1
  fi
  if pid="$(live_pid "$OPENSEARCH_PID" "$OPENSEARCH_RUN")"; then
    if opensearch_healthy; then
      printf '%s, pid %s, healthy\n' "$(opensearch_banner)" "$pid"
    else
      printf 'opensearch: pid %s running but NOT healthy on http://127.0.0.1:%s\n' "$pid" "$OPENSEARCH_PORT"
      rc=1
    fi
  else
    printf 'opensearch: stopped\n'
    rc=1
  fi
  return "$rc"
}

usage() {
  sed -nE '2,16s/^# ?//p' "${BASH_SOURCE[0]}"
}

# Command prefix that runs OpenSearch: the unprivileged user when root, else nothing.
RUN_AS=()
RUN_AS_NAME="$(id -un)"
if [[ "$(id -u)" -eq 0 ]]; then
  RUN_AS=(setpriv --reuid="$OPENSEARCH_USER" --regid="$OPENSEARCH_USER" --init-groups --)
  RUN_AS_NAME="$OPENSEARCH_USER"
fi

case "${1:-}" in
fetch) lock && cmd_fetch ;;
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
kafka-stop) cmd_kafka_stop ;;
kafka-start) cmd_kafka_start ;;
kafka-kill) cmd_kafka_kill ;;
opensearch-stop) cmd_opensearch_stop ;;
opensearch-start) cmd_opensearch_start ;;
cache-dir) printf '%s\n' "$CACHE" ;;
-h | --help | help) usage ;;
*)
  usage >&2
  exit 2
  ;;
esac
