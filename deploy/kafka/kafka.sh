#!/usr/bin/env bash
# Platewatch's local Apache Kafka (KRaft, no ZooKeeper), resolved from Maven Central by pom.xml.
#
#   kafka.sh fetch                    resolve the broker jars into deploy/kafka/.jars (cached)
#   kafka.sh up   | down | status     single node on 127.0.0.1:${KAFKA_PORT:-9092}
#   kafka.sh cluster-up | cluster-down | cluster-status
#                                     three KRaft nodes on 127.0.0.1:29092,29093,29094
#   kafka.sh log [NODE]               print a node's server.log
#
# Data and logs live under $PLATEWATCH_KAFKA_DIR (default: a folder in $TMPDIR).
# `up` is idempotent: a broker that already answers is left alone.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
JARS="$HERE/.jars"
BASE="${PLATEWATCH_KAFKA_DIR:-${TMPDIR:-/tmp}/platewatch-kafka}"
PORT="${KAFKA_PORT:-9092}"
CTRL_PORT="${KAFKA_CONTROLLER_PORT:-$((PORT + 100))}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
CLUSTER_PORTS=(29092 29093 29094)
CLUSTER_CTRL_PORTS=(29192 29193 29194)

log() { echo "kafka.sh: $*" >&2; }

fetch() {
  if [[ -f "$JARS/.complete" && "$JARS/.complete" -nt "$HERE/pom.xml" ]]; then
    return 0
  fi
  log "resolving the Kafka broker from Maven Central (pom: $HERE/pom.xml)"
  rm -rf "$JARS"
  mvn -q -B -Dstyle.color=never -f "$HERE/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$JARS" -DincludeScope=runtime
  touch "$JARS/.complete"
}

run_java() {
  # shellcheck disable=SC2086
  exec_java=("$JAVA" ${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} -XX:+UseG1GC -XX:MaxGCPauseMillis=20
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$HERE/log4j2.xml" -cp "$JARS/*" "$@")
  if [[ "${RUN_JAVA_BACKGROUND:-0}" == 1 ]]; then
    nohup "${exec_java[@]}" &
  else
    "${exec_java[@]}"
  fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# write_config DIR NODE_ID PORT CTRL_PORT VOTERS
write_config() {
  local dir="$1" id="$2" port="$3" ctrl="$4" voters="$5" rf="$6"
  mkdir -p "$dir/data"
  cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$ctrl
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=$(( rf > 1 ? 2 : 1 ))
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$(( rf > 1 ? 2 : 1 ))
transaction.state.log.num.partitions=4
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
  [[ -f "$1/pid" ]] && kill "-$2" "$(cat "$1/pid")" 2>/dev/null || true
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
  log)
    node="${2:-single}"
    if [[ "$node" == single ]]; then cat "$BASE/single/server.log"; else cat "$BASE/cluster/node$node/server.log"; fi ;;
  *) sed -n '2,12p' "$0"; exit 2 ;;
esac
