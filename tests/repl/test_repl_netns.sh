#!/bin/bash
# The two pmqd in two network namespaces joined by a veth pair, the standby on
# its own address (10.213.77.2, ours alone). Under replicated load, drop the
# veth and bring it back several times; then kill -9 the primary with its
# producer, promote the standby: every acknowledged send is there, in order,
# once per ticket. Needs root and `ip netns` (exits 77 otherwise).
[ "$(id -u)" = 0 ] || { echo "skip: needs root for ip netns"; exit 77; }
command -v ip >/dev/null || { echo "skip: no ip(8)"; exit 77; }
A=pmqA$$ B=pmqB$$
# `ip netns add` mounts /run/netns the first time; leave the machine as we found it
netns_was_mounted=0
mountpoint -q /run/netns 2>/dev/null && netns_was_mounted=1
netns_unmount() {
	if [ $netns_was_mounted = 0 ] && [ -z "$(ls -A /run/netns 2>/dev/null)" ]; then
		umount /run/netns 2>/dev/null
		umount /run/netns 2>/dev/null
	fi
}
ip netns add $A 2>/dev/null || { netns_unmount; echo "skip: ip netns add failed (no permission in this container?)"; exit 77; }
# in a chroot without mount propagation `ip netns add` half-works: probe that exec works
if ! ip netns exec $A true 2>/dev/null; then
	ip netns del $A 2>/dev/null
	netns_unmount
	echo "skip: ip netns exec does not work here (a chroot without mount propagation?)"
	exit 77
fi
. "$(dirname "$0")/lib.sh"
netns_cleanup() { cleanup; ip netns del $A 2>/dev/null; ip netns del $B 2>/dev/null; netns_unmount; }
trap netns_cleanup EXIT
ip netns add $B || fail "netns $B"
ip link add va$$ netns $A type veth peer name vb$$ netns $B || fail "veth"
ip -n $A addr add 10.213.77.1/24 dev va$$ && ip -n $B addr add 10.213.77.2/24 dev vb$$ || fail "addresses"
ip -n $A link set va$$ up && ip -n $B link set vb$$ up && ip -n $A link set lo up && ip -n $B link set lo up
PMQD_REAL=$PMQD
PMQD="ip netns exec $B $PMQD_REAL" start_pmqd standby "$S" --standby --listen 10.213.77.2:7411
# no consumer: the ring must hold every send of the run (a full ring blocks the sender, which
# read as "did not resume" once a fast run passed 65,536 sends before its third cut)
ctl "$P" create orders --slots 524288 --payload 64 >/dev/null || fail create
PMQD="ip netns exec $A $PMQD_REAL" start_pmqd primary "$P" --replicate-to 10.213.77.2:7411 --repl-policy block \
	--repl-timeout-ms 3000
wait_until 10 connected || fail "never connected across the veth"
"$REPL_TOOL" send "$P" orders 10000000 sync "$T/ok" >"$T/send.out" 2>&1 &
SEND=$!; PIDS+=($SEND)
for i in 1 2 3; do
	sleep 0.5; ip -n $A link set va$$ down
	# with the link down no confirmation can arrive: once those already received are
	# processed (1 s: generous, a loaded CI runner may deschedule the primary), no send
	# may be acknowledged until the link is back (a primary that acknowledges before the
	# standby confirms fails here, every run, not only when the kill -9 below happens to
	# catch an unconfirmed entry)
	sleep 1; cut_at=$(wc -l <"$T/ok"); sleep 0.5; cut_end=$(wc -l <"$T/ok")
	ip -n $A link set va$$ up
	[ "$cut_end" = "$cut_at" ] ||
		fail "$((cut_end - cut_at)) send(s) acknowledged while the standby was unreachable (cut $i)"
	# resumes when TCP retransmits (its backoff after a 0.7 s outage can exceed a second)
	# or, at the latest, when the primary's 3 s silence limit makes it reconnect
	before=$(wc -l <"$T/ok")
	grew() { [ "$(wc -l <"$T/ok")" -gt "$before" ]; }
	wait_until 6 grew || fail "replicated sends did not resume within 6 s after veth cut $i"
	after=$(wc -l <"$T/ok")
	echo "veth cut $i healed: $after acknowledged"
done
PPID_=$(cat "$P/.pmqd.lock")
kill -9 "$PPID_" "$SEND"; wait "$SEND" 2>/dev/null
n=$(wc -l <"$T/ok")
ctl "$S" promote >"$T/promote.out" || fail "promote: $(cat "$T/promote.out")"
"$REPL_TOOL" drain "$S" orders "$T/after" >/dev/null || fail drain
missing=$(sort -n "$T/ok" | comm -23 - <(cut -d' ' -f1 "$T/after" | sort -n -u) | wc -l)
[ "$missing" = 0 ] || fail "$missing acknowledged send(s) missing on the promoted standby"
[ -z "$(cut -d' ' -f4 "$T/after" | sort | uniq -d)" ] || fail "a ticket delivered twice"
awk 'NR > 1 && $1 <= prev { bad = 1 } { prev = $1 } END { exit bad }' "$T/after" || fail "order broken"
echo "PASS: netns/veth: 3 cuts, kill -9, promote: $n acknowledged sends all on the standby ($(wc -l <"$T/after") there)"
