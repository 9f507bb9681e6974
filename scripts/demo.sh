#!/usr/bin/env bash
# scripts/demo.sh -- a short tour of awa_queue against the running
# throwaway cluster (see scripts/run.sh demo).
set -euo pipefail
cd "$(dirname "$0")/.."
psql -q -X -c "DROP DATABASE IF EXISTS awa_demo" >/dev/null 2>&1
psql -q -X -v ON_ERROR_STOP=1 -c "CREATE DATABASE awa_demo" >/dev/null
export PGDATABASE=awa_demo
psql -X -v ON_ERROR_STOP=1 -e -f examples/psql/demo.sql
