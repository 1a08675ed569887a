#!/usr/bin/env bash
# Platewatch's local Apache Kafka (KRaft, no ZooKeeper), resolved from Maven Central by pom.xml.
#
#   kafka.sh fetch                    resolve the broker jars into deploy/kafka/.jars (cached)
#   kafka.sh up   | down | status     single node on 127.0.0.1:${KAFKA_PORT:-9092}
#   kafka.sh cluster-up | cluster-down | cluster-status
#                                     three KRaft nodes on 127.0.0.1:29092,29093,29094
#   kafka.sh log [NODE]               print a node's server.log (NODE: 1-3, secure, secure1-3)
#
# Secured mode (TLS, SCRAM, ACLs enforced by the broker; see "Secured mode" below for the details):
#   kafka.sh secure-up | secure-down [--purge] | secure-status
#                                     single node, clients on 127.0.0.1:${KAFKA_SECURE_PORT:-9093}
#   kafka.sh cluster-up-secure | cluster-down-secure [--purge] | cluster-status-secure
#                                     three nodes, clients on 127.0.0.1:39093,39094,39095
#   kafka.sh tls-renew                new broker certificate from the same CA; restarts running secure nodes
#   kafka.sh secure-acls ARGS...      kafka-acls as the admin    (e.g. --list)
#   kafka.sh secure-configs ARGS...   kafka-configs as the admin (e.g. --describe --entity-type users)
#   kafka.sh secure-user NAME         create or change a SCRAM-SHA-512 user; the password is read from stdin
#   kafka.sh secure-revoke NAME       give NAME an unknown random password: its sessions end, no login works
#
# Data and logs live under $PLATEWATCH_KAFKA_DIR (default: a folder in $TMPDIR).
# `up` is idempotent: a broker that already answers is left alone.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# KAFKA_JARS_DIR: use the jars of a Kafka distribution (e.g. /opt/kafka/libs in a container), no Maven
JARS="${KAFKA_JARS_DIR:-$HERE/.jars}"
BASE="${PLATEWATCH_KAFKA_DIR:-${TMPDIR:-/tmp}/platewatch-kafka}"
PORT="${KAFKA_PORT:-9092}"
CTRL_PORT="${KAFKA_CONTROLLER_PORT:-$((PORT + 100))}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
CLUSTER_PORTS=(29092 29093 29094)
CLUSTER_CTRL_PORTS=(29192 29193 29194)

log() { echo "kafka.sh: $*" >&2; }

fetch() {
  if [[ -n "${KAFKA_JARS_DIR:-}" ]]; then
    compgen -G "$JARS/kafka-clients-*.jar" >/dev/null || { log "no Kafka jars in KAFKA_JARS_DIR=$JARS"; return 1; }
    return 0
  fi
  if [[ -f "$JARS/.complete" && "$JARS/.complete" -nt "$HERE/pom.xml" ]]; then
    return 0
  fi
  log "resolving the Kafka broker from Maven Central (pom: $HERE/pom.xml)"
  rm -rf "$JARS"
  mvn -q -B -Dstyle.color=never -f "$HERE/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$JARS" -DincludeScope=runtime
  touch "$JARS/.complete"
}

# fetch_tools: Kafka's tools jar (AclCommand) into $JARS/tools, for secure-acls; a distribution has it
fetch_tools() {
  if compgen -G "$JARS/kafka-tools-[0-9]*.jar" >/dev/null; then return 0; fi
  if [[ -f "$JARS/tools/.complete" && "$JARS/tools/.complete" -nt "$HERE/secure/tools-pom.xml" ]]; then
    return 0
  fi
  local version
  version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$HERE/pom.xml")"
  log "resolving Kafka's command-line tools $version (AclCommand) from Maven Central"
  rm -rf "$JARS/tools"
  mvn -q -B -Dstyle.color=never -f "$HERE/secure/tools-pom.xml" -Dkafka.version="$version" \
    dependency:copy-dependencies -DoutputDirectory="$JARS/tools" -DincludeScope=runtime
  touch "$JARS/tools/.complete"
}

