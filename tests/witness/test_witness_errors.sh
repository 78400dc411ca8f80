#!/bin/bash
# What the witness does when etcd or the key is not what it expects: clear
# errors, no promotion, nothing replicated-acked lost.
#  1. etcd unreachable at start: the primary fences itself after a TTL (it
#     cannot prove it leads), the standby does not promote.
#  2. the key written by something else (no lease): the same, naming the value.
#  3. while the primary holds the key, the key is overwritten by something
#     else: the primary fences, the standby (key held without a lease) does not
#     promote; every acked send is still on the old primary's mirror.
#  4. the primary's lease is revoked behind its back: it fences at once; the
#     standby (in sync) promotes; every acked send is there.
#  5. `pmqctl promote` refuses while a witness is configured.
. "$(dirname "$0")/lib.sh"
start_etcd
PORT_B=$(free_port)
DEAD=$(free_port)
# 1 ------------------------------------------------------------------------
W=(--witness "etcd://127.0.0.1:$DEAD" --witness-ttl-ms "$TTL_MS" --witness-key /pmq/e1/leader)
start_pmqd sb1 "$S" --standby --listen 127.0.0.1:$PORT_B "${W[@]}"
ctl "$P" create orders --slots 1024 --payload 64 >/dev/null || fail "create"
start_pmqd pr1 "$P" --replicate-to 127.0.0.1:$PORT_B "${W[@]}"
wait_until 10 is_role "$P" fenced || fail "1: a primary that cannot reach etcd did not fence itself"
grep -q "cannot reach etcd to take /pmq/e1/leader" "$T/pr1.log" || fail "1: no clear error on the primary"
grep -q "cannot reach etcd" "$T/sb1.log" || fail "1: no clear error on the standby"
is_role "$S" standby || fail "1: the standby promoted without etcd"
ctl "$S" promote >"$T/promote.out" 2>&1 && fail "5: promote accepted under a witness"
grep -q "witness (etcd) decides promotion" "$T/promote.out" || fail "5: unclear refusal: $(cat "$T/promote.out")"
kill "$pr1_PID" "$sb1_PID"; wait "$pr1_PID" "$sb1_PID" 2>/dev/null
reset_nodes() { rm -rf "$P" "$S"; mkdir -p "$P" "$S"; ctl "$P" create orders --slots 1024 --payload 64 >/dev/null || fail "create"; }
# 2 ------------------------------------------------------------------------
reset_nodes
etcd_put /pmq/e2/leader intruder || fail "2: cannot write the key"
W=(--witness "etcd://127.0.0.1:$ETCD_PORT" --witness-ttl-ms "$TTL_MS" --witness-key /pmq/e2/leader)
start_pmqd sb2 "$S" --standby --listen 127.0.0.1:$PORT_B "${W[@]}"
start_pmqd pr2 "$P" --replicate-to 127.0.0.1:$PORT_B "${W[@]}"
wait_until 10 is_role "$P" fenced || fail "2: the primary served although \"intruder\" holds the key"
grep -q 'is held by "intruder".*something else wrote it' "$T/pr2.log" || fail "2: no clear error on the primary"
wait_until 5 grep -q 'holds "intruder" without a lease' "$T/sb2.log" || fail "2: no clear error on the standby"
is_role "$S" standby || fail "2: the standby promoted past a foreign key"
kill "$pr2_PID" "$sb2_PID"; wait "$pr2_PID" "$sb2_PID" 2>/dev/null
# 3 and 4 ------------------------------------------------------------------
for c in 3 4; do
	reset_nodes
	K=/pmq/e$c/leader
	W=(--witness "etcd://127.0.0.1:$ETCD_PORT" --witness-ttl-ms "$TTL_MS" --witness-key $K)
	start_pmqd sb$c "$S" --standby --listen 127.0.0.1:$PORT_B "${W[@]}"
	M=() # case 4 also reads the witness's series on /metrics (pmqd built with libmicrohttpd)
	if [ $c = 4 ] && [ "${PMQD_HAS_METRICS:-OFF}" = ON ] && command -v curl >/dev/null; then
		MPORT=$(free_port); M=(--metrics-listen 127.0.0.1:$MPORT)
	elif [ $c = 4 ]; then
		echo "note: /metrics part skipped (pmqd built without libmicrohttpd, or no curl)"
	fi
	start_pmqd pr$c "$P" --replicate-to 127.0.0.1:$PORT_B "${W[@]}" "${M[@]}"
	wait_until 10 holding "$P" || fail "$c: the primary does not hold the key"
	scrape() { curl -fsS "http://127.0.0.1:$MPORT/metrics" >"$T/metrics.4"; }
	if [ ${#M[@]} -gt 0 ]; then
		scrape || fail "4: GET /metrics"
		grep -qx 'pmq_witness_state{state="holding"} 1' "$T/metrics.4" &&
			grep -qx 'pmq_witness_state{state="fenced"} 0' "$T/metrics.4" &&
			grep -q '^pmq_witness_lease_remaining_seconds [0-9]' "$T/metrics.4" &&
			grep -q '^pmq_witness_last_renewal_age_seconds [0-9]' "$T/metrics.4" ||
			fail "4: /metrics does not show the witness holding the key: $(grep witness "$T/metrics.4")"
	fi
	wait_until 10 receiving "$S" || fail "$c: no session"
	: >"$T/ok.$c"
	"$WITNESS_TOOL" send "$P" orders 0 "$T/ok.$c" >"$T/send.$c.out" 2>&1 &
	PROD=$!; PIDS+=("$PROD")
	wait_until 5 test -s "$T/ok.$c" || fail "$c: no replicated send"
	sleep 0.2
	if [ $c = 3 ]; then
		etcd_put $K intruder || fail "3: put"
		wait_until 5 is_role "$P" fenced || fail "3: the primary did not fence when its key was overwritten"
		grep -q "was overwritten by something else: now intruder" "$T/pr3.log" || fail "3: no clear error"
		sleep $(( TTL_MS * 2 / 1000 + 1 ))
		is_role "$S" standby || fail "3: the standby promoted past a foreign key"
		wait "$PROD" 2>/dev/null
		grep -q "refused: queue is fenced" "$T/send.3.out" || fail "3: the producer was not fenced"
		wait_until 5 grep -q "holds \"intruder\" without a lease" "$T/sb3.log" || fail "3: no clear error on the standby"
		etcd_del $K
	else
		lease=$(ctl "$P" repl --json | sed -n 's/.*"lease_id":"\([0-9a-f]*\)".*/\1/p')
		[ -n "$lease" ] || fail "4: no lease id in repl --json"
		curl -sf -X POST "$ETCD_URL/v3/lease/revoke" -d "{\"ID\":\"$((16#$lease))\"}" >/dev/null || fail "4: revoke"
		wait_until 5 is_role "$P" fenced || fail "4: the primary did not fence when its lease was revoked"
		if [ ${#M[@]} -gt 0 ]; then
			fenced_metric() { scrape && grep -qx 'pmq_witness_state{state="fenced"} 1' "$T/metrics.4"; }
			wait_until 5 fenced_metric || fail "4: /metrics does not show the witness fenced"
			! grep -q '^pmq_witness_lease_remaining_seconds' "$T/metrics.4" || fail "4: a fenced node shows lease time left"
		fi
		grep -q "etcd no longer knows lease $lease\|leader key $K was deleted" "$T/pr4.log" || fail "4: no clear error"
		wait "$PROD" 2>/dev/null
		wait_until 5 is_role "$S" primary || fail "4: the in-sync standby did not take over a free key"
		"$REPL_TOOL" drain "$S" orders "$T/after.4" 200 >/dev/null || fail "4: drain"
		check_round "$T/ok.4" "$T/after.4" 0
	fi
	pa=$(eval echo \$pr${c}_PID) pb=$(eval echo \$sb${c}_PID)
	kill "$pa" "$pb" 2>/dev/null; wait "$pa" "$pb" 2>/dev/null
done
echo "PASS: etcd unreachable, a foreign key at start, a key overwritten, a lease revoked: clear errors, no wrong promotion, nothing lost; promote refused under a witness"
