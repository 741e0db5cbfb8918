#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster for the store's tests and benchmarks, and prints
#   export TRAILSPARK_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:PORT/trailspark
# on stdout (everything else goes to stderr), so CI can run:
#   eval "$(scripts/start-postgres.sh)"
# Idempotent: when the cluster is already running it only prints the line again.
# Installs PostgreSQL with apt-get when no server binaries are found.
# Settings (environment): TRAILSPARK_PG_DIR (data dir, default $TMPDIR/trailspark-pg),
# TRAILSPARK_PG_PORT (first port tried, default 54329), TRAILSPARK_PG_DB (default trailspark).
# With TRAILSPARK_PG_TLS=1 it starts a second cluster that speaks TLS (data dir
# $TMPDIR/trailspark-pg-tls, first port 54429) with a certificate for localhost and
# 127.0.0.1 signed by a CA made for it, and prints instead
#   export TRAILSPARK_TEST_POSTGRES_TLS_URL=postgres://postgres@localhost:PORT/trailspark
#   export TRAILSPARK_TEST_POSTGRES_TLS_CA=<data dir>/ca.crt
# The cluster trusts local connections without a password: it is for tests only.
set -euo pipefail

TLS="${TRAILSPARK_PG_TLS:-}"
if [ -n "$TLS" ]; then
    DATA_DIR="${TRAILSPARK_PG_DIR:-${TMPDIR:-/tmp}/trailspark-pg-tls}"
    FIRST_PORT="${TRAILSPARK_PG_PORT:-54429}"
else
    DATA_DIR="${TRAILSPARK_PG_DIR:-${TMPDIR:-/tmp}/trailspark-pg}"
    FIRST_PORT="${TRAILSPARK_PG_PORT:-54329}"
fi
DB_NAME="${TRAILSPARK_PG_DB:-trailspark}"

log() { echo "start-postgres: $*" >&2; }

find_bindir() {
    local d
    if command -v pg_config >/dev/null 2>&1; then
        d="$(pg_config --bindir 2>/dev/null || true)"
        if [ -n "$d" ] && [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
    fi
    # Debian/Ubuntu keep the server binaries out of PATH, one folder per major version.
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
    done
    if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return 0; fi
    return 1
}

if ! BIN="$(find_bindir)"; then
    log "PostgreSQL not found; installing it with apt-get"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq >&2
    $SUDO apt-get install -y -qq postgresql >&2
    BIN="$(find_bindir)" || { log "no initdb after installing postgresql"; exit 1; }
fi

# initdb refuses to run as root: as root, run the cluster as the `postgres` user.
if [ "$(id -u)" -eq 0 ]; then
    RUN_USER=postgres
    if ! id "$RUN_USER" >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin "$RUN_USER"
    fi
    as_owner() { runuser -u "$RUN_USER" -- "$@"; }
else
    RUN_USER="$(id -un)"
    as_owner() { "$@"; }
fi

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

running_port() {
    # Line 4 of postmaster.pid is the port of a running server.
    if [ -f "$DATA_DIR/postmaster.pid" ] && as_owner "$BIN/pg_ctl" -D "$DATA_DIR" status >/dev/null 2>&1; then
        sed -n 4p "$DATA_DIR/postmaster.pid"
        return 0
    fi
    return 1
}

if PORT="$(running_port)"; then
    log "already running on port $PORT ($DATA_DIR)"
else
    if [ ! -f "$DATA_DIR/PG_VERSION" ]; then
        mkdir -p "$DATA_DIR"
        chown "$RUN_USER" "$DATA_DIR"
        chmod 700 "$DATA_DIR"
        log "initdb $DATA_DIR with $BIN"
        as_owner "$BIN/initdb" -D "$DATA_DIR" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
        if [ -n "$TLS" ]; then
            log "making a CA and a server certificate for localhost in $DATA_DIR"
            (
                cd "$DATA_DIR"
                openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=trailspark test CA" \
                    -keyout ca.key -out ca.crt 2>/dev/null
                openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
                    -keyout server.key -out server.csr 2>/dev/null
                printf "subjectAltName=DNS:localhost,IP:127.0.0.1\n" > server.ext
                openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
                    -days 3650 -extfile server.ext -out server.crt 2>/dev/null
                chown "$RUN_USER" server.key server.crt
                chmod 600 server.key
                chmod 644 ca.crt
                printf "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n" \
                    >> postgresql.conf
            )
        fi
    fi
    PORT="$FIRST_PORT"
    while port_in_use "$PORT"; do
        PORT=$((PORT + 1))
        if [ "$PORT" -gt $((FIRST_PORT + 100)) ]; then log "no free port near $FIRST_PORT"; exit 1; fi
    done
    log "starting on 127.0.0.1:$PORT"
    as_owner "$BIN/pg_ctl" -D "$DATA_DIR" -l "$DATA_DIR/server.log" -w -t 60 \
        -o "-p $PORT -k $DATA_DIR -c listen_addresses=127.0.0.1 -c max_connections=200" \
        start >/dev/null
fi

psql_q() { "$BIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -tA -c "$1"; }
if [ "$(psql_q "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" != "1" ]; then
    log "creating database $DB_NAME"
    psql_q "CREATE DATABASE \"$DB_NAME\"" >/dev/null
fi

if [ -n "$TLS" ]; then
    echo "export TRAILSPARK_TEST_POSTGRES_TLS_URL=postgres://postgres@localhost:$PORT/$DB_NAME"
    echo "export TRAILSPARK_TEST_POSTGRES_TLS_CA=$DATA_DIR/ca.crt"
else
    echo "export TRAILSPARK_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$PORT/$DB_NAME"
fi
