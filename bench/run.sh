#!/bin/sh
# bench/run.sh - the standard comparison of pmq against the floors and the
# peers, in under 8 minutes on a 2-core machine. Installs what bench/deps.txt
# lists when run as root and something is missing, builds pmq-bench, starts
# iox-roudi for the iceoryx peer (and stops it again), then runs:
#   1. latency: rt and oneway at 64 B and 1 KiB as interleaved blocks in one
#      long-lived pinned pair: floor-8, floor-2l, the default queue (pmq),
#      SP/SC (pmq-spsc), the naive ring and floor-8p (the two-line layout of
#      the 8 B floor, to show which layout is the floor), 5 fresh sets of files
#   1b. rt 64 B and 1x1 throughput with 65,536 slots (the ring and pmq), next to 1,024
#   2. the peers (pipe, unix, mq, zmq, iceoryx) interleaved with the floors
#      the same way, rt at 64 B and 1 KiB, 2 sets
#   3. throughput 1x1 at 64 B against the naive ring, batch 32 and 1,
#      interleaved run by run, 11 repetitions each
#   4. throughput of every transport at 64 B and 1 KiB (batch 32), and at
#      64 KiB in a 64-slot ring (batch 16: 4 MiB rings, not 64 MiB ones)
#   5. latency at a fixed rate (coordinated omission accounted) at 64 B
#   6. pmq in power mode (PMEM_IS_PMEM_FORCE=1 on tmpfs), blocks as in 1
#   7. 2 producers x 2 consumers (pmq MPMC and POSIX mq)
# Output: the tables on the terminal and in OUT/pmq-bench.log; per step
# OUT/STEP.csv (one row per run), and for the block steps
# OUT/STEP-blocks.csv (one row per block) and OUT/STEP-summary.csv (one row
# per subject and regime); OUT/blocks-rt-64.png (every block's p50 in order).
# OUT defaults to BUILD/bench-results, never the source tree: pass
# --out bench/results to write the committed results.
#
# usage: bench/run.sh [--cpus A,B] [--out DIR] [--build DIR] [--quick] [--print-out]
# (--print-out: print the output directory it would use, and stop)
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cpus=0,1
out=""
build="$root/build-bench"
quick=0
print_out=0
while [ $# -gt 0 ]; do
	case "$1" in
	--cpus) cpus=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	--quick) quick=1; shift ;;
	--print-out) print_out=1; shift ;;
	*) echo "usage: $0 [--cpus A,B] [--out DIR] [--build DIR] [--quick] [--print-out]" >&2; exit 2 ;;
	esac
done
[ -n "$out" ] || out="$build/bench-results"
if [ $print_out = 1 ]; then
	echo "$out"
	exit 0
fi

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
cmake --build "$build" -j2 --target pmq-bench >/dev/null || { echo "run.sh: build failed" >&2; exit 1; }
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
out=$(cd "$out" && pwd)
log="$out/pmq-bench.log"
: >"$log"
# the files this script writes, and those of the old method, go first (the block CSVs are appended to)
for f in latency latency-65536-slots peers tput-pair tput-pair-unbatched tput-pair-65536-slots tput tput-64k rate power mpmc; do
	rm -f "$out/$f.csv" "$out/$f-blocks.csv" "$out/$f-summary.csv"
done
rm -f "$out/pmq-bench.csv" "$out"/blocks-rt-64* "$out"/rate.png* "$out"/latency-rt-* "$out"/latency-oneway-*
status=0
step() {
	name=$1
	shift
	t0=$(date +%s)
	echo "=== $name: pmq-bench $*" | tee -a "$log"
	{ "$bench" --cpus "$cpus" --csv "$out/$name.csv" "$@" 2>&1; echo $? >"$out/.rc"; } | tee -a "$log"
	[ "$(cat "$out/.rc")" = 0 ] || status=1
	rm -f "$out/.rc"
	echo "=== $name: $(($(date +%s) - t0)) s; load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$log"
	echo | tee -a "$log"
}
if [ $quick = 1 ]; then
	sets=2 blocks=40 psets=1 pblocks=20 n=20000 reps=1 treps=3 tn=500000
else
	# peers: 150 cycles (2 x 150 = 300 blocks each); with 200, iceoryx stopped answering
	# at block 2504 of a set twice (docs/benchmarks.md, "Open problems")
	sets=5 blocks=200 psets=2 pblocks=150 n=100000 reps=3 treps=11 tn=5000000
