#!/usr/bin/env bash
# Installs (if missing) and starts a local PostgreSQL for the ledger tests,
# listening on 127.0.0.1 only, with a role and database for the tests.
# Idempotent; run as root on Debian 12. Prints the DSN as an export line:
#   eval "$(.ci/postgres.sh)"
# Progress goes to stderr so that stdout is only the export line.
set -euo pipefail

PGUSER_NAME="${SMSGW_PG_USER:-smsgw}"
PGPASS="${SMSGW_PG_PASSWORD:-smsgw}"
PGDB="${SMSGW_PG_DB:-smsgw_test}"
PGPORT="${SMSGW_PG_PORT:-5432}"

log() { echo "postgres.sh: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
	log "must run as root"
	exit 1
fi

have_server() {
	compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}

if ! have_server; then
	log "installing postgresql"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update >&2
	apt-get install -y --no-install-recommends postgresql >&2
fi

VER="$(ls /usr/lib/postgresql | sort -V | tail -n1)"
CLUSTER=main

if ! pg_lsclusters -h | awk -v v="$VER" -v c="$CLUSTER" '$1==v && $2==c {f=1} END {exit !f}'; then
	log "creating cluster $VER/$CLUSTER"
	pg_createcluster "$VER" "$CLUSTER" --port "$PGPORT" >&2
fi

CONF="/etc/postgresql/$VER/$CLUSTER/postgresql.conf"
# Loopback only; the ledger tests create and drop many schemas, fsync is not
# needed for a throwaway test cluster.
sed -i -E "s/^#?listen_addresses\s*=.*/listen_addresses = '127.0.0.1'/" "$CONF"
sed -i -E "s/^#?port\s*=.*/port = $PGPORT/" "$CONF"
grep -q '^fsync = off' "$CONF" || echo 'fsync = off' >>"$CONF"
grep -q '^synchronous_commit = off' "$CONF" || echo 'synchronous_commit = off' >>"$CONF"

status="$(pg_lsclusters -h | awk -v v="$VER" -v c="$CLUSTER" '$1==v && $2==c {print $4}')"
if [ "$status" != "online" ]; then
	log "starting cluster $VER/$CLUSTER"
	# Stale pid files after an unclean stop make pg_ctlcluster refuse.
	pg_ctlcluster "$VER" "$CLUSTER" start >&2 || {
		rm -f "/var/lib/postgresql/$VER/$CLUSTER/postmaster.pid"
		pg_ctlcluster "$VER" "$CLUSTER" start >&2
	}
else
	pg_ctlcluster "$VER" "$CLUSTER" reload >&2
fi

for _ in $(seq 1 50); do
	if su postgres -c "psql -p $PGPORT -Atqc 'select 1'" >/dev/null 2>&1; then
		break
	fi
	sleep 0.2
done

psql_admin() { su postgres -c "psql -p $PGPORT -v ON_ERROR_STOP=1 -Atq $*"; }

if [ "$(psql_admin "-c \"select 1 from pg_roles where rolname='$PGUSER_NAME'\"")" != "1" ]; then
	log "creating role $PGUSER_NAME"
	psql_admin "-c \"create role $PGUSER_NAME login password '$PGPASS'\""
fi
if [ "$(psql_admin "-c \"select 1 from pg_database where datname='$PGDB'\"")" != "1" ]; then
	log "creating database $PGDB"
	psql_admin "-c \"create database $PGDB owner $PGUSER_NAME\""
fi

echo "export SMSGW_TEST_POSTGRES_DSN=postgres://$PGUSER_NAME:$PGPASS@127.0.0.1:$PGPORT/$PGDB?sslmode=disable"
