#!/bin/bash
# kill -9 of the whole primary (pmqd, producer, the groups' consumers) during load on
# a queue with two reliable groups (a: one consumer acking; b: one acking and one
# nacking a few at a time, so its redeliveries live in the side area, tagged b) and a
# lossy one; promote the standby: every send that returned success (PMQ_REPLICATED)
# was consumed by each reliable group on the primary or is delivered to that group on
# the promoted standby. Nothing lost per group; duplicates (what was settled within
# the last few ms, after the last group frame, and what was out above a floor) are
# reported, and bounded well below "every message again".
. "$(dirname "$0")/lib.sh"
PORT=$(free_port)
ctl "$P" create fan --slots 256 --payload 64 --quota 64 --max-groups 4 --group a --group b --group t:lossy \
	>"$T/create.out" 2>&1 || fail "create fan with groups: $(cat "$T/create.out")"
start_pmqd standby "$S" --standby --listen 127.0.0.1:$PORT
start_pmqd primary "$P" --replicate-to 127.0.0.1:$PORT --repl-policy block
wait_until 10 connected || fail "replicator never connected"
wait_until 10 grep -q 'queue "fan" resumes at ticket' "$T/primary.log" || fail "fan never joined the link"
"$REPL_TOOL" send "$P" fan 1000000 sync "$T/ok" >"$T/send.out" 2>&1 &
SEND=$!; PIDS+=($SEND)
REPL_GROUP=a "$REPL_TOOL" drain "$P" fan "$T/consumed.a" 5000 >/dev/null 2>&1 &
CA=$!; PIDS+=($CA)
REPL_GROUP=b "$REPL_TOOL" drain "$P" fan "$T/consumed.b" 5000 >/dev/null 2>&1 &
CB=$!; PIDS+=($CB)
( child=; trap '[ -n "$child" ] && kill -9 $child 2>/dev/null; exit 0' TERM
  while :; do
	REPL_GROUP=b "$REPL_TOOL" consume "$P" fan nack 3 /dev/null >/dev/null 2>&1 & child=$!
	wait $child; sleep 0.01
  done ) &
NACKER=$!; PIDS+=($NACKER)
# pmqctl itself in the background (not the ctl function: $! would name a subshell, and
# killing that left pmqctl running after the test)
PMQ_DIR=$P "$PMQCTL" recv fan --group t --follow >/dev/null 2>&1 &
CT=$!; PIDS+=($CT)
sleep 2
kill -TERM "$NACKER" # it kill -9s its repl_tool child, if one runs now, and ends
kill -9 "$primary_PID" "$SEND" "$CA" "$CB" "$CT"
wait "$primary_PID" "$SEND" "$CA" "$CB" "$CT" "$NACKER" 2>/dev/null
n_ok=$(wc -l <"$T/ok")
[ "$n_ok" -gt 100 ] || fail "only $n_ok replicated sends returned success in 2 s"
ctl "$S" promote >"$T/promote.out" || fail "promote: $(cat "$T/promote.out")"
for g in a b; do
	REPL_GROUP=$g "$REPL_TOOL" drain "$S" fan "$T/after.$g" 1000 >/dev/null || fail "drain $g on the promoted standby"
	missing=$(sort -n "$T/ok" | comm -23 - <( (cut -d' ' -f1 "$T/after.$g"; cut -d' ' -f1 "$T/consumed.$g") | sort -n -u))
	[ -z "$missing" ] || fail "group $g: $(echo "$missing" | wc -l) acknowledged send(s) lost, first $(echo "$missing" | head -1)"
	dups=$( (cut -d' ' -f1 "$T/after.$g"; cut -d' ' -f1 "$T/consumed.$g") | sort -n | uniq -d | wc -l)
	# the floor the standby had is at most a few ms old: a group that kept up with the
	# producer gets only that window again, not its whole history (no floors: every one)
	[ "$dups" -lt $((n_ok / 4)) ] || fail "group $g: $dups of $n_ok messages delivered again: its floor was not replicated"
	redel=$(ctl "$S" --json group stat fan $g | grep -o '"redelivered":[0-9]*' | cut -d: -f2)
	echo "group $g: $n_ok acknowledged sends, $(wc -l <"$T/consumed.$g") consumed on the primary, $(wc -l <"$T/after.$g") on the promoted standby, $dups delivered twice overall, redelivered counted $redel"
done
echo "PASS: no acknowledged send lost for either reliable group across the failover"
