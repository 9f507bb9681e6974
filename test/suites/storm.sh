#!/usr/bin/env bash
# test/suites/storm.sh -- short form of the concurrency storm (test/stress/storm.sh)
# for make test: 8 clients for 20 s.  The long form is documented in
# doc/reliability.md (STORM_SECONDS=120 bash test/stress/storm.sh).
cd "$(dirname "$0")/../.."
STORM_SECONDS=${STORM_SECONDS:-20} STORM_CLIENTS=${STORM_CLIENTS:-8} exec bash test/stress/storm.sh
