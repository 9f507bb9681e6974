#!/usr/bin/env bash
# test/suites/cppcheck.sh -- cppcheck reports nothing on src/ (make cppcheck).
cd "$(dirname "$0")/../.."
if ! command -v cppcheck >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ]; then apt-get install -y -qq cppcheck >/dev/null 2>&1; else sudo apt-get install -y -qq cppcheck >/dev/null 2>&1; fi
fi
if make -s cppcheck PG_CONFIG="${PG_CONFIG:-pg_config}"; then
	echo "cppcheck: no findings"
	echo "1 passed, 0 failed"
else
	echo "cppcheck: findings above"
	echo "0 passed, 1 failed"
	exit 1
fi
