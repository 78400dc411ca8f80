#!/bin/bash
# kill -9 the whole primary (pmqd, producers, consumer) during load with
# replicated sends; promote the standby: every send that had returned success
# is there or was consumed on the primary, in order, exactly once per ticket.
# Then the old primary comes back: it is fenced; pmqctl rejoin makes it a
# standby of the new primary, which resyncs it.
. "$(dirname "$0")/lib.sh"
PORT=$(free_port)
start_pmqd standby "$S" --standby --listen 127.0.0.1:$PORT
for q in orders trades; do ctl "$P" create $q --slots 256 --payload 64 >/dev/null || fail "create $q"; done
start_pmqd primary "$P" --replicate-to 127.0.0.1:$PORT --repl-policy block
wait_until 10 connected || fail "replicator never connected"
for q in orders trades; do
	"$REPL_TOOL" send "$P" $q 1000000 sync "$T/ok.$q" >"$T/send.$q.out" 2>&1 &
	PIDS+=($!); eval "SEND_$q=$!"
done
# a consumer on the primary acks part of "orders", so the floor moves
"$REPL_TOOL" drain "$P" orders "$T/consumed.orders" >/dev/null 2>&1 &
CONS=$!; PIDS+=($CONS)
sleep 2
# the host dies: everything on it at once
kill -9 "$primary_PID" "$SEND_orders" "$SEND_trades" "$CONS"
wait "$primary_PID" "$SEND_orders" "$SEND_trades" "$CONS" 2>/dev/null
n_ok=$(cat "$T"/ok.* | wc -l)
[ "$n_ok" -gt 100 ] || fail "only $n_ok replicated sends returned success in 2 s"
ctl "$S" promote >"$T/promote.out" || fail "promote: $(cat "$T/promote.out")"
grep -q "epoch 2" "$T/promote.out" || fail "promote did not bump the epoch: $(cat "$T/promote.out")"
for q in orders trades; do
	"$REPL_TOOL" drain "$S" $q "$T/after.$q" >/dev/null || fail "drain $q"
	touch "$T/consumed.$q"
	# every acknowledged send is on the standby, or was consumed on the primary
	missing=$(sort -n "$T/ok.$q" | comm -23 - <( (cut -d' ' -f1 "$T/after.$q"; cut -d' ' -f1 "$T/consumed.$q") | sort -n -u))
	[ -z "$missing" ] || fail "$q: $(echo "$missing" | wc -l) acknowledged send(s) lost, first $(echo "$missing" | head -1)"
	# exactly once per ticket, and in order (one producer per queue: seq grows with ticket)
	dups=$(cut -d' ' -f4 "$T/after.$q" | sort | uniq -d | head -1)
	[ -z "$dups" ] || fail "$q: ticket $dups delivered twice after promotion"
	sort -n -k4 "$T/after.$q" | awk 'NR > 1 && $1 <= prev { bad = 1 } { prev = $1 } END { exit bad }' ||
		fail "$q: order broken after promotion"
	echo "$q: $(wc -l <"$T/ok.$q") acknowledged, $(wc -l <"$T/consumed.$q") consumed on the primary, $(wc -l <"$T/after.$q") on the promoted standby"
done
# the new primary takes producers at the new epoch
"$REPL_TOOL" send "$S" orders 10 none | grep -q "sent 10 ok" || fail "promoted standby refuses producers"
# the old primary returns: it meets epoch 2 and fences itself
start_pmqd oldprimary "$P" --replicate-to 127.0.0.1:$PORT
wait_until 10 grep -q "fencing this node" "$T/oldprimary.log" || fail "old primary not fenced"
wait_until 5 grep -q "fenced: queue" "$T/oldprimary.log" || fail "no queue fenced"
out=$("$REPL_TOOL" send "$P" orders 1 none 2>&1)
echo "$out" | grep -q "sent 0 ok" || fail "fenced old primary accepted a producer: $out"
grep -q "role fenced" "$P/.pmqd.repl" || fail "fenced state not recorded"
# rejoin it as a standby of the new primary, which resyncs it
kill "$oldprimary_PID"; wait "$oldprimary_PID" 2>/dev/null
ctl "$P" rejoin >"$T/rejoin.out" || fail "rejoin: $(cat "$T/rejoin.out")"
PORT2=$(free_port)
start_pmqd rejoined "$P" --standby --listen 127.0.0.1:$PORT2
kill "$standby_PID"; wait "$standby_PID" 2>/dev/null
start_pmqd newprimary "$S" --replicate-to 127.0.0.1:$PORT2
"$REPL_TOOL" send "$S" orders 50 sync | grep -q "sent 50 ok" || fail "replicated sends to the rejoined standby"
sleep 0.5
a=$("$REPL_TOOL" digest "$S" orders | sed 's/head [0-9]* //'); b=$("$REPL_TOOL" digest "$P" orders | sed 's/head [0-9]* //')
[ "$a" = "$b" ] || fail "rejoined standby differs: new primary [$a], rejoined [$b]"
echo "PASS: failover, fencing and rejoin ($n_ok replicated sends acknowledged before the kill)"
