#!/usr/bin/env bash
# test/suites/docs_coverage.sh -- the docs stay true to the install script:
# every function and view of schema awa has a section in doc/awa_queue.md,
# and the control file's version has release notes (make checkver).
cd "$(dirname "$0")/../.."
passed=0
failed=0
for obj in $(grep -oE "CREATE (OR REPLACE )?(FUNCTION|VIEW) awa\.[a-z_]+" awa_queue--22.sql | awk '{print $NF}' | sort -u); do
	# internal objects documented as such are named in the doc too
	if grep -qE "${obj//./\\.}\b" doc/awa_queue.md; then
		passed=$((passed + 1))
	else
		echo "not ok - $obj is not documented in doc/awa_queue.md"
		failed=$((failed + 1))
	fi
done
if make -s checkver >/dev/null 2>&1; then
	passed=$((passed + 1))
else
	echo "not ok - make checkver: doc/CHANGELOG.md has no section for the control file's version"
	failed=$((failed + 1))
fi
echo "docs: $passed objects and checks documented"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
