#!/usr/bin/env bash
# Runs once, when the PostgreSQL volume is initialised: one role and one
# database per service (the smsgw ledger is shared by every smsgw instance;
# the IVR's read model is its own). Passwords come from the environment.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
	-v smsgw_pw="$SMSGW_DB_PASSWORD" -v ivr_pw="$IVR_DB_PASSWORD" <<'SQL'
CREATE ROLE smsgw LOGIN PASSWORD :'smsgw_pw';
CREATE DATABASE smsgw OWNER smsgw;
CREATE ROLE ivr LOGIN PASSWORD :'ivr_pw';
CREATE DATABASE ivr OWNER ivr;
SQL
