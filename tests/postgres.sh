# Sourced (`. tests/postgres.sh`), not run: starts a throwaway PostgreSQL cluster in a
# temporary folder on a free local port, exports SEAM_TEST_POSTGRES for it, and defines
# stop_pg, which stops it and removes the folder (call it from your EXIT trap). Used by
# .ci/run for the test suite and by bench/replicas.sh. Needs PostgreSQL's server
# binaries (Debian: apt-get install postgresql); as root, the cluster runs as the
# `postgres` user, which that package creates.
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$pg_bin" ] && command -v pg_ctl >/dev/null; then
  pg_bin=$(dirname "$(command -v pg_ctl)")
fi
if [ -z "$pg_bin" ]; then
  echo "no PostgreSQL server binaries (initdb, pg_ctl): install them (Debian: apt-get install postgresql)" >&2
  return 2 2>/dev/null || exit 2
fi
pg_dir=$(mktemp -d)
as_pg=""
if [ "$(id -u)" = 0 ]; then
  chown postgres "$pg_dir"
  as_pg="runuser -u postgres --"
fi
pg_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
stop_pg() {
  $as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$pg_dir"
}
$as_pg "$pg_bin/initdb" -D "$pg_dir/data" -U seam --auth=trust -E UTF8 >/dev/null
$as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w \
  -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
export SEAM_TEST_POSTGRES="postgres://seam@127.0.0.1:$pg_port"
