#!/bin/sh
# fanout_smoke.sh PMQ_BENCH CSV - a tiny run of `pmq-bench -m fanout` over every
# subject; each must report round-trip and throughput numbers (a CSV row "ok"
# with samples, a p50 and a rate), except iceoryx and zmq, which may be skipped
# when they are absent (not built in, or iox-roudi not running): the reason is
# printed. The pmq subjects (default queue, one group, four groups) must run.
set -u
bench=$1
csv=$2
rm -f "$csv"
out=$("$bench" -m fanout -n 200 -w 20 -d 1 -r 1 -S 64 --csv "$csv" 2>&1)
rc=$?
echo "$out"
fail=0
[ "$rc" -eq 0 ] || { echo "fanout_smoke: pmq-bench exited with $rc"; fail=1; }
for s in pmq pmq-group1 pmq-groups iceoryx zmq; do
	# columns: mode,subject,subs,size,rep,cpu_pub,cpu_subs,slots,status,rt_samples,rt_p50_ns,...,msgs_per_s (15)
	row=$(awk -F, -v s="$s" '$1 == "fanout" && $2 == s && $9 == "ok" && $10 > 0 && $11 > 0 && $15 > 0' "$csv" 2>/dev/null)
	if [ -n "$row" ]; then
		echo "fanout_smoke: $s reports numbers: $row"
		continue
	fi
	case $s in
	iceoryx | zmq)
		why=$(echo "$out" | grep "^fanout: skip $s: ")
		if [ -n "$why" ]; then
			echo "fanout_smoke: $s skipped, not failed (${why#"fanout: skip $s: "})"
			continue
		fi
		;;
	esac
	echo "fanout_smoke: $s has no round-trip and throughput numbers in $csv"
	fail=1
done
exit $fail
