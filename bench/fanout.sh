#!/bin/sh
# bench/fanout.sh - the fan-out comparison of issue 11 (docs/benchmarks.md,
# "Fan-out"), about a minute on a 2-core machine. Builds pmq-bench
# (RelWithDebInfo) unless --bench names one, starts iox-roudi for iceoryx if
# none runs (and stops it again), then runs:
#   1. fanout: 1 publisher x 4 subscribers, 64 B, round trip to all four and
#      throughput in the same processes: pmq with 4 reliable groups, iceoryx
#      publish/subscribe, ZeroMQ PUB/SUB over ipc://; plus 1 x 1 rows of the
#      default queue and of a queue with one group (same blocking waits)
#   1b. the pmq rows again with the batch calls in the throughput phase (-b 32;
#      iceoryx and zmq have none)
#   2. one-group: the default queue against a queue with one group in the
#      headline method (interleaved rt blocks with the floors, busy-polling;
#      then 1 x 1 throughput, batch 32 and 1, interleaved by repetition)
#   2b. per-group: one receiver that is a member of 1, 2 and 4 groups and takes
#      every message from each (pmq-group1, -group2, -group4), same method:
#      the cost of each further group
# Output: the tables on the terminal and in OUT/fanout.log, OUT/STEP.csv per
# step (and the block CSVs of step 2). OUT defaults to BUILD/fanout-results.
#
# usage: bench/fanout.sh [--cpus A,B] [--out DIR] [--build DIR] [--bench PMQ_BENCH] [--quick]
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cpus=0,1
out=""
build="$root/build-bench"
bench=""
quick=0
while [ $# -gt 0 ]; do
	case "$1" in
	--cpus) cpus=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	--bench) bench=$2; shift 2 ;;
	--quick) quick=1; shift ;;
	*) echo "usage: $0 [--cpus A,B] [--out DIR] [--build DIR] [--bench PMQ_BENCH] [--quick]" >&2; exit 2 ;;
	esac
done
[ -n "$out" ] || out="$build/fanout-results"
if [ -z "$bench" ]; then
	cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPMQ_BUILD_DAEMON=OFF >/dev/null || exit 1
	nice -n 10 cmake --build "$build" -j2 --target pmq-bench >/dev/null || { echo "fanout.sh: build failed" >&2; exit 1; }
	bench="$build/bench/pmq-bench"
fi

roudi_pid=""
cleanup() {
	if [ -n "$roudi_pid" ]; then
		kill "$roudi_pid" 2>/dev/null
		wait "$roudi_pid" 2>/dev/null
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if command -v iox-roudi >/dev/null 2>&1; then
	if [ -S /tmp/roudi ] && pgrep -x iox-roudi >/dev/null 2>&1; then
		echo "fanout.sh: iox-roudi already running; using it"
	else
		iox-roudi -c "$here/roudi.toml" -l warning >/dev/null 2>&1 &
		roudi_pid=$!
		sleep 1.5
	fi
else
	echo "fanout.sh: no iox-roudi (apt-get install iceoryx): iceoryx is skipped"
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
log="$out/fanout.log"
: >"$log"
for f in fanout fanout-batch32 one-group-rt per-group-rt one-group-tput one-group-tput-unbatched; do
	rm -f "$out/$f.csv" "$out/$f-blocks.csv" "$out/$f-summary.csv"
done
status=0
step() {
	name=$1
	shift
	t0=$(date +%s)
	echo "=== $name: pmq-bench $*" | tee -a "$log"
	{ "$bench" --cpus "$cpus" --csv "$out/$name.csv" "$@" 2>&1; echo $? >"$out/.rc"; } | tee -a "$log"
	[ "$(cat "$out/.rc")" = 0 ] || status=1
	echo "=== $name: $(($(date +%s) - t0)) s" | tee -a "$log"
}
if [ $quick = 1 ]; then
	n=2000 reps=1 blocks=10 treps=1
else
	n=20000 reps=3 blocks=100 treps=5
fi
step fanout -m fanout -s 64 -n $n -d 1 -r $reps
step fanout-batch32 -m fanout -s 64 -n $n -d 1 -r $reps -b 32 -t pmq,pmq-group1,pmq-groups
step one-group-rt -m rt -s 64 -r 2 --blocks $blocks -t pmq,pmq-group1
# what each further group costs: one receiver in 1, 2 and 4 groups on the same pinned pair
step per-group-rt -m rt -s 64 -r 2 --blocks $blocks -t pmq-group1,pmq-group2,pmq-group4
step one-group-tput -m tput -s 64 -r $treps -d 0.5 -b 32 -t floor-ring,pmq,pmq-group1
step one-group-tput-unbatched -m tput -s 64 -r $treps -d 0.5 -b 1 -t floor-ring,pmq,pmq-group1
rm -f "$out/.rc"
echo "fanout.sh: results in $out"
exit $status
