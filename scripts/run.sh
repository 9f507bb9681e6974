#!/usr/bin/env bash
# scripts/run.sh -- the two newcomer commands behind "make demo" and "make test".
#
#   bash scripts/run.sh demo   install what is missing, build, start a
#                              throwaway cluster, run the demo, stop it
#   bash scripts/run.sh test   same set-up, then every test suite
#
# Works as root (the server then runs as the "postgres" user) and as a
# normal user with sudo for apt-get and make install.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/pgenv.sh
. scripts/pgenv.sh

mode=${1:-test}
case "$mode" in
	demo | test) ;;
	*)
		echo "usage: $0 demo|test" >&2
		exit 2
		;;
esac

awa_ensure_packages
awa_build_install
awa_cluster_start test
if [ "$mode" = demo ]; then
	bash scripts/demo.sh
else
	bash scripts/test.sh
fi
