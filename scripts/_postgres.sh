# Sourced by scripts/test and scripts/bench (or run: `scripts/_postgres.sh start|stop DIR`):
# a private PostgreSQL for the sync tests and benchmarks (docs/sync.md).
#
# ensure_postgres: install Debian's `postgresql` when its binaries are missing (as root), initdb a
# cluster into a private folder as an unprivileged user (PostgreSQL refuses to run as root), start
# it on a free port on 127.0.0.1 with password (SCRAM) authentication, and export
# CHAT_SIDECAR_TEST_PG_DSN (no password in it) and CHAT_SIDECAR_TEST_PG_PASSWORD.
# stop_postgres stops it (scripts/test calls it on exit).
set -euo pipefail

PG_USER_OS="${CHAT_SIDECAR_PG_OS_USER:-chatsidecar-pg}"

_pg_bindir() {
    local dir
    for dir in /usr/lib/postgresql/*/bin; do
        if [ -x "$dir/initdb" ]; then echo "$dir"; fi
    done | sort -V | tail -1
}

_pg_as() {
    if [ "$(id -u)" = "0" ]; then runuser -u "$PG_USER_OS" -- "$@"; else "$@"; fi
}

pg_start() {
    local dir="$1" bindir port
    bindir="$(_pg_bindir)"
    if [ -z "$bindir" ]; then
        if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
            echo "installing postgresql (Debian package) for the sync tests..." >&2
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2 ||
                { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2; }
            bindir="$(_pg_bindir)"
        fi
        if [ -z "$bindir" ]; then echo "no PostgreSQL available" >&2; return 1; fi
    fi
    if [ "$(id -u)" = "0" ] && ! id "$PG_USER_OS" >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_USER_OS"
    fi
    mkdir -p "$dir"
    chmod 0755 "$dir"
    if [ "$(id -u)" = "0" ]; then chown "$PG_USER_OS" "$dir"; fi
    local password
    password="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
    printf '%s\n' "$password" >"$dir/.pw"
    if [ "$(id -u)" = "0" ]; then chown "$PG_USER_OS" "$dir/.pw"; fi
    chmod 0600 "$dir/.pw"
    _pg_as "$bindir/initdb" -D "$dir/cluster" -U postgres --pwfile="$dir/.pw" \
        --auth-host=scram-sha-256 --auth-local=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    # Test settings: a private port on loopback, the socket in our folder; fsync off (a test
    # server's durability is not under test: the sidecar's is, in its own data dir).
    _pg_as tee -a "$dir/cluster/postgresql.conf" >/dev/null <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = off
max_connections = 300
shared_buffers = 64MB
CONF
    _pg_as "$bindir/pg_ctl" -D "$dir/cluster" -l "$dir/server.log" -w -t 60 start >/dev/null
    echo "postgresql://postgres@127.0.0.1:$port/postgres" >"$dir/dsn"
    echo "$bindir" >"$dir/bindir"
}

pg_pause() {  # stop the server, keep its data (tests: the hub goes away while devices write)
    _pg_as "$(cat "$1/bindir")/pg_ctl" -D "$1/cluster" -m fast -w stop >/dev/null
}

pg_resume() {
    _pg_as "$(cat "$1/bindir")/pg_ctl" -D "$1/cluster" -l "$1/server.log" -w -t 60 start >/dev/null
}

pg_stop() {
    local dir="$1"
    if [ -f "$dir/bindir" ] && [ -d "$dir/cluster" ]; then
        _pg_as "$(cat "$dir/bindir")/pg_ctl" -D "$dir/cluster" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}

ensure_postgres() {
    if [ -n "${CHAT_SIDECAR_TEST_PG_DSN:-}" ]; then return 0; fi
    PG_DIR="$(mktemp -d /tmp/chat-sidecar-pg.XXXXXX)"
    if pg_start "$PG_DIR"; then
        CHAT_SIDECAR_TEST_PG_DSN="$(cat "$PG_DIR/dsn")"
        CHAT_SIDECAR_TEST_PG_PASSWORD="$(cat "$PG_DIR/.pw")"
        export CHAT_SIDECAR_TEST_PG_DSN CHAT_SIDECAR_TEST_PG_PASSWORD
        echo "== postgresql on $CHAT_SIDECAR_TEST_PG_DSN" >&2
    else
        rm -rf "$PG_DIR"
        PG_DIR=""
        if [ "${CI:-}" = "true" ]; then echo "CI needs PostgreSQL for the sync tests" >&2; return 1; fi
    fi
}

stop_postgres() {
    if [ -n "${PG_DIR:-}" ]; then pg_stop "$PG_DIR"; fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    case "${1:-}" in
        start) pg_start "$2" ;;
        stop) pg_stop "$2" ;;
        pause) pg_pause "$2" ;;
        resume) pg_resume "$2" ;;
        *) echo "usage: $0 start|stop|pause|resume DIR" >&2; exit 2 ;;
    esac
fi
