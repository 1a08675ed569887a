#!/usr/bin/env bash
# A throw-away PostgreSQL for Platewatch's audit store tests, from the Debian packages (postgresql).
#
#   pg.sh up       initdb into $PLATEWATCH_PG_DIR, start on 127.0.0.1:${PG_PORT:-55432}, create the database;
#                  prints the URL (postgresql+psycopg://postgres@127.0.0.1:55432/platewatch)
#   pg.sh down     stop it and remove its data
#   pg.sh status   say whether it runs, and its URL
#   pg.sh url      print the URL only
#   pg.sh psql ... psql as the superuser on that database
#
# Data, socket and logs live under $PLATEWATCH_PG_DIR (default: a folder in $TMPDIR). Authentication
# is `trust` on loopback and the socket only: a test database, never a production one. As root
# (CI), initdb and the server run as the `postgres` user, which PostgreSQL requires. `up` is
# idempotent: a server this script started and that still answers is left alone. Every failing step
# says which one failed and where its log is.
set -euo pipefail

BASE="$(realpath -m "${PLATEWATCH_PG_DIR:-${TMPDIR:-/tmp}/platewatch-postgres}")"
PORT="${PG_PORT:-55432}"
DB="${PG_DATABASE:-platewatch}"
SUPERUSER=postgres
START_TIMEOUT="${PG_START_TIMEOUT:-60}"

log() { echo "pg.sh: $*" >&2; }
fail() { log "$*"; exit 1; }

bindir() {
  if [[ -n "${PG_BIN:-}" ]]; then echo "$PG_BIN"; return 0; fi
  local found
  found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
  [[ -n "$found" && -x "$found/initdb" ]] || fail "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin: \
install the Debian package postgresql (\`make tools\` does), or set PG_BIN"
  echo "$found"
}

# as_owner CMD...: run as the postgres user when we are root (the server refuses to run as root)
as_owner() {
  if [[ "$(id -u)" == 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

url() { echo "postgresql+psycopg://$SUPERUSER@127.0.0.1:$PORT/$DB"; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

running() { [[ -f "$BASE/data/postmaster.pid" ]] && as_owner "$BIN/pg_ctl" -D "$BASE/data" status >/dev/null 2>&1; }

up() {
  BIN="$(bindir)"
  mkdir -p "$BASE"
  if [[ "$(id -u)" == 0 ]]; then
    id postgres >/dev/null 2>&1 || fail "step user: no postgres user (the Debian package postgresql creates it)"
    chown postgres: "$BASE"
    chmod 0700 "$BASE"
    runuser -u postgres -- test -w "$BASE" \
      || fail "step folder: the postgres user cannot reach $BASE (a parent folder is closed to it): set PLATEWATCH_PG_DIR"
  fi
  if running; then
    log "already running on 127.0.0.1:$PORT (data $BASE/data)"
  else
    if port_open "$PORT"; then
      fail "step port: 127.0.0.1:$PORT is taken by a process this script did not start; set PG_PORT or stop it"
    fi
    if [[ ! -f "$BASE/data/PG_VERSION" ]]; then
      as_owner "$BIN/initdb" -D "$BASE/data" -U "$SUPERUSER" --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
        --no-sync >"$BASE/initdb.log" 2>&1 || fail "step initdb failed (log: $BASE/initdb.log)"
    fi
    as_owner "$BIN/pg_ctl" -D "$BASE/data" -l "$BASE/server.log" -w -t "$START_TIMEOUT" \
      -o "-c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories=$BASE -k $BASE" \
      start >"$BASE/pg_ctl.log" 2>&1 || fail "step start failed (logs: $BASE/pg_ctl.log, $BASE/server.log)"
  fi
  if ! as_owner "$BIN/psql" -h "$BASE" -p "$PORT" -U "$SUPERUSER" -d postgres -tAc \
      "select 1 from pg_database where datname = '$DB'" 2>"$BASE/createdb.log" | grep -q 1; then
    as_owner "$BIN/createdb" -h "$BASE" -p "$PORT" -U "$SUPERUSER" "$DB" >>"$BASE/createdb.log" 2>&1 \
      || fail "step createdb failed (log: $BASE/createdb.log)"
  fi
  log "PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') up on 127.0.0.1:$PORT, database $DB"
  url
}

down() {
  BIN="$(bindir)"
  if running; then
    as_owner "$BIN/pg_ctl" -D "$BASE/data" -m fast -w stop >"$BASE/pg_ctl.log" 2>&1 \
      || { log "step stop failed (log: $BASE/pg_ctl.log); killing it"; \
           kill -9 "$(head -1 "$BASE/data/postmaster.pid")" 2>/dev/null || true; }
  fi
  rm -rf "$BASE"
  log "down (data removed)"
}

status() {
  BIN="$(bindir)"
  if running; then
    log "running on 127.0.0.1:$PORT (data $BASE/data)"
    url
  else
    log "not running"
    return 1
  fi
}

cd /  # the postgres user may not enter the caller's folder

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  url) url ;;
  psql) shift; BIN="$(bindir)"; as_owner "$BIN/psql" -h "$BASE" -p "$PORT" -U "$SUPERUSER" -d "$DB" "$@" ;;
  *) echo "usage: $0 up|down|status|url|psql [ARGS...]" >&2; exit 2 ;;
esac
