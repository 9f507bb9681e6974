# scripts/pgenv.sh -- shared shell functions: packages, build, throwaway cluster.
#
# Sourced by scripts/run.sh, the test suites and the benchmark runner.
#
#   awa_ensure_packages     install missing Debian packages (apt-get)
#   awa_build_install       make && make install
#   awa_cluster_start [profile]
#                           initdb + start a throwaway cluster on a unix
#                           socket and a loopback port; exports PGHOST,
#                           PGPORT, PGUSER, PGDATABASE, AWA_PGDATA,
#                           AWA_PG_BINDIR and registers its removal on exit
#   awa_pg_ctl ARGS...      run pg_ctl against that cluster as its owner
#   awa_cluster_stop        stop and remove the cluster (also on exit)
#
# Settings from the environment:
#   PG_CONFIG   pg_config of the PostgreSQL to build against (default: the
#               one on PATH); a private copy of the server can be used by
#               pointing this at its pg_config.
#   AWA_PORT    loopback port (default: a free one between 20000 and 29999)
#   AWA_SERVER_WRAPPER
#               command prefix the postmaster is started under (valgrind)

: "${PG_CONFIG:=pg_config}"
export PG_CONFIG

# Run a command as root: directly when we are root, else through sudo.
awa_as_root() {
	if [ "$(id -u)" = 0 ]; then
		"$@"
	else
		sudo "$@"
	fi
}

awa_log() {
	echo "== $*" >&2
}

