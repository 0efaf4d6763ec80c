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
#
# --secure (or SOC_LOCAL_SECURE=1) with fetch/up: Kafka on a SASL_SSL listener
# (SCRAM-SHA-512) and OpenSearch with its security plugin (TLS + basic auth),
# with a throwaway CA, certificates and passwords made at `up` under run/secure/
# (run/secure/soc.env holds the SOC_* settings that reach them).
#
# See deploy/local/README.md for ports, environment overrides and the cache layout.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"

COMMAND="${1:-}"
SECURE="${SOC_LOCAL_SECURE:-0}"
[[ "$SECURE" == 1 ]] || SECURE=0
for arg in "${@:2}"; do
  case "$arg" in
  --secure) SECURE=1 ;;
  *)
    printf '[services] ERROR: unknown option %s\n' "$arg" >&2
    exit 2
    ;;
  esac
done

KAFKA_VERSION="${SOC_KAFKA_VERSION:-4.4.0}"
# The security plugin is on Maven Central only up to 2.19.4.0 in the 2.19 line, and a
# plugin installs only into the OpenSearch of its own version: secure mode runs 2.19.4.
OPENSEARCH_PLAIN_VERSION="${SOC_OPENSEARCH_VERSION:-2.19.6}"
OPENSEARCH_SECURE_VERSION="${SOC_OPENSEARCH_SECURE_VERSION:-2.19.4}"
KAFKA_GAV="org.apache.kafka:kafka_2.13:$KAFKA_VERSION"

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
RUN="$CACHE/run"
SECURE_DIR="$RUN/secure"
# status, down and kafka-start follow the mode the last `up` chose.
if [[ "$COMMAND" != up && "$COMMAND" != fetch && -f "$SECURE_DIR/.enabled" ]]; then
  SECURE=1
fi
KAFKA_HOME="$CACHE/kafka-$KAFKA_VERSION"
if ((SECURE)); then
  OPENSEARCH_VERSION="$OPENSEARCH_SECURE_VERSION"
  SECURITY_PLUGIN_VERSION="${SOC_OPENSEARCH_SECURITY_VERSION:-$OPENSEARCH_VERSION.0}"
  SECURITY_PLUGIN_GAV="org.opensearch.plugin:opensearch-security:$SECURITY_PLUGIN_VERSION:zip"
  OPENSEARCH_HOME="$CACHE/opensearch-$OPENSEARCH_VERSION-security"
else
  OPENSEARCH_VERSION="$OPENSEARCH_PLAIN_VERSION"
  OPENSEARCH_HOME="$CACHE/opensearch-$OPENSEARCH_VERSION"
fi
OPENSEARCH_GAV="org.opensearch.distribution.integ-test-zip:opensearch:$OPENSEARCH_VERSION:zip"
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
  tmp="$(mktemp -d "$CACHE/.fetch-kafka.XXXXXX")"
  run_mvn "$CACHE/fetch-kafka.log" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp/lib" ||
    { rm -rf "$tmp"; mvn_failed "$KAFKA_GAV" "$CACHE/fetch-kafka.log"; }
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
  tmp="$(mktemp -d "$CACHE/.fetch-opensearch.XXXXXX")"
  run_mvn "$CACHE/fetch-opensearch.log" \
    dependency:copy -Dartifact="$OPENSEARCH_GAV" -DoutputDirectory="$tmp" ||
    { rm -rf "$tmp"; mvn_failed "$OPENSEARCH_GAV" "$CACHE/fetch-opensearch.log"; }
  # unzip, not dependency:unpack, because unzip keeps bin/*'s execute bits.
  unzip -q "$tmp/opensearch-$OPENSEARCH_VERSION.zip" -d "$tmp" ||
    { rm -rf "$tmp"; die "cannot unzip $OPENSEARCH_GAV"; }
  local dir="$tmp/opensearch-$OPENSEARCH_VERSION"
  [[ -x "$dir/bin/opensearch" ]] || { rm -rf "$tmp"; die "$OPENSEARCH_GAV has no bin/opensearch"; }
  if ((SECURE)); then
    install_security_plugin "$tmp" "$dir" || { rm -rf "$tmp"; die "cannot install $SECURITY_PLUGIN_GAV"; }
  fi
  touch "$dir/.complete"
  chmod -R a+rX "$dir" # OpenSearch may run as another user ($OPENSEARCH_USER)
  mv -T "$dir" "$OPENSEARCH_HOME"
  rm -rf "$tmp"
}

