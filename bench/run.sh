#!/bin/sh
# bench/run.sh - the standard comparison of pmq against the floor and the
# peers, in under 5 minutes on a 2-core machine. Installs what bench/deps.txt
# lists when run as root and something is missing, builds pmq-bench, starts
# iox-roudi for the iceoryx peer (and stops it again), then runs:
#   1. latency: rt and oneway at 64 B and 1 KiB, every transport, 3 reps
#   2. latency at a fixed rate (coordinated omission accounted) at 64 B
#   3. throughput at 64 B, 1 KiB and 64 KiB, pmq batched (32), 3 reps
#   4. throughput per message (pmq unbatched) against the same floor
#   5. pmq in power mode (PMEM_IS_PMEM_FORCE=1 on tmpfs) against the floor
#   6. 2 producers x 2 consumers (pmq MPMC and POSIX mq)
# Output: the tables on the terminal and in $OUT/pmq-bench.log, one CSV per
# step and all of them in $OUT/pmq-bench.csv, PNG plots in $OUT.
#
# usage: bench/run.sh [--cpus A,B] [--out DIR] [--quick]
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cpus=0,1
out="$root/bench/results"
build="$root/build-bench"
quick=0
while [ $# -gt 0 ]; do
	case "$1" in
	--cpus) cpus=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	--quick) quick=1; shift ;;
	*) echo "usage: $0 [--cpus A,B] [--out DIR] [--build DIR] [--quick]" >&2; exit 2 ;;
	esac
done

# --- dependencies -------------------------------------------------------------
missing=""
for p in $(grep -v '^#' "$here/deps.txt"); do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" = 0 ]; then
		echo "run.sh: installing$missing"
		apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null ||
			echo "run.sh: could not install$missing; the peers they bring will be skipped"
	else
		echo "run.sh: missing$missing (run as root to install them); those peers will be skipped"
	fi
fi

# --- build --------------------------------------------------------------------
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPMQ_BUILD_DAEMON=OFF >/dev/null || exit 1
make -C "$build" -j2 pmq-bench >/dev/null || { echo "run.sh: build failed" >&2; exit 1; }
bench="$build/bench/pmq-bench"

# --- iox-roudi ----------------------------------------------------------------
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
		echo "run.sh: iox-roudi already running; using it (its pools must fit 64 KiB: bench/roudi.toml)"
	else
		iox-roudi -c "$here/roudi.toml" -l warning >/dev/null 2>&1 &
		roudi_pid=$!
		sleep 1.5
	fi
fi

# --- the runs -----------------------------------------------------------------
mkdir -p "$out"
log="$out/pmq-bench.log"
: >"$log"
status=0
step() {
	name=$1
	shift
	echo "=== $name: pmq-bench $*" | tee -a "$log"
	{ "$bench" --cpus "$cpus" --csv "$out/$name.csv" "$@" 2>&1; echo $? >"$out/.rc"; } | tee -a "$log"
	[ "$(cat "$out/.rc")" = 0 ] || status=1
	rm -f "$out/.rc"
	echo | tee -a "$log"
}
if [ $quick = 1 ]; then
	n=20000 reps=1 tn=500000
else
	n=100000 reps=3 tn=5000000
fi
start=$(date +%s)
step latency -m rt,oneway -s 64,1k -n $n -r $reps -d 2 --plot "$out/latency.png" -q
step rate -m rate -s 64 -R 100000 -n $n -r $reps -d 1 --plot "$out/rate.png" -q
step tput -m tput -s 64,1k,64k -n $tn -r $reps -d 1 -b 32 -q
step tput-unbatched -m tput -s 64 -n $tn -r $reps -d 1 -b 1 -t floor-ring,pmq -q
step power -m rt -s 64 -n $n -r $reps -d 2 -D power -t floor-cl,pmq -q
step mpmc -m tput -s 64 -n $tn -r 1 -d 1 -b 32 --pc 2x2 -W spin-futex -t pmq,mq -q
end=$(date +%s)

# one CSV with every step (the header once)
first=1
for f in latency rate tput tput-unbatched power mpmc; do
	[ -f "$out/$f.csv" ] || continue
	if [ $first = 1 ]; then
		sed "s/^/step,/; 1s/^step,/step,/; 2,\$s/^step,/$f,/" "$out/$f.csv" >"$out/pmq-bench.csv"
		first=0
	else
		tail -n +2 "$out/$f.csv" | sed "s/^/$f,/" >>"$out/pmq-bench.csv"
	fi
done
echo "run.sh: $((end - start)) s of measuring; results in $out (pmq-bench.log, pmq-bench.csv, *.png)" | tee -a "$log"
exit $status
