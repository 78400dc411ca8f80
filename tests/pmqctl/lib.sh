# Shared by the pmqctl tests: the binaries (arguments 1 and 2, or $PMQCTL and
# $PMQD, so the same test can be run against an older build), a private queue
# directory, check helpers that count failures, cleanup of what we started.
PMQCTL=${1:-$PMQCTL}
PMQD=${2:-$PMQD}
if [ ! -x "$PMQCTL" ] || [ ! -x "$PMQD" ]; then
	echo "usage: $0 PMQCTL PMQD" >&2
	exit 2
fi
T=$(mktemp -d /tmp/pmqctl-test.XXXXXX)
chmod 755 "$T" # an unprivileged user must be able to reach the directory below
D=$T/q
mkdir -p "$D"
FAILS=0
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

ctl() { "$PMQCTL" --dir "$D" "$@"; }

ok() { echo "ok   - $*"; }
bad() { echo "FAIL - $*"; FAILS=$((FAILS + 1)); }

# expect_rc WANT DESCRIPTION -- COMMAND...: runs it (ctl as pmqctl --dir $D) under a
# timeout, keeps stdout in $OUT and stderr in $ERR
expect_rc() {
	local want=$1 what=$2
	shift 3
	if [ "$1" = ctl ]; then shift; set -- "$PMQCTL" --dir "$D" "$@"; fi
	local wrap=(timeout -s KILL 20) # a hang fails the check (137) instead of the whole test
	declare -F "$1" >/dev/null && wrap=()
	OUT=$("${wrap[@]}" "$@" 2>"$T/stderr")
	local rc=$?
	ERR=$(cat "$T/stderr")
	if [ "$rc" = "$want" ]; then ok "$what (exit $rc)"; else bad "$what: exit $rc, want $want; stderr: $ERR"; fi
}

# start_pmqd ARGS...: a pmqd on $D, waits for its socket
start_pmqd() {
	"$PMQD" --dir "$D" --scan-ms 100 "$@" >>"$T/pmqd.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 100); do [ -S "$D/.pmqd.sock" ] && "$PMQCTL" --dir "$D" status >/dev/null 2>&1 && return 0; sleep 0.05; done
	echo "pmqd did not start:"; cat "$T/pmqd.log"; exit 1
}

finish() {
	if [ "$FAILS" -ne 0 ]; then echo "$FAILS check(s) failed"; exit 1; fi
	echo "all checks passed"
	exit 0
}
