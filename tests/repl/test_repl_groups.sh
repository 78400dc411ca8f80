#!/bin/bash
# A queue with consumer groups is replicated with its groups (docs/failover.md,
# "Consumer groups"): the group table, each reliable group's settled floor, a lossy
# group's cursor, and the group tag of side entries. Two reliable groups and one
# lossy; 40 messages seq 0..39. Group a consumes and acks all, group b acks 0..19,
# holds 20 (its consumer is still alive when the host dies), acks 21..23 (settled
# above its floor) and nacks 24 (a redelivery in the side area, tagged b: taken last,
# as a redelivery comes before the ring); the lossy group t reads 0..9. A group made (with its own
# 400 ms lease) and one deleted on the live primary follow. The primary host dies; the standby is promoted:
#   a gets nothing again;
#   b gets every one of 20..39 (nothing lost), the duplicates only among 21..24 (those
#     settled above its floor) and counted in its redelivered figure;
#   t resumes at its cursor (10..39); the group list is the primary's, group leases included.
. "$(dirname "$0")/lib.sh"
PORT=$(free_port)
if ! ctl "$P" create fan --slots 64 --payload 64 --quota 64 --max-groups 6 --group a --group b --group t:lossy \
	>"$T/create.out" 2>&1; then
	grep -q "no consumer groups\|not supported\|ENOSYS\|not implemented" "$T/create.out" &&
		{ echo "SKIP: this libpmq cannot create a queue with groups: $(cat "$T/create.out")"; exit 77; }
	fail "create fan with groups: $(cat "$T/create.out")"
fi
ctl "$P" create plain --slots 16 --payload 64 >/dev/null || fail "create plain"
start_pmqd standby "$S" --standby --listen 127.0.0.1:$PORT
start_pmqd primary "$P" --replicate-to 127.0.0.1:$PORT --repl-policy block
wait_until 10 connected || fail "replicator never connected"
grep -q 'queue "fan" joins link' "$T/primary.log" || wait_until 10 grep -q 'queue "fan" joins link' "$T/primary.log" ||
	fail "fan never joined the replication link"
ctl "$P" group create fan gone >/dev/null || fail "group create gone"
"$REPL_TOOL" send "$P" fan 40 sync "$T/ok" >"$T/send.out" 2>&1 || fail "send: $(cat "$T/send.out")"
[ "$(wc -l <"$T/ok")" = 40 ] || fail "only $(wc -l <"$T/ok") of 40 replicated sends succeeded"
REPL_GROUP=a "$REPL_TOOL" consume "$P" fan ack 40 "$T/a.before" >/dev/null || fail "group a: consume 40"
REPL_GROUP=b "$REPL_TOOL" consume "$P" fan ack 20 "$T/b.before" >/dev/null || fail "group b: consume 20"
REPL_GROUP=b "$REPL_TOOL" consume "$P" fan hold 1 "$T/b.held" >"$T/hold.out" 2>&1 &
HOLD=$!; PIDS+=($HOLD)
wait_until 10 grep -q "holding 1" "$T/hold.out" || fail "group b: the holder took nothing"
REPL_GROUP=b "$REPL_TOOL" consume "$P" fan ack 3 "$T/b.acked" >/dev/null || fail "group b: ack 3"
REPL_GROUP=b "$REPL_TOOL" consume "$P" fan nack 1 "$T/b.nacked" >/dev/null || fail "group b: nack 1"
[ "$(cut -d' ' -f1 "$T/b.held")" = 20 ] && [ "$(cut -d' ' -f1 "$T/b.nacked")" = 24 ] ||
	fail "group b took $(cat "$T/b.held" "$T/b.nacked" | cut -d' ' -f1 | tr '\n' ' ') (want 20 held, 24 nacked)"
