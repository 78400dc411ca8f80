#!/bin/bash
# Automatic failover, ROUNDS times (default 50): kill -9 the primary pmqd and
# its producer; the standby's witness sees the leader key expire in etcd,
# campaigns and promotes itself within TTL + 1 s; every replicated-acked send
# is on it, nothing phantom, nothing twice. The old primary is re-joined as
# the new standby (pmqctl rejoin --yes) and the roles swap for the next round.
# TTL 2 s (lib.sh's default is 1 s): with a 1 s TTL the fence margin is 500 ms, and a
# 2-core CI runner with the suite's other tests beside it once held a keepalive past
# that, so the primary fenced itself (correctly) before the round could kill it
TTL_MS=${TTL_MS:-2000}
. "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-50}
start_etcd
KEY=/pmq/test$$/leader
W=(--witness "etcd://127.0.0.1:$ETCD_PORT" --witness-ttl-ms "$TTL_MS" --witness-key "$KEY")
A=$P B=$S
PORT_A=$(free_port) PORT_B=$(free_port)
start_pmqd nodeB "$B" --standby --listen 127.0.0.1:$PORT_B --replicate-to 127.0.0.1:$PORT_A "${W[@]}"
ctl "$A" create orders --slots 1024 --payload 64 >/dev/null || fail "create"
start_pmqd nodeA "$A" --replicate-to 127.0.0.1:$PORT_B "${W[@]}"
prim=$A stby=$B prim_pid=$nodeA_PID stby_pid=$nodeB_PID prim_port=$PORT_A stby_port=$PORT_B
worst=0 total=0 acked=0 late=0
for r in $(seq 1 "$ROUNDS"); do
	wait_until 10 holding "$prim" || fail "round $r: the primary $prim does not hold the key"
	wait_until 10 receiving "$stby" || fail "round $r: the standby $stby has no session"
	base=$((r * 1000000))
	: >"$T/ok.$r"
	"$WITNESS_TOOL" send "$prim" orders $base "$T/ok.$r" >"$T/send.$r.out" 2>&1 &
	prod=$!
	PIDS+=("$prod")
	wait_until 5 test -s "$T/ok.$r" || fail "round $r: no replicated send succeeded on $prim"
	sleep 0.2
	kill -9 "$prim_pid" "$prod"
	t0=$(now_ms)
	wait "$prim_pid" "$prod" 2>/dev/null
	hard=$(((TTL_MS + 3000) / 10)) # TTL + 3 s, in 10 ms steps
	for _ in $(seq $hard); do is_role "$stby" primary && break; sleep 0.01; done
	t1=$(now_ms)
	is_role "$stby" primary || fail "round $r: the standby did not promote itself within TTL + 3 s"
	dt=$((t1 - t0))
	# TTL + 1 s is the aim, counted and reported (a descheduled pmqd on a loaded 2-core CI
	# runner can overshoot it: seen 2.3 s once); the TTL + 3 s wait above is the hard bound
	[ $dt -le $((TTL_MS + 1000)) ] || { late=$((late + 1)); echo "note: round $r: promotion took $dt ms > TTL $TTL_MS ms + 1 s"; }
	[ $dt -gt $worst ] && worst=$dt
	total=$((total + dt))
	"$REPL_TOOL" drain "$stby" orders "$T/after.$r" 100 >/dev/null || fail "round $r: drain"
	check_round "$T/ok.$r" "$T/after.$r" $base
	acked=$((acked + $(wc -l <"$T/ok.$r")))
	# the old primary comes back as the new standby
	ctl "$prim" rejoin --yes >"$T/rejoin.$r" 2>&1 || fail "round $r: rejoin: $(cat "$T/rejoin.$r")"
	rm -rf "$prim"/diverged-*
	start_pmqd "node$r" "$prim" --standby --listen 127.0.0.1:$prim_port --replicate-to 127.0.0.1:$stby_port "${W[@]}"
	eval "new_pid=\$node${r}_PID"
	t=$prim; prim=$stby; stby=$t
	t=$prim_port; prim_port=$stby_port; stby_port=$t
	prim_pid=$stby_pid; stby_pid=$new_pid
done
echo "PASS: $ROUNDS automatic failovers (TTL $TTL_MS ms): promotion after kill -9 worst $worst ms, mean $((total / ROUNDS)) ms, $late over TTL + 1 s; $acked replicated-acked sends, none lost, none phantom"