# Secure mode: fetch the security plugin's zip ($1 = scratch dir) and install it into the
# unpacked distribution $2 (with its own config dir, whose opensearch-security/*.yml
# defaults the run config starts from; their demo users are never used).
install_security_plugin() {
  local tmp="$1" dir="$2"
  log "fetching $SECURITY_PLUGIN_GAV with mvn"
  run_mvn "$CACHE/fetch-opensearch-security.log" \
    dependency:copy -Dartifact="$SECURITY_PLUGIN_GAV" -DoutputDirectory="$tmp" ||
    mvn_failed "$SECURITY_PLUGIN_GAV" "$CACHE/fetch-opensearch-security.log"
  find_java_home
  OPENSEARCH_JAVA_HOME="$JAVA_HOME_RESOLVED" OPENSEARCH_PATH_CONF="$dir/config" \
    "$dir/bin/opensearch-plugin" install --batch \
    "file://$tmp/opensearch-security-$SECURITY_PLUGIN_VERSION.zip" \
    >"$CACHE/install-opensearch-security.log" 2>&1 ||
    { tail -n 20 "$CACHE/install-opensearch-security.log" >&2; return 1; }
  [[ -f "$dir/config/opensearch-security/config.yml" ]]
}

cmd_fetch() {
  mkdir -p "$CACHE"
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

# ---------------------------------------------------------------- secure mode

# A throwaway CA, one certificate for both services (127.0.0.1 and localhost), an
# OpenSearch admin certificate, and random passwords, in $SECURE_DIR (0700, ours only).
secure_generate() {
  command -v openssl >/dev/null || die "openssl not found; secure mode needs it for certificates"
  rm -rf "$SECURE_DIR"
  mkdir -p "$SECURE_DIR"
  chmod 700 "$SECURE_DIR"
  local d="$SECURE_DIR" days=30
  (
    set -e
    cd "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$days" \
      -subj "/O=soc-local/CN=soc-local-ca" -keyout ca.key -out ca.crt \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    local name cn
    for name in node admin; do
      cn="soc-local-$name"
      openssl req -newkey rsa:2048 -nodes -sha256 -subj "/O=soc-local/CN=$cn" \
        -keyout "$name.key" -out "$name.csr"
      if [[ "$name" == node ]]; then
        printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
          "extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost" >"$name.ext"
      else
        printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
          "extendedKeyUsage=clientAuth" >"$name.ext"
      fi
      openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 \
        -days "$days" -extfile "$name.ext" -out "$name.crt"
      rm -f "$name.csr" "$name.ext"
    done
    # Kafka's PEM key store: the private key (PKCS#8), then the certificate.
    cat node.key node.crt >kafka-keystore.pem
    local user
    for user in kafka-broker kafka-soc opensearch-soc; do
      openssl rand -hex 24 >"$user.password"
    done
  ) >"$d/openssl.log" 2>&1 || { cat "$d/openssl.log" >&2; die "secure: certificate generation failed"; }
  chmod 600 "$d"/*
  # The client side: settings for the SOC (read by `soc` through its environment) and
  # for Kafka's command-line tools. Passwords are files, never on a command line.
  cat >"$d/soc.env" <<EOF
# Written by deploy/local/services.sh up --secure: the SOC's settings for these services.
SOC_BUS__KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:$KAFKA_PORT
SOC_BUS__KAFKA__SECURITY_PROTOCOL=SASL_SSL
SOC_BUS__KAFKA__SASL_MECHANISM=SCRAM-SHA-512
SOC_BUS__KAFKA__SASL_USERNAME=soc
SOC_BUS__KAFKA__SASL_PASSWORD_FILE=$d/kafka-soc.password
SOC_BUS__KAFKA__SSL_CAFILE=$d/ca.crt
SOC_STORE__OPENSEARCH__HOSTS='["https://127.0.0.1:$OPENSEARCH_PORT"]'
SOC_STORE__OPENSEARCH__USERNAME=soc
SOC_STORE__OPENSEARCH__PASSWORD_FILE=$d/opensearch-soc.password
SOC_STORE__OPENSEARCH__CA_CERTS=$d/ca.crt
EOF
  cat >"$d/kafka-client.properties" <<EOF
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="soc" password="$(<"$d/kafka-soc.password")";
ssl.truststore.type=PEM
ssl.truststore.location=$d/ca.crt
EOF
  chmod 600 "$d/soc.env" "$d/kafka-client.properties"
  touch "$d/.enabled"
  log "secure: CA, certificates and passwords in $d (SOC settings: $d/soc.env)"
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
controller.listener.names=CONTROLLER
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
  if ((SECURE)); then
    # Clients and the broker itself: SASL_SSL with SCRAM-SHA-512 (users made at format).
    # The controller listener stays PLAINTEXT on 127.0.0.1, inside this one process.
    cat >>"$KAFKA_RUN/config/server.properties" <<EOF
listeners=SASL_SSL://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=SASL_SSL://127.0.0.1:$KAFKA_PORT
inter.broker.listener.name=SASL_SSL
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="$(<"$SECURE_DIR/kafka-broker.password")";
ssl.keystore.type=PEM
ssl.keystore.location=$SECURE_DIR/kafka-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$SECURE_DIR/ca.crt
ssl.client.auth=none
EOF
    chmod 600 "$KAFKA_RUN/config/server.properties"
  else
    cat >>"$KAFKA_RUN/config/server.properties" <<EOF
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
EOF
  fi
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
    --bootstrap-server "127.0.0.1:$KAFKA_PORT" "${KAFKA_CLIENT_ARGS[@]}" --list >/dev/null 2>&1
}

kafka_banner() {
  if ((SECURE)); then
    printf 'kafka: %s (KRaft) on 127.0.0.1:%s (SASL_SSL, SCRAM-SHA-512)\n' "$KAFKA_VERSION" "$KAFKA_PORT"
  else
    printf 'kafka: %s (KRaft) on 127.0.0.1:%s\n' "$KAFKA_VERSION" "$KAFKA_PORT"
  fi
}

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
    local -a scram=()
    if ((SECURE)); then
      local user
      for user in broker soc; do
        scram+=(--add-scram "SCRAM-SHA-512=[name=$user,password=$(<"$SECURE_DIR/kafka-$user.password")]")
      done
    fi
    kafka_tool kafka.tools.StorageTool format --cluster-id "$KAFKA_CLUSTER_ID" \
      --config "$KAFKA_RUN/config/server.properties" --ignore-formatted "${scram[@]}" \
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
  mkdir -p "$conf/jvm.options.d" "$OPENSEARCH_RUN/data" "$OPENSEARCH_RUN/logs" "$OPENSEARCH_RUN/tmp" \
    "$OPENSEARCH_RUN/snapshots"
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
# Where filesystem snapshot repositories may live (soc backup: a relative repository location is under it).
path.repo: ["$OPENSEARCH_RUN/snapshots"]
EOF
  if ((SECURE)); then
    opensearch_write_security
  fi
  if [[ "$(id -u)" -eq 0 ]]; then
    chown -R "$OPENSEARCH_USER:$OPENSEARCH_USER" "$OPENSEARCH_RUN"
  fi
}

# Secure mode: the security plugin with TLS on transport and HTTP (our CA's node
# certificate, copied into the config dir, where the plugin wants it) and one internal
# user, `soc`, whose password was generated at `up` (only its bcrypt hash is written).
opensearch_write_security() {
  local conf="$OPENSEARCH_RUN/config" sec="$OPENSEARCH_RUN/config/opensearch-security"
  cp "$SECURE_DIR/ca.crt" "$SECURE_DIR/node.crt" "$SECURE_DIR/node.key" "$conf/"
  cat >>"$conf/opensearch.yml" <<EOF
plugins.security.ssl.transport.pemcert_filepath: node.crt
plugins.security.ssl.transport.pemkey_filepath: node.key
plugins.security.ssl.transport.pemtrustedcas_filepath: ca.crt
plugins.security.ssl.transport.enforce_hostname_verification: false
plugins.security.ssl.http.enabled: true
plugins.security.ssl.http.pemcert_filepath: node.crt
plugins.security.ssl.http.pemkey_filepath: node.key
plugins.security.ssl.http.pemtrustedcas_filepath: ca.crt
plugins.security.allow_default_init_securityindex: true
plugins.security.authcz.admin_dn: ["CN=soc-local-admin,O=soc-local"]
plugins.security.nodes_dn: ["CN=soc-local-node,O=soc-local"]
plugins.security.audit.type: noop
plugins.security.restapi.roles_enabled: ["all_access"]
EOF
  # The plugin's stock files (action groups, tenants, ...), minus its demo users.
  mkdir -p "$sec"
  cp "$OPENSEARCH_HOME/config/opensearch-security/"*.yml "$sec/"
  local hash
  hash="$(SOC_LOCAL_PW="$(<"$SECURE_DIR/opensearch-soc.password")" \
    OPENSEARCH_JAVA_HOME="$JAVA_HOME_RESOLVED" JAVA_OPTS="-Xmx64m -XX:+UseSerialGC -XX:TieredStopAtLevel=1" \
    bash "$OPENSEARCH_HOME/plugins/opensearch-security/tools/hash.sh" -env SOC_LOCAL_PW 2>/dev/null |
    grep -E '^\$2[aby]\$' | tail -n 1)" || true
  [[ -n "$hash" ]] || die "opensearch: could not hash the generated password (tools/hash.sh)"
  cat >"$sec/internal_users.yml" <<EOF
_meta:
  type: "internalusers"
  config_version: 2
soc:
  hash: "$hash"
  reserved: true
  description: "The SOC's user (deploy/local/services.sh, generated at up)"
EOF
  cat >"$sec/roles_mapping.yml" <<'EOF'
_meta:
  type: "rolesmapping"
  config_version: 2
all_access:
  reserved: true
  users: ["soc"]
EOF
  cat >"$sec/config.yml" <<'EOF'
_meta:
  type: "config"
  config_version: 2
config:
  dynamic:
    http:
      anonymous_auth_enabled: false
    authc:
      basic_internal_auth_domain:
        description: "HTTP Basic against the internal users"
        http_enabled: true
        transport_enabled: true
        order: 0
        http_authenticator:
          type: basic
          challenge: true
        authentication_backend:
          type: intern
EOF
  # The plugin wants its config dir private to the node's user.
  chmod -R u=rwX,go= "$conf"
}

# curl with the user's password from a config on stdin (never on the command line).
opensearch_curl() {
  if ((SECURE)); then
    printf 'user = "soc:%s"\n' "$(<"$SECURE_DIR/opensearch-soc.password")" |
      curl -K - --cacert "$SECURE_DIR/ca.crt" "$@"
  else
    curl "$@"
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
  body="$(opensearch_curl -fsS --max-time 10 \
    "$OPENSEARCH_URL/_cluster/health?wait_for_status=yellow&timeout=5s" 2>/dev/null)" ||
    return 1
  [[ "$body" == *'"timed_out":false'* && "$body" != *'"status":"red"'* ]]
}

opensearch_banner() {
  local version
  version="$(opensearch_curl -fsS --max-time 10 "$OPENSEARCH_URL/" |
    sed -nE 's/.*"number" *: *"([^"]+)".*/\1/p' | head -n 1)" || true
  if ((SECURE)); then
    printf 'opensearch: %s on %s (security plugin, TLS, basic auth)\n' "${version:-unknown}" "$OPENSEARCH_URL"
  else
    printf 'opensearch: %s on %s\n' "${version:-unknown}" "$OPENSEARCH_URL"
  fi
}

# Start OpenSearch; always from clean data.
opensearch_start() {
  local pid
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
  rm -rf "$OPENSEARCH_RUN"
  opensearch_write_config
  as_opensearch_user test -w "$OPENSEARCH_RUN/data" || die "opensearch: cannot write $OPENSEARCH_RUN/data"
  log "opensearch: starting on $OPENSEARCH_URL (transport $OPENSEARCH_TRANSPORT_PORT)"
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
  # Fresh certificates and passwords unless a service of this run dir still runs on them.
  if ! live_pid "$KAFKA_PID" "$KAFKA_RUN" >/dev/null && ! live_pid "$OPENSEARCH_PID" "$OPENSEARCH_RUN" >/dev/null; then
    rm -rf "$SECURE_DIR"
    if ((SECURE)); then
      secure_generate
    fi
  fi
  trap 'stop_on_failure opensearch kafka' EXIT
  # Both at once (each waits for its own health): OpenSearch's start is the long one.
  local kafka_job opensearch_job rc=0
  kafka_start clean &
  kafka_job=$!
  opensearch_start &
  opensearch_job=$!
  wait "$kafka_job" || rc=1
  wait "$opensearch_job" || rc=1
  ((rc == 0)) || die "start failed"
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
      printf 'opensearch: pid %s running but NOT healthy on %s\n' "$pid" "$OPENSEARCH_URL"
      rc=1
    fi
  else
    printf 'opensearch: stopped\n'
    rc=1
  fi
  return "$rc"
}

usage() {
  sed -nE '2,17s/^# ?//p' "${BASH_SOURCE[0]}"
}

KAFKA_CLIENT_ARGS=()
OPENSEARCH_URL="http://127.0.0.1:$OPENSEARCH_PORT"
if ((SECURE)); then
  KAFKA_CLIENT_ARGS=(--command-config "$SECURE_DIR/kafka-client.properties")
  OPENSEARCH_URL="https://127.0.0.1:$OPENSEARCH_PORT"
fi

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
-h | --help | help) usage ;;
*)
  usage >&2
  exit 2
  ;;
esac
