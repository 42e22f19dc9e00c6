# shellcheck shell=bash
# ensure_postgres: export PTM_TEST_POSTGRES_URL pointing at a reachable PostgreSQL.
#  1. PTM_TEST_POSTGRES_URL already set      -> used as is (must answer).
#  2. the machine's server on 127.0.0.1:5432 -> database "test" (created if missing).
#  3. otherwise a private throw-away server from the installed binaries (initdb, pg_ctl)
#     on a free port under var/pg-test, stopped when the calling script exits.
# It never silently skips: if none of these works it prints what is missing and fails.

_pg_bin() {
  local b
  for b in "$(command -v "$1" 2>/dev/null)" /usr/lib/postgresql/*/bin/"$1" /usr/local/pgsql/bin/"$1"; do
    [ -n "$b" ] && [ -x "$b" ] && { echo "$b"; return 0; }
  done
  return 1
}

_pg_answers() {  # url
  python - "$1" <<'PY'
import sys, psycopg
try:
    with psycopg.connect(sys.argv[1], connect_timeout=3) as c:
        c.execute("SELECT 1")
except Exception as e:
    print(f"  not reachable: {e}".splitlines()[0], file=sys.stderr)
    sys.exit(1)
PY
}

ensure_postgres() {
  if [ -n "${PTM_TEST_POSTGRES_URL:-}" ]; then
    _pg_answers "$PTM_TEST_POSTGRES_URL" && return 0
    echo "PTM_TEST_POSTGRES_URL=$PTM_TEST_POSTGRES_URL does not answer." >&2
    return 1
  fi
  local machine="postgresql://postgres@127.0.0.1:5432"
  if _pg_answers "$machine/postgres" 2>/dev/null; then
    python - "$machine/postgres" <<'PY'
import sys, psycopg
with psycopg.connect(sys.argv[1], autocommit=True) as c:
    if not c.execute("SELECT 1 FROM pg_database WHERE datname='test'").fetchone():
        c.execute("CREATE DATABASE test")
PY
    export PTM_TEST_POSTGRES_URL="$machine/test"
    echo "PostgreSQL: using the machine's server at 127.0.0.1:5432, database test"
    return 0
  fi
  local initdb pg_ctl
  initdb=$(_pg_bin initdb) && pg_ctl=$(_pg_bin pg_ctl) || {
    echo "PostgreSQL is required by the test suite and none is available:" >&2
    echo "  no server answers on 127.0.0.1:5432 and no initdb/pg_ctl binaries were found." >&2
    echo "  Install PostgreSQL (Debian: apt-get install postgresql) or set PTM_TEST_POSTGRES_URL." >&2
    return 1
  }
  local dir port run_as=()
  dir="$(pwd)/var/pg-test"
  port=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  rm -rf "$dir"; mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then  # initdb refuses to run as root
    id postgres >/dev/null 2>&1 || { echo "running as root and no 'postgres' user to run initdb" >&2; return 1; }
    chown postgres "$dir"; run_as=(runuser -u postgres --)
  fi
  echo "PostgreSQL: no server on 127.0.0.1:5432; starting a private one ($initdb) on port $port"
  "${run_as[@]}" "$initdb" -D "$dir/data" -U postgres -A trust --no-sync >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; return 1; }
  "${run_as[@]}" "$pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null \
    || { cat "$dir/server.log" >&2; return 1; }
  _PTM_PRIVATE_PG=("${run_as[@]}" "$pg_ctl" -D "$dir/data" -m immediate stop)
  trap '"${_PTM_PRIVATE_PG[@]}" >/dev/null 2>&1 || true' EXIT
  "${run_as[@]}" "$(dirname "$initdb")/createdb" -h 127.0.0.1 -p "$port" -U postgres test
  export PTM_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$port/test"
}