# Install what this project needs from Debian's archive, only when missing.
awa_ensure_packages() {
	local need=()
	command -v "$PG_CONFIG" >/dev/null 2>&1 || need+=(postgresql-15 postgresql-server-dev-15)
	local sharedir=""
	if command -v "$PG_CONFIG" >/dev/null 2>&1; then
		sharedir=$("$PG_CONFIG" --sharedir)
		[ -f "$("$PG_CONFIG" --pgxs)" ] || need+=(postgresql-server-dev-15)
		[ -x "$("$PG_CONFIG" --bindir)/initdb" ] || need+=(postgresql-15)
	fi
	[ -n "$sharedir" ] && [ -f "$sharedir/extension/pgtap.control" ] || need+=(postgresql-15-pgtap)
	[ -n "$sharedir" ] && [ -f "$sharedir/extension/pg_cron.control" ] || need+=(postgresql-15-cron)
	[ -n "$sharedir" ] && [ -f "$sharedir/extension/pgq.control" ] || need+=(postgresql-15-pgq3)
	command -v pg_prove >/dev/null 2>&1 || need+=(libtap-parser-sourcehandler-pgtap-perl)
	command -v make >/dev/null 2>&1 || need+=(make)
	command -v gcc >/dev/null 2>&1 || need+=(gcc)
	command -v psql >/dev/null 2>&1 || need+=(postgresql-client-15)
	command -v pgbench >/dev/null 2>&1 || need+=(postgresql-contrib)
	if [ ${#need[@]} -gt 0 ]; then
		awa_log "installing missing packages: ${need[*]}"
		awa_as_root apt-get update -qq
		awa_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
	fi
	AWA_PG_BINDIR=$("$PG_CONFIG" --bindir)
	export AWA_PG_BINDIR
}

# Build the extension and install it into the server's directories.
awa_build_install() {
	awa_log "building awa_queue"
	make -s PG_CONFIG="$PG_CONFIG" >/dev/null
	local libdir
	libdir=$("$PG_CONFIG" --pkglibdir)
	if [ -w "$libdir" ]; then
		make -s PG_CONFIG="$PG_CONFIG" install >/dev/null
	else
		awa_as_root make -s PG_CONFIG="$PG_CONFIG" install >/dev/null
	fi
}

# Run a server-side program (initdb, pg_ctl, postgres) as the cluster owner.
awa_as_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

awa_pick_port() {
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 10000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	echo 25432
}

# Start a throwaway cluster.  Profile "test" (default) sets the GUCs the
# test suites rely on; profile "bench" keeps production-like durability.
awa_cluster_start() {
	local profile=${1:-test}
	AWA_PGDATA=$(mktemp -d "${TMPDIR:-/tmp}/awa_pg.XXXXXX")
	export AWA_PGDATA
	if [ "$(id -u)" = 0 ]; then
		chown postgres: "$AWA_PGDATA"
	fi
	chmod 700 "$AWA_PGDATA"
	PGPORT=${AWA_PORT:-$(awa_pick_port)}
	export PGPORT
	PGHOST=$AWA_PGDATA
	export PGHOST
	PGUSER=postgres
	export PGUSER
	PGDATABASE=postgres
	export PGDATABASE
	trap awa_cluster_stop EXIT
	awa_log "initdb in $AWA_PGDATA (port $PGPORT, profile $profile)"
	awa_as_owner "$AWA_PG_BINDIR/initdb" -D "$AWA_PGDATA/data" -U postgres \
		-A trust -E UTF8 --locale=C.UTF-8 -N >"$AWA_PGDATA/initdb.log" 2>&1 || {
		cat "$AWA_PGDATA/initdb.log" >&2
		return 1
	}
	cat <<EOF | awa_as_owner tee -a "$AWA_PGDATA/data/postgresql.conf" >/dev/null
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$AWA_PGDATA'
shared_preload_libraries = 'pg_cron'
cron.database_name = 'awa_cron'
max_connections = 100
max_prepared_transactions = 4
log_lock_waits = on
log_line_prefix = '%m [%p] %a '
EOF
	if [ "$profile" = bench ]; then
		cat <<EOF | awa_as_owner tee -a "$AWA_PGDATA/data/postgresql.conf" >/dev/null
shared_buffers = '1GB'
max_wal_size = '4GB'
synchronous_commit = ${AWA_BENCH_SYNCHRONOUS_COMMIT:-on}
EOF
	else
		cat <<EOF | awa_as_owner tee -a "$AWA_PGDATA/data/postgresql.conf" >/dev/null
fsync = off
deadlock_timeout = '50ms'
shared_buffers = '256MB'
EOF
	fi
	if [ -n "${AWA_SERVER_WRAPPER:-}" ]; then
		# e.g. valgrind: start the postmaster under the wrapper and wait
		awa_as_owner bash -c "cd '$AWA_PGDATA' && exec $AWA_SERVER_WRAPPER '$AWA_PG_BINDIR/postgres' -D '$AWA_PGDATA/data' >>'$AWA_PGDATA/server.log' 2>&1" &
		local i
		for i in $(seq 1 300); do
			"$AWA_PG_BINDIR/pg_isready" -q -h "$PGHOST" -p "$PGPORT" && break
			sleep 1
		done
		"$AWA_PG_BINDIR/pg_isready" -q -h "$PGHOST" -p "$PGPORT" || {
			cat "$AWA_PGDATA/server.log" >&2
			return 1
		}
	else
		awa_pg_ctl start -w -t 60 -l "$AWA_PGDATA/server.log" >/dev/null || {
			cat "$AWA_PGDATA/server.log" >&2
			return 1
		}
	fi
	psql -q -X -v ON_ERROR_STOP=1 -c "CREATE DATABASE awa_cron" >/dev/null
}

awa_pg_ctl() {
	awa_as_owner "$AWA_PG_BINDIR/pg_ctl" -D "$AWA_PGDATA/data" "$@"
}

# Stop the cluster and remove its folder; safe to call twice.
awa_cluster_stop() {
	if [ -n "${AWA_PGDATA:-}" ] && [ -d "$AWA_PGDATA" ]; then
		if [ -n "${AWA_KEEP_LOG:-}" ] && [ -f "$AWA_PGDATA/server.log" ]; then
			cp "$AWA_PGDATA/server.log" "$AWA_KEEP_LOG" 2>/dev/null || true
		fi
		awa_pg_ctl stop -m immediate >/dev/null 2>&1 || true
		rm -rf "$AWA_PGDATA"
	fi
	AWA_PGDATA=
}