fi
rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')
git -C "$root" status --porcelain 2>/dev/null | grep -q . && rev="$rev (modified tree)"
{
	echo "run.sh: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $rev, CPUs $cpus"
	echo "run.sh: load average before: $(cut -d' ' -f1-3 /proc/loadavg); shmem THP: $(cat /sys/kernel/mm/transparent_hugepage/shmem_enabled 2>/dev/null)"
	echo
} | tee -a "$log"
start=$(date +%s)
step latency -m rt,oneway -s 64,1k -r $sets --blocks $blocks -t floor-8p,floor-2r,floor-ring,pmq,pmq-spsc
step latency-65536-slots -m rt -s 64 -S 65536 -r 2 --blocks $pblocks -t floor-ring,pmq,pmq-spsc
step peers -m rt -s 64,1k -r $psets --blocks $pblocks -t pipe,unix,mq,zmq,iceoryx
step tput-pair -m tput -s 64 -n $tn -r $treps -d 0.5 -b 32 -t floor-ring,pmq,pmq-spsc -q
step tput-pair-unbatched -m tput -s 64 -n $tn -r $treps -d 0.5 -b 1 -t floor-ring,pmq,pmq-spsc -q
step tput-pair-65536-slots -m tput -s 64 -S 65536 -n $tn -r 5 -d 0.5 -b 32 -t floor-ring,pmq,pmq-spsc -q
step tput -m tput -s 64,1k -n $tn -r $reps -d 0.5 -b 32 -q
step tput-64k -m tput -s 64k -S 64 -n 200000 -r $reps -d 0.5 -b 16 -q
step rate -m rate -s 64 -R 100000 -n $n -r $reps -d 1 --plot "$out/rate.png" -q
step power -m rt -s 64 -r 3 --blocks 100 -D power -t pmq,pmq-spsc
step mpmc -m tput -s 64 -n $tn -r 1 -d 1 -b 32 --pc 2x2 -W spin-futex -t pmq,mq -q
end=$(date +%s)

# one CSV with every per-run step (the header once)
first=1
for f in tput-pair tput-pair-unbatched tput-pair-65536-slots tput tput-64k rate mpmc; do
	[ -f "$out/$f.csv" ] || continue
	if [ $first = 1 ]; then
		sed "1s/^/step,/; 2,\$s/^/$f,/" "$out/$f.csv" >"$out/pmq-bench.csv"
		first=0
	else
		tail -n +2 "$out/$f.csv" | sed "s/^/$f,/" >>"$out/pmq-bench.csv"
	fi
done

# every block's p50 in the order run (rt 64 B, set 1): the regimes and the pairing at a glance
if command -v gnuplot >/dev/null 2>&1 && [ -f "$out/latency-blocks.csv" ]; then
	for k in floor-8 floor-2l floor-ring pmq-spsc pmq; do
		awk -F, -v k="$k" '$1 == "rt" && $2 == 64 && $3 == 1 && $5 == k { print $4, $7 }' \
			"$out/latency-blocks.csv" >"$out/blocks-rt-64-$k.dat"
	done
	{
		echo 'set terminal pngcairo size 1400,600 noenhanced'
		echo "set output '$out/blocks-rt-64.png'"
		echo "set title 'pmq-bench rt 64 B, set 1: p50 of every block in the order run (TSC per sample)'"
		echo "set xlabel 'block'; set ylabel 'round trip p50 (ns)'; set logscale y; set key outside right"
		echo "set yrange [50:20000]   # blocks hit by preemption (ms) are off the top"
		printf 'plot '
		sep=''
		for k in floor-8 floor-2l floor-ring pmq-spsc pmq; do
			printf "%s'%s' with points pt 7 ps 0.4 title '%s'" "$sep" "$out/blocks-rt-64-$k.dat" "$k"
			sep=', '
		done
		echo
	} >"$out/blocks-rt-64.gp"
	gnuplot "$out/blocks-rt-64.gp" 2>>"$log" || echo "run.sh: gnuplot failed on blocks-rt-64.gp" | tee -a "$log"
fi
# the per-block rows run to megabytes: kept gzipped (zcat to read), so a committed run stays small
[ -f "$out/latency-blocks.csv" ] && gzip -9f "$out/latency-blocks.csv"
echo "run.sh: $((end - start)) s of measuring; load average after: $(cut -d' ' -f1-3 /proc/loadavg); results in $out" | tee -a "$log"
exit $status
