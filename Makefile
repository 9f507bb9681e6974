# awa_queue: PGXS build of the job queue extension

EXTENSION = awa_queue
EXTVERSION = $(shell grep default_version $(EXTENSION).control | sed -e "s/default_version[[:space:]]*=[[:space:]]*'\([^']*\)'/\1/")
MODULE_big = awa_queue
PGFILEDESC = "awa_queue - durable, bloat-free job queue"

OBJS = \
	src/awa_queue.o \
	src/awa_guc.o \
	src/awa_spi.o \
	src/awa_planner.o \
	src/awa_validate.o \
	src/awa_counters.o \
	src/awa_admin.o \
	src/awa_stats.o \
	src/awa_storage.o \
	src/awa_tam.o \
	src/awa_receipts.o \
	src/awa_unique.o \
	src/awa_enqueue.o \
	src/awa_heads.o \
	src/awa_queue_meta.o \
	src/awa_direct.o \
	src/awa_claim.o \
	src/awa_claim_direct.o \
	src/awa_complete.o \
	src/awa_complete_direct.o \
	src/awa_counts.o \
	src/awa_ring.o \
	src/awa_maintenance.o \
	src/awa_attempt.o \
	src/awa_fail.o \
	src/awa_heartbeat.o \
	src/awa_unclaimed.o \
	src/awa_cancel.o \
	src/awa_promote.o \
	src/awa_rescue.o \
	src/awa_terminal.o \
	src/awa_dlq.o \
	src/awa_compat.o

DATA = $(EXTENSION)--$(EXTVERSION).sql $(wildcard $(EXTENSION)--*--*.sql)

REGRESS = \
	install \
	admin \
	counters \
	enqueue \
	claim \
	complete \
	counts \
	fail \
	cancel \
	recovery \
	terminal \
	dlq \
	compat \
	ring \
	privileges

REGRESS_OPTS = --load-extension=$(EXTENSION)

ISOLATION = \
	rebuild_vs_terminal_writer \
	claim_vs_claim \
	claim_busy_lane \
	claim_kept_ranking \
	claim_empty_check \
	complete_vs_complete \
	counters_direct_order \
	enqueue_vs_claim \
	enqueue_free_lane \
	enqueue_vs_enqueue \
	prune_vs_writer \
	rotate_vs_enqueue \
	maintenance_concurrent \
	prune_claims_vs_complete \
	cancel_vs_complete \
	rescue_vs_complete \
	promote_vs_claim \
	cancel_vs_claim \
	compat_delete_vs_claim \
	compat_delete_vs_complete \
	dlq_move_vs_retry \
	fail_across_slots \
	heartbeat_vs_complete \
	counts_vs_writers \
	queue_meta_kept \
	notify_enabled

ISOLATION_OPTS = --load-extension=$(EXTENSION)

PG_CFLAGS += -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# every object depends on the shared header (PGXS does not track headers)
$(OBJS): src/awa_queue.h

# Fail when the control file and the release notes disagree on the version.
checkver:
	@grep -q "^## $(EXTVERSION)\b" doc/CHANGELOG.md || \
		(echo "doc/CHANGELOG.md has no section for version $(EXTVERSION)"; exit 1)

# One command for a newcomer: install what is missing, build, start a
# throwaway cluster, run the demo (or every test suite), stop the cluster.
demo:
	bash scripts/run.sh demo

test:
	bash scripts/run.sh test

bench:
	bash bench/run.sh

.PHONY: checkver demo test bench

# Static analysis of the C sources (also run by the test suite).
CPPCHECK_FLAGS = -q --enable=warning,performance,portability --error-exitcode=1 \
	--inline-suppr --suppress=missingIncludeSystem --max-configs=1 -D__GNUC__ \
	-I $(shell $(PG_CONFIG) --includedir-server) --suppress='*:/usr/include/*'

cppcheck:
	cppcheck $(CPPCHECK_FLAGS) src/

.PHONY: cppcheck

# The regression and isolation suites with the server under valgrind memcheck.
valgrind:
	bash scripts/valgrind.sh

.PHONY: valgrind
