#!/bin/bash
# The main job with the supervisor: start pmqd, run producers and consumers
# (examples/pmq-demo), SIGKILL a consumer that holds 3 messages and let pmqd
# bring them back, show `pmqctl stat`, and end with the latency summary.
# Usage: daemon/demo.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
shift || true
dir=$(mktemp -d /dev/shm/pmq-demo.XXXXXX)
export PMQ_DIR=$dir
log=$dir/pmqd.log
cleanup() {
	[[ -n ${pmqd_pid:-} ]] && kill "$pmqd_pid" 2>/dev/null && wait "$pmqd_pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

"$build/daemon/pmqd" --dir "$dir" --probe-ms 200 >"$log" 2>&1 &
pmqd_pid=$!
for _ in $(seq 100); do [[ -S $dir/.pmqd.sock ]] && break; sleep 0.05; done
[[ -S $dir/.pmqd.sock ]] || { echo "demo: pmqd did not start:"; cat "$log"; exit 1; }
echo "demo: pmqd (pid $pmqd_pid) supervises $dir"

rc=0
"$build/examples/pmq-demo" --no-recover --keep "$@" || rc=$?

echo
echo "demo: what pmqd logged:"
sed 's/^/  /' "$log"
echo
echo "demo: pmqctl stat demo"
"$build/daemon/pmqctl" --dir "$dir" stat demo | sed 's/^/  /' || true
"$build/daemon/pmqctl" --dir "$dir" delete demo >/dev/null 2>&1 || true
exit $rc