ctl "$P" recv fan --group t -n 10 >/dev/null || fail "group t: recv 10"
ctl "$P" group create fan late --lease-ms 400 >/dev/null || fail "group create late --lease-ms 400"
ctl "$P" group delete fan gone >/dev/null || fail "group delete gone"
ctl "$P" --json group list fan >"$T/groups.primary" || fail "group list on the primary"
wait_until 10 lag_zero fan || fail "fan: lag never 0"
# the standby's mirror (an observer's view) has caught up with the groups: b's floor at
# ticket 20 (seq 20, held), the table without "gone", "late" there, the nacked message
# in the side area
mirror_synced() {
	ctl "$S" --json group list fan >"$T/groups.mirror" 2>/dev/null || return 1
	grep -q '"group":"late",[^}]*"lease_ms":400}' "$T/groups.mirror" && ! grep -q '"group":"gone"' "$T/groups.mirror" &&
		grep -q '"group":"b","kind":"reliable","index":1,"head":20,' "$T/groups.mirror" &&
		grep -q '"group":"a","kind":"reliable","index":0,"head":40,' "$T/groups.mirror" &&
		grep -q '"group":"t","kind":"lossy","index":2,"head":10,' "$T/groups.mirror" &&
		grep -q '"group":"b",[^}]*"side_ready":1,' "$T/groups.mirror"
}
wait_until 10 mirror_synced || fail "the mirror's groups never matched: $(cat "$T/groups.mirror")"
frames=$(ctl "$P" --json repl | grep -o '"sent_group_frames":[0-9]*' | cut -d: -f2)
echo "group frames sent: $frames"
# the host dies, its consumers with it (b's holder still holds seq 20)
kill -9 "$primary_PID" "$HOLD"
wait "$primary_PID" "$HOLD" 2>/dev/null
ctl "$S" promote >"$T/promote.out" || fail "promote: $(cat "$T/promote.out")"
recv_seqs() { # GROUP: every message the promoted standby gives the group now, "seq delivery_count" lines
	ctl "$S" recv fan --group "$1" -n 200 --timeout 300 --jsonl 2>/dev/null |
		sed -n 's/.*"delivery_count":\([0-9]*\),.*"text":"seq=\([0-9]*\)".*/\2 \1/p'
}
recv_seqs a >"$T/a.after"
[ ! -s "$T/a.after" ] || fail "group a acked everything, yet got $(wc -l <"$T/a.after") again: $(cut -d' ' -f1 "$T/a.after" | tr '\n' ' ')"
recv_seqs b >"$T/b.after"
missing=$(comm -23 <(seq 20 39 | sort) <(cut -d' ' -f1 "$T/b.after" | sort -u))
[ -z "$missing" ] || fail "group b lost $(echo $missing) after promotion (got: $(cut -d' ' -f1 "$T/b.after" | tr '\n' ' '))"
extra=$(cut -d' ' -f1 "$T/b.after" | awk '$1 < 20 || $1 > 39' | head -3)
[ -z "$extra" ] || fail "group b got $extra again (settled below its floor)"
dups=$(cut -d' ' -f1 "$T/b.after" | sort -n | uniq -d | tr '\n' ' ')
for d in $dups; do [ "$d" -ge 21 ] && [ "$d" -le 24 ] || fail "group b got seq $d twice (only 21..24 may come again)"; done
# (the held message 20 comes again from the ring: its delivery count is the slot's, shared by
# the groups, so the group's redelivered figure below is what counts it)
grep -q '^24 [2-9]' "$T/b.after" || fail "the nacked message 24 did not come back from the side area in group b"
ctl "$S" --json group stat fan b >"$T/b.stat" || fail "group stat b"
redel=$(grep -o '"redelivered":[0-9]*' "$T/b.stat" | cut -d: -f2)
[ "${redel:-0}" -ge 5 ] || fail "group b's redelivered is ${redel:-none}, want >= 5 (20 held, 21..23 above the floor, 24 nacked)"
recv_seqs t >"$T/t.after"
[ "$(cut -d' ' -f1 "$T/t.after" | tr '\n' ' ')" = "$(seq 10 39 | tr '\n' ' ')" ] ||
	fail "lossy group t did not resume at its cursor: $(cut -d' ' -f1 "$T/t.after" | tr '\n' ' ')"
names() { grep -o '"group":"[^"]*","kind":"[a-z]*"' "$1" | sort; }
[ "$(names "$T/groups.primary")" = "$(names "$T/groups.mirror")" ] ||
	fail "group lists differ: primary [$(names "$T/groups.primary" | tr '\n' ' ')], promoted [$(names "$T/groups.mirror" | tr '\n' ' ')]"
ctl "$S" --json group list fan >"$T/groups.promoted" || fail "group list on the promoted standby"
[ "$(names "$T/groups.primary")" = "$(names "$T/groups.promoted")" ] || fail "the promoted group list differs"
# the group leases came along: late's own 400 ms, the others the queue's (0)
leases() { grep -o '"group":"[^"]*",[^}]*"lease_ms":[0-9]*' "$1" | sed 's/"group":"\([^"]*\)".*"lease_ms":\([0-9]*\)/\1=\2/' | sort; }
[ "$(leases "$T/groups.promoted")" = "$(printf 'a=0\nb=0\nlate=400\nt=0')" ] ||
	fail "the promoted standby's group leases: $(leases "$T/groups.promoted" | tr '\n' ' ') (want a=0 b=0 late=400 t=0)"
# the promoted node takes producers; every reliable group gets the new messages
"$REPL_TOOL" send "$S" fan 5 none | grep -q "sent 5 ok" || fail "the promoted standby refuses producers"
for g in a b late; do
	n=$(recv_seqs $g | wc -l)
	[ "$n" = 5 ] || fail "group $g got $n of the 5 messages sent after promotion"
done
# a clean stop of the promoted node lets go of every handle (a sanitizer build would say)
kill -TERM "$standby_PID"
wait "$standby_PID"
rc=$?
[ "$rc" = 0 ] || fail "the promoted pmqd exited $rc on SIGTERM"
grep -q "Sanitizer\|runtime error" "$T/standby.log" && fail "a sanitizer report in the standby's log"
echo "b after promotion: $(wc -l <"$T/b.after") deliveries for 20 unsettled messages (duplicates: ${dups:-none}; redelivered $redel)"
echo "PASS: groups replicated: a nothing again, b every message from its floor, t from its cursor, same group list"
