# Shared by the replication tests: two pmqd, a key, cleanup of what we started.
# Needs PMQD, PMQCTL, REPL_TOOL in the environment (ctest sets them).
set -u
: "${PMQD:?}" "${PMQCTL:?}" "${REPL_TOOL:?}"
T=$(mktemp -d /tmp/pmq-repl-test.XXXXXX)
P=$T/primary S=$T/standby
mkdir -p "$P" "$S"
head -c 32 /dev/urandom | base64 > "$T/key"
chmod 600 "$T/key" # pmqd refuses a key file that group or others may read
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$T"/*.log; do echo "--- $f"; tail -25 "$f"; done; exit 1; }
free_port() { # a port nobody listens on (127.0.0.0/8 only), below the ephemeral range
	# (32768+): a port some outgoing connection holds as its local end cannot be seen by
	# connecting to it, and the standby's bind would then fail
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 12000))
		if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo $p; return; fi
	done
	echo 23999
}
# start_pmqd NAME DIR ARGS...: background pmqd, log in $T/NAME.log, pid in var NAME_PID.
# Returns once pmqd is ready: its control socket exists and, for a standby, its
# replication listener is open (pmqd creates the socket before repl_start opens
# the listener, so the socket alone is not enough; the log line is written after listen()).
start_pmqd() {
	local name=$1 dir=$2 before
	shift 2
	before=$(grep -c "starting (libpmq" "$T/$name.log" 2>/dev/null || true)
	$PMQD --dir "$dir" --repl-key-file "$T/key" --scan-ms 100 "$@" >>"$T/$name.log" 2>&1 &
	local pid=$!
	PIDS+=("$pid")
	eval "${name}_PID=$pid"
	# ready once it logged "starting": after its control socket AND its replication
	# listener are up (the socket alone comes first: a standby's port may not listen yet)
	for _ in $(seq 400); do
		[ "$(grep -c "starting (libpmq" "$T/$name.log" 2>/dev/null)" -gt "${before:-0}" ] && return 0
		kill -0 "$pid" 2>/dev/null || fail "pmqd $name exited at start"
		sleep 0.05
	done
}
ctl() { local dir=$1; shift; PMQ_DIR=$dir "$PMQCTL" "$@"; }
# wait_until SECONDS CMD...: poll until CMD succeeds
wait_until() {
	local n=$(( $1 * 20 )); shift
	for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.05; done
	return 1
}
connected() { ctl "$P" repl 2>/dev/null | grep -q ": connected"; }
lag_zero() { ctl "$P" repl "$1" 2>/dev/null | grep -q "lag 0 entries"; }