run_java() {
  # KAFKA_HEAP_OPTS is a list of JVM options: split on purpose
  # shellcheck disable=SC2086,SC2206
  exec_java=("$JAVA" ${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} -XX:+UseG1GC -XX:MaxGCPauseMillis=20
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$HERE/log4j2.xml" -cp "$JARS/*${RUN_JAVA_EXTRA_CP:+:$RUN_JAVA_EXTRA_CP}" "$@")
  if [[ "${RUN_JAVA_BACKGROUND:-0}" == 1 ]]; then
    nohup "${exec_java[@]}" &
  elif [[ "${RUN_JAVA_EXEC:-0}" == 1 ]]; then
    exec "${exec_java[@]}"
  else
    "${exec_java[@]}"
  fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# write_config DIR NODE_ID PORT CTRL_PORT VOTERS
write_config() {
  local dir="$1" id="$2" port="$3" ctrl="$4" voters="$5" rf="$6"
  mkdir -p "$dir/data"
  {
    cat <<PROPS
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$ctrl
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
# the retention check every 2 s instead of 5 min (first run 2 s after start, not 30 s): so a test can
# watch the broker delete reads past a retention of seconds (tests/test_retention.py). A production
# broker keeps Kafka's default; streams/policy/retention.py keeps that much under the legal limit.
log.retention.check.interval.ms=2000
log.initial.task.delay.ms=2000
PROPS
    common_config "$dir" "$rf"
  } > "$dir/server.properties"
}

# common_config DIR RF: storage, replication and topic defaults shared by the plain and secure modes
common_config() {
  local dir="$1" rf="$2"
  cat <<PROPS
log.dirs=$dir/data
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=$(( rf > 1 ? 2 : 1 ))
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$(( rf > 1 ? 2 : 1 ))
transaction.state.log.num.partitions=4
# the broker looks for transactions past their timeout every half second, not every 10 s: a worker killed
# mid-batch holds back read_committed readers (dispatch, the audit sink) for its transaction timeout
# (6 s, the session timeout) plus this, not plus 10 s (docs/architecture.md, "Exactly once")
transaction.abort.timed.out.transaction.cleanup.interval.ms=500
# a broker that dies without a word (SIGKILL, power) is declared dead after 2.5 s of missed heartbeats, not
# Kafka's 9 s: its partitions' leaders and group coordinators move before the workers' 6 s sessions end, so
# they keep their group membership and no rebalance is needed (docs/architecture.md)
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=2500
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$(( rf > 1 ? 2 : 1 ))
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=24
log.segment.bytes=67108864
log.cleaner.dedupe.buffer.size=33554432
message.max.bytes=1048588
PROPS
}

# start_node DIR NAME PORT CLUSTER_ID
start_node() {
  local dir="$1" name="$2" port="$3" cid="$4"
  if [[ -f "$dir/pid" ]] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
    log "$name already running (pid $(cat "$dir/pid"))"
    return 0
  fi
  if port_open "$port"; then
    log "port $port is taken by a process this script did not start; set KAFKA_PORT or stop it"
    return 1
  fi
  if [[ ! -f "$dir/data/meta.properties" ]]; then
    run_java kafka.tools.StorageTool format -t "$cid" -c "$dir/server.properties" \
      --ignore-formatted > "$dir/format.log" 2>&1 || {
        log "$name: formatting its storage failed; the output follows"
        cat "$dir/format.log" >&2
        return 1
      }
  fi
  : > "$dir/server.log"
  RUN_JAVA_BACKGROUND=1 run_java kafka.Kafka "$dir/server.properties" >> "$dir/server.log" 2>&1
  echo $! > "$dir/pid"
}

# wait_node DIR NAME PORT
wait_node() {
  local dir="$1" name="$2" port="$3" waited=0
  while true; do
    if grep -q "Kafka Server started" "$dir/server.log" 2>/dev/null && port_open "$port"; then
      local version
      version="$(grep -o 'Kafka version: [^ ]*' "$dir/server.log" | head -1 || true)"
      log "$name ready on 127.0.0.1:$port (${version:-version unknown}; log: $dir/server.log)"
      return 0
    fi
    if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
      log "$name exited during start-up; its log follows"
      cat "$dir/server.log" >&2
      rm -f "$dir/pid"
      return 1
    fi
    if (( waited >= START_TIMEOUT * 2 )); then
      log "$name did not answer within ${START_TIMEOUT}s; its log follows"
      tail -n 200 "$dir/server.log" >&2
      return 1
    fi
    sleep 0.5
    waited=$((waited + 1))
  done
}

# signal_node DIR SIG: send SIG to the node's process, if it runs
signal_node() {
  if [[ -f "$1/pid" ]]; then kill "-$2" "$(cat "$1/pid")" 2>/dev/null || true; fi
}

# wait_gone DIR NAME: wait up to 30 s for the node to exit after SIGTERM, then SIGKILL it
wait_gone() {
  local dir="$1" name="$2"
  [[ -f "$dir/pid" ]] || return 0
  local pid
  pid="$(cat "$dir/pid")"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name ignored SIGTERM for 30s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$dir/pid"
  log "$name stopped"
}

cluster_id() {
  local f="$1/cluster.id"
  mkdir -p "$1"
  [[ -s "$f" ]] || run_java kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1 > "$f"
  cat "$f"
}

single_up() {
  fetch
  local dir="$BASE/single"
  mkdir -p "$dir"
  [[ -f "$dir/server.properties" ]] || write_config "$dir" 1 "$PORT" "$CTRL_PORT" "1@127.0.0.1:$CTRL_PORT" 1
  start_node "$dir" broker "$PORT" "$(cluster_id "$BASE/single")"
  wait_node "$dir" broker "$PORT"
}

single_down() {
  signal_node "$BASE/single" TERM
  wait_gone "$BASE/single" broker
  if [[ "${KAFKA_KEEP_DATA:-0}" != 1 ]]; then rm -rf "$BASE/single"; fi
}

cluster_up() {
  fetch
  local voters="" i
  for i in 0 1 2; do voters+="${voters:+,}$((i + 1))@127.0.0.1:${CLUSTER_CTRL_PORTS[$i]}"; done
  local cid
  cid="$(cluster_id "$BASE/cluster")"
  for i in 0 1 2; do
    local dir="$BASE/cluster/node$((i + 1))"
    mkdir -p "$dir"
    [[ -f "$dir/server.properties" ]] || \
      write_config "$dir" $((i + 1)) "${CLUSTER_PORTS[$i]}" "${CLUSTER_CTRL_PORTS[$i]}" "$voters" 3
    KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms128m -Xmx384m}" \
      start_node "$dir" "node$((i + 1))" "${CLUSTER_PORTS[$i]}" "$cid"
  done
  for i in 0 1 2; do
    wait_node "$BASE/cluster/node$((i + 1))" "node$((i + 1))" "${CLUSTER_PORTS[$i]}"
  done
}

cluster_down() {
  local i
  # signal every node first: a lone survivor of a 3-voter quorum cannot finish a controlled shutdown
  for i in 1 2 3; do signal_node "$BASE/cluster/node$i" TERM; done
  for i in 1 2 3; do wait_gone "$BASE/cluster/node$i" "node$i"; done
  if [[ "${KAFKA_KEEP_DATA:-0}" != 1 ]]; then rm -rf "$BASE/cluster"; fi
}

status_of() {
  local dir="$1" name="$2" port="$3"
  if [[ -f "$dir/pid" ]] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
    echo "$name: running (pid $(cat "$dir/pid")) on 127.0.0.1:$port"
  else
    echo "$name: stopped"
    return 1
  fi
}

# ---- Secured mode -------------------------------------------------------------------------------
# Alerts may only be shared between agencies as the law allows, so the broker itself enforces who
# reads what: no client gets in without TLS and a SCRAM password, and nothing is allowed without an ACL.
#
# Listeners of each secure node:
#   CLIENT      127.0.0.1:$KAFKA_SECURE_PORT (9093)  SASL_SSL, SCRAM-SHA-512: Platewatch, tools, people
#   CONTROLLER  127.0.0.1:+100 (9193)                SSL with ssl.client.auth=required (mutual TLS)
#   INTERNAL    127.0.0.1:+200 (9293)                SSL with ssl.client.auth=required: inter-broker traffic
# The controller and inter-broker listeners need a client certificate signed by the local CA. A node
# shows its broker certificate there, so its principal is User:CN=platewatch-broker, which is a super
# user next to User:admin (a node whose controller connection were anonymous could never register:
# ANONYMOUS has no CLUSTER_ACTION). mTLS rather than SCRAM for the nodes keeps every password out of
# server.properties and works for the KRaft quorum before any SCRAM credential is readable.
# The authorizer is KRaft's StandardAuthorizer with allow.everyone.if.no.acl.found=false; it logs each
# denial (INFO on kafka.authorizer.logger) to $BASE/secure/kafka-authorizer.log (see log4j2.xml).
# connections.max.reauth.ms (KAFKA_SECURE_REAUTH_MS, 60000 in this dev mode) bounds a SASL session: a
# changed password (secure-user, secure-revoke) ends open sessions within that time. Clients without
# re-authentication (aiokafka) are disconnected when their session expires (logged as fetch and
# heartbeat errors) and log in again on their next connection; production wants a longer value.
# Never delete a SCRAM credential on Kafka 4.1.1 (see secure_configs): revoke it instead.
#
# Files (kept by secure-down, removed by secure-down --purge):
#   $BASE/secure/tls/            CA (ca.pem for clients, ca.key), broker key, certificate and PEM keystore;
#                                PLATEWATCH_TLS_DIR puts it elsewhere (never purged then); secure/tls.sh
#                                makes it: broker certificate valid PLATEWATCH_TLS_DAYS (825) days,
#                                SANs DNS:localhost,IP:127.0.0.1 (PLATEWATCH_TLS_SANS)
#   $BASE/secure/admin.password  the admin's random password (0600), made on the first start, never printed
#   $BASE/secure/admin.properties  Java client config of the admin (0600), for the tools
#   $BASE/secure/admin.env       the PLATEWATCH_* variables that point Platewatch at the secure broker
#   $BASE/secure/kafka-authorizer.log  the authorizer's denials (cluster: kafka-authorizer-cluster-nodeN.log)
# Data (removed by secure-down unless KAFKA_KEEP_DATA=1): $BASE/secure/single, $BASE/secure/cluster/nodeN.
# Renewal: `kafka.sh tls-renew` issues a new broker key and certificate from the same CA and restarts
# the running secure nodes (one at a time), keeping their data; clients keep their ca.pem. A new CA:
# `kafka.sh secure-down --purge` (or remove the TLS folder), then secure-up; clients need the new ca.pem.
SECURE="$BASE/secure"
TLS_DIR="${PLATEWATCH_TLS_DIR:-$SECURE/tls}"
ADMIN_PW="${PLATEWATCH_ADMIN_PASSWORD_FILE:-$SECURE/admin.password}"
SECURE_PORT="${KAFKA_SECURE_PORT:-9093}"
SECURE_CTRL_PORT="${KAFKA_SECURE_CONTROLLER_PORT:-$((SECURE_PORT + 100))}"
SECURE_INTERNAL_PORT="${KAFKA_SECURE_INTERNAL_PORT:-$((SECURE_PORT + 200))}"
SECURE_CLUSTER_PORT="${KAFKA_SECURE_CLUSTER_PORT:-39093}"  # nodes on +0..2, controllers +100, internal +200
SECURE_BIND="${KAFKA_SECURE_BIND_HOST:-127.0.0.1}"          # CLIENT listener address (a container: 0.0.0.0)
SECURE_HOST="${KAFKA_SECURE_ADVERTISED_HOST:-127.0.0.1}"    # the host clients are told (must be in the SANs)
REAUTH_MS="${KAFKA_SECURE_REAUTH_MS:-60000}"
BROKER_PRINCIPAL="User:CN=${PLATEWATCH_TLS_BROKER_CN:-platewatch-broker}"
STEP=""

node_running() { [[ -f "$1/pid" ]] && kill -0 "$(cat "$1/pid")" 2>/dev/null; }

# on_failure COMMAND: an EXIT trap that says which step of COMMAND failed
on_failure() {
  local rc="$2"
  if (( rc != 0 )); then log "$1 failed at step: ${STEP:-?} (exit $rc)"; fi
}

# new_cluster_id DIR: the cluster id kept in DIR/cluster.id (a Kafka Uuid: 16 random bytes, base64url)
new_cluster_id() {
  local f="$1/cluster.id" id
  mkdir -p "$1"
  if [[ ! -s "$f" ]]; then
    id="-"
    while [[ "$id" == -* ]]; do  # Kafka never makes ids that start with '-': they read as options
      id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    done
    echo "$id" > "$f"
  fi
  cat "$f"
}

# authorizer_log DIR: where the node in DIR writes the authorizer's denials (kept when its data goes)
authorizer_log() {
  if [[ "$1" == "$SECURE/single" ]]; then echo "$SECURE/kafka-authorizer.log"
  else echo "$SECURE/kafka-authorizer-cluster-$(basename "$1").log"; fi
}

# secure_prepare: TLS files, the admin's password and client config (idempotent)
secure_prepare() {
  mkdir -p "$SECURE"
  chmod 700 "$SECURE"
  STEP="TLS: local CA and broker certificate in $TLS_DIR"
  if command -v openssl >/dev/null 2>&1; then
    PLATEWATCH_TLS_DIR="$TLS_DIR" sh "$HERE/secure/tls.sh" ensure
  elif [[ ! -s "$TLS_DIR/broker-keystore.pem" || ! -s "$TLS_DIR/ca.pem" ]]; then
    log "openssl is needed to create the TLS files in $TLS_DIR"
    return 1
  fi
  STEP="admin credentials ($ADMIN_PW)"
  if [[ ! -s "$ADMIN_PW" ]]; then
    if compgen -G "$SECURE/single/data/meta.properties" >/dev/null ||
       compgen -G "$SECURE/cluster/node*/data/meta.properties" >/dev/null; then
      log "$ADMIN_PW is gone but formatted data holds the old admin credential; run secure-down first"
      return 1
    fi
    (umask 077 && mkdir -p "$(dirname "$ADMIN_PW")" &&
      od -An -N24 -tx1 /dev/urandom | tr -d ' \n' > "$ADMIN_PW.new" && mv "$ADMIN_PW.new" "$ADMIN_PW")
    log "generated the admin password (user admin) in $ADMIN_PW (mode 0600)"
  fi
  chmod 600 "$ADMIN_PW" 2>/dev/null || true
  (umask 077 && cat > "$SECURE/admin.properties.new" <<PROPS
# the secure broker's admin (a super user), for Java tools: --command-config $SECURE/admin.properties
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(cat "$ADMIN_PW")";
ssl.truststore.type=PEM
ssl.truststore.location=$TLS_DIR/ca.pem
ssl.endpoint.identification.algorithm=https
PROPS
  ) && mv "$SECURE/admin.properties.new" "$SECURE/admin.properties"
}

# write_secure_config DIR NODE_ID CLIENT_PORT CTRL_PORT INTERNAL_PORT VOTERS RF
write_secure_config() {
  local dir="$1" id="$2" port="$3" ctrl="$4" internal="$5" voters="$6" rf="$7"
  mkdir -p "$dir/data"
  {
    cat <<PROPS
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
# CLIENT: TLS + SCRAM-SHA-512 for every client. INTERNAL (inter-broker) and CONTROLLER: mutual TLS,
# the node's principal is $BROKER_PRINCIPAL from its certificate (see kafka.sh, "Secured mode").
listeners=CLIENT://$SECURE_BIND:$port,INTERNAL://127.0.0.1:$internal,CONTROLLER://127.0.0.1:$ctrl
advertised.listeners=CLIENT://$SECURE_HOST:$port,INTERNAL://127.0.0.1:$internal
listener.security.protocol.map=CLIENT:SASL_SSL,INTERNAL:SSL,CONTROLLER:SSL
controller.listener.names=CONTROLLER
inter.broker.listener.name=INTERNAL
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.client.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.client.ssl.client.auth=none
listener.name.internal.ssl.client.auth=required
listener.name.controller.ssl.client.auth=required
ssl.keystore.type=PEM
ssl.keystore.location=$TLS_DIR/broker-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$TLS_DIR/ca.pem
ssl.protocol=TLSv1.3
ssl.enabled.protocols=TLSv1.3
ssl.endpoint.identification.algorithm=https
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin;$BROKER_PRINCIPAL
# a SASL session lasts at most this long: a changed or deleted password ends open sessions
connections.max.reauth.ms=$REAUTH_MS
PROPS
    common_config "$dir" "$rf"
  } > "$dir/server.properties"
}

# ports_free PORT...: none of them may be taken (by anything: this node is not running)
ports_free() {
  local p
  for p in "$@"; do
    if port_open "$p"; then
      log "port $p is taken by a process this script did not start; set the KAFKA_SECURE_* ports or stop it"
      return 1
    fi
  done
}

# secure_format DIR CLUSTER_ID: format the node's storage with the admin's SCRAM-SHA-512 credential.
# The password goes through a java @argfile (mode 0600, removed at once): never on a command line.
secure_format() {
  local dir="$1" cid="$2" argfile="$1/format.args" rc=0
  [[ -f "$dir/data/meta.properties" ]] && return 0
  (umask 077 && printf '"%s"\n' kafka.tools.StorageTool format -t "$cid" -c "$dir/server.properties" \
    --ignore-formatted --add-scram "SCRAM-SHA-512=[name=admin,password=$(cat "$ADMIN_PW")]" > "$argfile")
  run_java "@$argfile" > "$dir/format.log" 2>&1 || rc=$?
  rm -f "$argfile"
  if (( rc != 0 )); then
    log "formatting $dir failed; the output follows"
    cat "$dir/format.log" >&2
    return 1
  fi
}

# secure_start DIR NAME PORT CLUSTER_ID [HEAP]
secure_start() {
  export PLATEWATCH_AUTHORIZER_LOG
  PLATEWATCH_AUTHORIZER_LOG="$(authorizer_log "$1")"
  KAFKA_HEAP_OPTS="${5:-${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}}" start_node "$1" "$2" "$3" "$4"
}

# secure_info BOOTSTRAP: the PLATEWATCH_* variables for the secure broker (stdout and admin.env)
secure_info() {
  (umask 077 && cat > "$SECURE/admin.env" <<ENV
# Platewatch as the secure broker's admin (source this file, or copy the lines into a config file)
PLATEWATCH_BOOTSTRAP_SERVERS=$1
PLATEWATCH_SECURITY_PROTOCOL=SASL_SSL
PLATEWATCH_SASL_MECHANISM=SCRAM-SHA-512
PLATEWATCH_SASL_USERNAME=admin
PLATEWATCH_SASL_PASSWORD_FILE=$ADMIN_PW
PLATEWATCH_SSL_CAFILE=$TLS_DIR/ca.pem
ENV
  )
  cat "$SECURE/admin.env"
  log "secure bootstrap: $1 (SASL_SSL, SCRAM-SHA-512; controller and inter-broker listeners: mutual TLS)"
  log "  CA certificate:      $TLS_DIR/ca.pem"
  log "  admin password file: $ADMIN_PW (user admin)"
  log "  admin Java config:   $SECURE/admin.properties (kafka.sh secure-acls | secure-configs | secure-user)"
  log "  authorizer denials:  $SECURE/kafka-authorizer*.log"
}

secure_up() {
  local dir="$SECURE/single" cid
  trap 'on_failure secure-up $?' EXIT
  STEP="resolve the Kafka jars"
  fetch
  if node_running "$dir"; then
    log "secure-broker already running (pid $(cat "$dir/pid"))"
  else
    secure_prepare
    STEP="write the broker configuration ($dir/server.properties)"
    write_secure_config "$dir" 1 "$SECURE_PORT" "$SECURE_CTRL_PORT" "$SECURE_INTERNAL_PORT" \
      "1@127.0.0.1:$SECURE_CTRL_PORT" 1
    STEP="check the ports $SECURE_PORT, $SECURE_CTRL_PORT, $SECURE_INTERNAL_PORT"
    ports_free "$SECURE_PORT" "$SECURE_CTRL_PORT" "$SECURE_INTERNAL_PORT"
    STEP="resolve Kafka's command-line tools"
    fetch_tools || log "warning: no tools jar: secure-acls will try again"
    STEP="format the storage with the SCRAM user admin"
    cid="$(new_cluster_id "$dir")"
    secure_format "$dir" "$cid"
    STEP="start the broker"
    secure_start "$dir" secure-broker "$SECURE_PORT" "$cid"
  fi
  STEP="wait for the broker to answer on 127.0.0.1:$SECURE_PORT"
  wait_node "$dir" secure-broker "$SECURE_PORT"
  trap - EXIT
  secure_info "$SECURE_HOST:$SECURE_PORT"
}

# secure_run: the single secure node in the foreground (a container's command); the JVM replaces the shell
secure_run() {
  local dir="$SECURE/single"
  trap 'on_failure secure-run $?' EXIT
  STEP="resolve the Kafka jars"
  fetch
  secure_prepare
  STEP="write the broker configuration"
  write_secure_config "$dir" 1 "$SECURE_PORT" "$SECURE_CTRL_PORT" "$SECURE_INTERNAL_PORT" \
    "1@127.0.0.1:$SECURE_CTRL_PORT" 1
  STEP="format the storage with the SCRAM user admin"
  secure_format "$dir" "$(new_cluster_id "$dir")"
  secure_info "$SECURE_HOST:$SECURE_PORT" >&2
  trap - EXIT
  export PLATEWATCH_AUTHORIZER_LOG
  PLATEWATCH_AUTHORIZER_LOG="$(authorizer_log "$dir")"
  RUN_JAVA_EXEC=1 run_java kafka.Kafka "$dir/server.properties"
}

# purge: every secure file, when no secure node runs any more (an outside PLATEWATCH_TLS_DIR stays)
secure_purge() {
  local d
  for d in "$SECURE/single" "$SECURE"/cluster/node*; do
    if node_running "$d"; then log "not purging: $d still runs"; return 0; fi
  done
  rm -rf "$SECURE"
  log "removed $SECURE (CA, admin password, authorizer logs)"
}

secure_down() {
  signal_node "$SECURE/single" TERM
  wait_gone "$SECURE/single" secure-broker
  if [[ "${KAFKA_KEEP_DATA:-0}" != 1 ]]; then rm -rf "$SECURE/single"; fi
  if [[ "${1:-}" == --purge ]]; then secure_purge; fi
}

secure_cluster_ports() {  # I (0-2) -> "CLIENT CTRL INTERNAL"
  echo "$((SECURE_CLUSTER_PORT + $1)) $((SECURE_CLUSTER_PORT + 100 + $1)) $((SECURE_CLUSTER_PORT + 200 + $1))"
}

cluster_up_secure() {
  local voters="" bootstrap="" i cid port ctrl internal dir
  trap 'on_failure cluster-up-secure $?' EXIT
  STEP="resolve the Kafka jars"
  fetch
  for i in 0 1 2; do
    read -r port ctrl internal <<< "$(secure_cluster_ports "$i")"
    voters+="${voters:+,}$((i + 1))@127.0.0.1:$ctrl"
    bootstrap+="${bootstrap:+,}$SECURE_HOST:$port"
  done
  secure_prepare
  cid="$(new_cluster_id "$SECURE/cluster")"
  for i in 0 1 2; do
    dir="$SECURE/cluster/node$((i + 1))"
    read -r port ctrl internal <<< "$(secure_cluster_ports "$i")"
    if ! node_running "$dir"; then
      STEP="node$((i + 1)): write its configuration"
      write_secure_config "$dir" $((i + 1)) "$port" "$ctrl" "$internal" "$voters" 3
      STEP="node$((i + 1)): check the ports $port, $ctrl, $internal"
      ports_free "$port" "$ctrl" "$internal"
      STEP="node$((i + 1)): format the storage with the SCRAM user admin"
      secure_format "$dir" "$cid"
    fi
    STEP="node$((i + 1)): start"
    secure_start "$dir" "secure-node$((i + 1))" "$port" "$cid" "${KAFKA_HEAP_OPTS:--Xms128m -Xmx384m}"
  done
  for i in 0 1 2; do
    read -r port ctrl internal <<< "$(secure_cluster_ports "$i")"
    STEP="node$((i + 1)): wait for it to answer on 127.0.0.1:$port"
    wait_node "$SECURE/cluster/node$((i + 1))" "secure-node$((i + 1))" "$port"
  done
  trap - EXIT
  secure_info "$bootstrap"
}

cluster_down_secure() {
  local i
  for i in 1 2 3; do signal_node "$SECURE/cluster/node$i" TERM; done
  for i in 1 2 3; do wait_gone "$SECURE/cluster/node$i" "secure-node$i"; done
  if [[ "${KAFKA_KEEP_DATA:-0}" != 1 ]]; then rm -rf "$SECURE/cluster"; fi
  if [[ "${1:-}" == --purge ]]; then secure_purge; fi
}

# tls_renew: a new broker certificate from the same CA, then a restart of each running secure node,
# one at a time (a 3-node quorum keeps its majority), with its data
tls_renew() {
  local dir name port ports i
  PLATEWATCH_TLS_DIR="$TLS_DIR" sh "$HERE/secure/tls.sh" renew
  if node_running "$SECURE/single"; then
    signal_node "$SECURE/single" TERM
    wait_gone "$SECURE/single" secure-broker
    secure_start "$SECURE/single" secure-broker "$SECURE_PORT" ""
    wait_node "$SECURE/single" secure-broker "$SECURE_PORT"
  fi
  for i in 0 1 2; do
    dir="$SECURE/cluster/node$((i + 1))"
    name="secure-node$((i + 1))"
    node_running "$dir" || continue
    ports="$(secure_cluster_ports "$i")"
    port="${ports%% *}"
    signal_node "$dir" TERM
    wait_gone "$dir" "$name"
    secure_start "$dir" "$name" "$port" "" "${KAFKA_HEAP_OPTS:--Xms128m -Xmx384m}"
    wait_node "$dir" "$name" "$port"
  done
}

secure_status() {
  status_of "$SECURE/single" secure-broker "$SECURE_PORT" || return 1
  echo "CA: $TLS_DIR/ca.pem; admin password: $ADMIN_PW; admin config: $SECURE/admin.properties"
  if command -v openssl >/dev/null 2>&1 && [[ -f "$TLS_DIR/broker.crt" ]]; then
    echo "broker certificate: $(openssl x509 -noout -enddate -in "$TLS_DIR/broker.crt")"
  fi
}

# secure_tool CLASS ARGS...: a Kafka admin tool as the secure broker's admin
secure_tool() {
  local cls="$1"
  shift
  fetch >&2
  if [[ ! -s "$SECURE/admin.properties" ]]; then
    log "no $SECURE/admin.properties yet: run secure-up first"
    return 1
  fi
  if [[ "$cls" == *AclCommand ]]; then fetch_tools >&2; fi
  RUN_JAVA_EXTRA_CP="$JARS/tools/*" KAFKA_HEAP_OPTS="${KAFKA_TOOL_HEAP_OPTS:--Xmx256m -XX:TieredStopAtLevel=1}" run_java \
    -Dlog4j2.configurationFile="$HERE/tools-log4j2.xml" "$cls" \
    --bootstrap-server "${KAFKA_SECURE_BOOTSTRAP:-127.0.0.1:$SECURE_PORT}" \
    --command-config "$SECURE/admin.properties" "$@"
}

# secure_configs ARGS...: kafka-configs as the admin, except deleting a SCRAM credential. Kafka 4.1.1
# loses every SCRAM credential (admin's too) when a node restarts after a deletion: replaying the metadata
# log, ScramDelta.apply() drops a mechanism's whole user map as soon as a removal leaves it empty, and
# the users put after that in HashMap order land in the dropped map. `secure-revoke` does the same job
# safely: an unknown random password, so sessions end within connections.max.reauth.ms and no login works.
secure_configs() {
  local arg prev=""
  for arg in "$@"; do
    if [[ "$prev" == --delete-config && "$arg" == *SCRAM-SHA-* && "${KAFKA_ALLOW_SCRAM_DELETE:-0}" != 1 ]]; then
      log "refusing to delete a SCRAM credential: Kafka 4.1.1 forgets every SCRAM user on its next restart after"
      log "one (see kafka.sh, secure_configs). Use: kafka.sh secure-revoke NAME (KAFKA_ALLOW_SCRAM_DELETE=1 forces it)"
      return 1
    fi
    prev="$arg"
  done
  secure_tool kafka.admin.ConfigCommand "$@"
}

# secure_revoke NAME: replace NAME's password by a random one nobody knows; its open sessions end
# within connections.max.reauth.ms, its ACLs stay (remove them with secure-acls --remove)
secure_revoke() {
  local name="${1:?usage: kafka.sh secure-revoke NAME}"
  od -An -N24 -tx1 /dev/urandom | tr -d ' \n' | secure_user "$name"
}

# secure_user NAME: create the SCRAM-SHA-512 user NAME or change its password, read from stdin. The
# password goes through a file (0600, removed at once), never a command line.
secure_user() {
  local name="${1:?usage: kafka.sh secure-user NAME < password-file}" pw="" file rc=0
  IFS= read -r pw || true
  if (( ${#pw} < 8 )) || [[ "$pw" == *[],=\\[:space:]]* ]]; then
    log "give a password of 8 or more characters on stdin, without spaces, commas, '=', ']' or backslashes"
    return 1
  fi
  file="$(mktemp "$SECURE/.scram.XXXXXX")"
  printf 'SCRAM-SHA-512=password=%s\n' "$pw" > "$file"  # a file takes the value without [ ]
  secure_tool kafka.admin.ConfigCommand --alter --entity-type users --entity-name "$name" \
    --add-config-file "$file" || rc=$?
  rm -f "$file"
  return "$rc"
}

case "${1:-}" in
  fetch) fetch ;;
  up) single_up ;;
  down) single_down ;;
  status) status_of "$BASE/single" broker "$PORT" ;;
  cluster-up) cluster_up ;;
  cluster-down) cluster_down ;;
  cluster-status)
    rc=0
    for i in 0 1 2; do status_of "$BASE/cluster/node$((i + 1))" "node$((i + 1))" "${CLUSTER_PORTS[$i]}" || rc=1; done
    exit $rc ;;
  secure-up) secure_up ;;
  secure-down) secure_down "${2:-}" ;;
  secure-status) secure_status ;;
  secure-run) secure_run ;;
  cluster-up-secure) cluster_up_secure ;;
  cluster-down-secure) cluster_down_secure "${2:-}" ;;
  cluster-status-secure)
    rc=0
    for i in 0 1 2; do
      status_of "$SECURE/cluster/node$((i + 1))" "secure-node$((i + 1))" "$(secure_cluster_ports "$i" | cut -d' ' -f1)" || rc=1
    done
    exit $rc ;;
  tls-renew) tls_renew ;;
  secure-acls) shift; secure_tool org.apache.kafka.tools.AclCommand "$@" ;;
  secure-configs) shift; secure_configs "$@" ;;
  secure-user) secure_user "${2:-}" ;;
  secure-revoke) secure_revoke "${2:-}" ;;
  log)
    node="${2:-single}"
    case "$node" in
      single) cat "$BASE/single/server.log" ;;
      secure) cat "$SECURE/single/server.log" ;;
      secure[1-3]) cat "$SECURE/cluster/node${node#secure}/server.log" ;;
      *) cat "$BASE/cluster/node$node/server.log" ;;
    esac ;;
  *) sed -n '2,/^set /{/^#/p}' "$0"; exit 2 ;;
esac
