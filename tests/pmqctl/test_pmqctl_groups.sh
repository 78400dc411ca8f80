#!/bin/bash
# Consumer groups through pmqctl (docs/groups.md): a queue made with groups by
# create --max-groups/--group, listed as text and --json, a message sent with
# pmqctl reaches both groups (each receives it once), each group's lag in stat
# and group stat, a lossy group, delete, and the bad inputs: unknown group, a
# full group table, bad names, a group on a queue made without groups, a
# consumer of a grouped queue that names no group, each with its exit code and
# a message naming the problem. With pmqd's /metrics (libmicrohttpd + curl):
# the pmq_group_* series equal group stat --json.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 is needed to parse the JSON"; exit 77; }

# jcheck DESCRIPTION PYTHON-EXPR: $OUT must be one JSON document d for which EXPR holds
jcheck() {
	if python3 -c '
import json, sys
d = json.loads(sys.stdin.buffer.read().decode("utf-8"))
if not eval(sys.argv[1], {"d": d}):
    raise SystemExit("check failed: " + sys.argv[1])
' "$2" <<<"$OUT" 2>"$T/pyerr"; then ok "$1"; else bad "$1: $(cat "$T/pyerr") -- output: $(head -c 600 <<<"$OUT")"; fi
}
# err_has TEXT...: $ERR contains each TEXT (fixed strings)
err_has() {
	local s
	for s in "$@"; do grep -qF -- "$s" <<<"$ERR" || { bad "message lacks \"$s\": $ERR"; return; }; done
	ok "message names it: $(head -c 160 <<<"$ERR")"
}

# --- a library without groups: skip, saying so
if ! { ctl create probe --max-groups 1 >/dev/null && ctl group list probe >/dev/null; } 2>"$T/probe.err"; then
	if grep -qi "no consumer groups\|not implemented\|function not implemented" "$T/probe.err"; then
		echo "SKIP: this libpmq cannot make a queue with groups yet: $(cat "$T/probe.err")"; exit 77
	fi
	bad "create --max-groups 1: $(cat "$T/probe.err")"
fi
ctl delete probe >/dev/null 2>&1

# --- create with groups, list
expect_rc 0 "create feed --max-groups 4 --group a --group b" -- ctl create feed --slots 16 --payload 64 --max-groups 4 --group a --group b
expect_rc 0 "group list (text)" -- ctl group list feed
grep -q "^  a  *reliable" <<<"$OUT" && grep -q "^  b  *reliable" <<<"$OUT" && grep -q "2 group(s) of at most 4" <<<"$OUT" &&
	ok "group list names a and b, reliable, 2 of at most 4" || bad "group list: $OUT"
expect_rc 0 "group list --json" -- ctl group list feed --json
jcheck "group list --json: queue, max_groups 4, groups a and b reliable with lag 0" \
	'd["queue"]=="feed" and d["max_groups"]==4 and [g["group"] for g in d["groups"]]==["a","b"] and all(g["kind"]=="reliable" and g["lag"]==0 and g["consumers"]==0 for g in d["groups"])'

# --- send with pmqctl; each group gets every message
expect_rc 0 "send m1 m2" -- ctl send feed m1 m2
expect_rc 0 "stat feed --json" -- ctl stat feed --interval 0 --json
jcheck "stat --json: each group's lag is 2" \
	'd["max_groups"]==4 and {g["group"]: g["lag"] for g in d["groups"]}=={"a":2,"b":2}'
expect_rc 0 "recv --group a -n 2 --json" -- ctl recv feed --group a -n 2 --json
jcheck "group a got m1 and m2" 'd["queue"]=="feed" and d["group"]=="a" and [m["text"] for m in d["messages"]]==["m1","m2"]'
expect_rc 0 "recv --group b" -- ctl recv feed --group b
[ "$OUT" = m1 ] && ok "group b got m1 too" || bad "group b got \"$OUT\", want m1"
expect_rc 6 "group a has nothing more (exit 6)" -- ctl recv feed --group a
grep -qF 'group "a"' <<<"$ERR" && ok "the empty message names the group" || bad "empty recv: $ERR"
expect_rc 0 "stat feed (text)" -- ctl stat feed --interval 0
grep -q "groups: 2 of at most 4" <<<"$OUT" && grep -Eq "^    a +reliable +0 " <<<"$OUT" && grep -Eq "^    b +reliable +1 " <<<"$OUT" &&
	ok "stat shows the lag of a (0) and b (1)" || bad "stat text: $OUT"
expect_rc 0 "group stat feed b --json" -- ctl group stat feed b --json
jcheck "group stat b --json: lag 1, in flight 0" 'd["queue"]=="feed" and d["group"]["group"]=="b" and d["group"]["lag"]==1 and d["group"]["in_flight"]==0'
expect_rc 0 "group stat feed --json (every group)" -- ctl group stat feed --json
jcheck "group stat --json: both groups" '{g["group"]: g["lag"] for g in d["groups"]}=={"a":0,"b":1}'

# --- a lossy group, made later: it sees what is sent after it
expect_rc 0 "group create feed c --lossy" -- ctl group create feed c --lossy
expect_rc 0 "group create --json" -- ctl group create feed d --json
jcheck "group create --json" 'd=={"queue":"feed","group":"d","created":True}'
expect_rc 0 "send m3" -- ctl send feed m3
expect_rc 0 "recv --group c --json (lossy)" -- ctl recv feed --group c --json
jcheck "the lossy group c got m3 only, lost 0" '[m["text"] for m in d["messages"]]==["m3"] and d["lost"]==0'
expect_rc 2 "recv --group c --nack refused (a lossy group does not settle)" -- ctl recv feed --group c --nack
err_has 'lossy' '"c"'
expect_rc 0 "group list --json with c and d" -- ctl group list feed --json
jcheck "c is lossy, d reliable" '{g["group"]: g["kind"] for g in d["groups"]}=={"a":"reliable","b":"reliable","c":"lossy","d":"reliable"}' 

# --- delete
expect_rc 0 "group delete feed d --json" -- ctl group delete feed d --json
jcheck "group delete --json" 'd=={"queue":"feed","group":"d","deleted":True}'
expect_rc 0 "group delete feed b (m2 not taken by it yet)" -- ctl group delete feed b
expect_rc 0 "group list after delete" -- ctl group list feed --json
jcheck "b and d are gone" '[g["group"] for g in d["groups"]]==["a","c"]'
expect_rc 3 "group stat of a deleted group (exit 3)" -- ctl group stat feed b
err_has 'no such group' '"b"' 'pmqctl group list feed'

# --- bad input
expect_rc 3 "recv --group nosuch: unknown group (exit 3)" -- ctl recv feed --group nosuch
err_has '"nosuch"'
expect_rc 3 "group delete of an unknown group (exit 3)" -- ctl group delete feed nosuch
err_has 'no such group' '"nosuch"'
expect_rc 7 "group create of an existing group (exit 7)" -- ctl group create feed a
err_has 'already exists' '"a"'
expect_rc 0 "group create e (the third of 4)" -- ctl group create feed e
expect_rc 0 "group create f (the fourth of 4)" -- ctl group create feed f
expect_rc 1 "group create over the limit (exit 1)" -- ctl group create feed g
err_has 'group table is full' '--max-groups' '"g"'
expect_rc 2 "create --max-groups 33 (over PMQ_GROUPS_MAX)" -- ctl create big --max-groups 33
err_has '--max-groups' '33' '32'
expect_rc 2 "create with more --group than --max-groups" -- ctl create over --max-groups 1 --group x --group y
err_has '--max-groups is 1' '2 --group'
expect_rc 2 "create --group without --max-groups" -- ctl create nomax --group x
err_has '--max-groups N'
expect_rc 2 "create --group x:fast (only :lossy or :lease=MS may follow)" -- ctl create suffix --max-groups 2 --group x:fast
err_has 'x:fast' ':lossy'
expect_rc 2 "create --group x --group x (twice)" -- ctl create twice --max-groups 2 --group x --group x
err_has 'named twice'
for f in big over nomax suffix twice; do [ -e "$D/$f.pmq" ] && bad "a refused create made $f.pmq"; done
for name in 'bad name' .hidden 'a/b' "$(printf 'x%.0s' $(seq 32))" ''; do
	expect_rc 2 "group create feed '$name': a bad name (exit 2)" -- ctl group create feed "$name"
	grep -q "group name\|may not be empty" <<<"$ERR" && grep -qF "A-Z a-z 0-9" <<<"$ERR" ||
		bad "bad name '$name': message does not say what is wrong and what is allowed: $ERR"
done
expect_rc 2 "recv --group 'bad name' (exit 2)" -- ctl recv feed --group 'bad name'
err_has "' ' at position 4"
expect_rc 0 "create plain (no groups)" -- ctl create plain --slots 16 --payload 64
expect_rc 1 "group create on a queue made without groups (exit 1)" -- ctl group create plain g
err_has 'without consumer groups' '--max-groups N'
expect_rc 1 "recv --group on a queue made without groups (exit 1)" -- ctl recv plain --group g
err_has 'without consumer groups'
expect_rc 2 "recv without --group on a queue with groups (exit 2)" -- ctl recv feed
err_has 'consumer groups' '--group NAME' 'pmqctl group list feed'
expect_rc 2 "dlq recv without --group on a queue with groups (exit 2)" -- ctl dlq recv feed
err_has 'consumer groups' '--group NAME'
expect_rc 3 "group list of a missing queue (exit 3)" -- ctl group list nosuch
err_has 'no such queue'
expect_rc 2 "group frob (unknown sub-command)" -- ctl group frob feed
expect_rc 0 "group --help" -- ctl group --help
grep -q "^usage: pmqctl group create QUEUE GROUP" <<<"$OUT" && ok "group --help: usage" || bad "group --help: $OUT"

# --- a group's own lease: group create --lease-ms N, create --group NAME:lease=MS; shown by list and stat
expect_rc 0 "create leases --lease-ms 30000 --group slow:lease=250 --group plain" -- \
	ctl create leases --slots 16 --payload 16 --lease-ms 30000 --max-groups 4 --group slow:lease=250 --group plain
expect_rc 0 "group create leases fast --lease-ms 200 --json" -- ctl group create leases fast --lease-ms 200 --json
jcheck "group create --lease-ms --json" 'd=={"queue":"leases","group":"fast","created":True}'
expect_rc 0 "group create leases tap --lossy" -- ctl group create leases tap --lossy
expect_rc 0 "group list leases --json" -- ctl group list leases --json
jcheck "lease_ms: slow 250, plain 0 (the queue's), fast 200, tap 0" \
	'{g["group"]: g["lease_ms"] for g in d["groups"]}=={"slow":250,"plain":0,"fast":200,"tap":0}'
expect_rc 0 "group list leases (text)" -- ctl group list leases
grep -Eq "^  fast +reliable .*lease 200ms$" <<<"$OUT" && grep -Eq "^  plain +reliable .*lease queue$" <<<"$OUT" &&
	ok "group list shows fast's lease 200ms and plain on the queue's" || bad "group list text: $OUT"
expect_rc 0 "group stat leases slow (text)" -- ctl group stat leases slow
grep -q "lease 250ms (the group's own" <<<"$OUT" && ok "group stat names slow's own lease" || bad "group stat text: $OUT"
expect_rc 0 "group stat leases plain (text)" -- ctl group stat leases plain
grep -q "lease: the queue's (30.000 s)" <<<"$OUT" && ok "group stat: plain has the queue's 30 s" || bad "group stat text: $OUT"
expect_rc 0 "group stat leases (table)" -- ctl group stat leases
grep -Eq "^  fast .* 200ms$" <<<"$OUT" && ok "the table's LEASE column" || bad "group stat table: $OUT"
expect_rc 2 "group create --lease-ms 0 (exit 2)" -- ctl group create leases z --lease-ms 0
err_has '--lease-ms' '0 is out of range' '1 to 604800000'
expect_rc 2 "group create --lease-ms 12abc (exit 2)" -- ctl group create leases z --lease-ms 12abc
err_has '--lease-ms' '12abc'
expect_rc 2 "group create --lease-ms past 7 days (exit 2)" -- ctl group create leases z --lease-ms 604800001
err_has '604800001' '604800000'
expect_rc 2 "group create --lossy --lease-ms (exit 2)" -- ctl group create leases z --lossy --lease-ms 100
err_has 'lossy' 'no lease'
expect_rc 2 "create --group x:lease=abc (exit 2)" -- ctl create badlease --max-groups 2 --group x:lease=abc
err_has 'abc'
expect_rc 2 "create --group x:lossy:lease=5 (exit 2)" -- ctl create badlease --max-groups 2 --group x:lossy:lease=5
err_has 'lossy' 'no lease'
expect_rc 2 "create --group x:lease=5:lease=6 (twice, exit 2)" -- ctl create badlease --max-groups 2 --group x:lease=5:lease=6
err_has 'lease=6' 'twice'
[ -e "$D/badlease.pmq" ] && bad "a refused create made badlease.pmq"
expect_rc 0 "group list leases (z was never made)" -- ctl group list leases --json
jcheck "four groups, no z" '[g["group"] for g in d["groups"]]==["slow","plain","fast","tap"]'

# --- a lossy group a lap behind: producers never wait for it, its next receive says how many it lost
expect_rc 0 "create tap --slots 16 --max-groups 1 --group t:lossy" -- ctl create tap --slots 16 --payload 16 --max-groups 1 --group t:lossy
expect_rc 0 "send 40 to a 16-slot queue whose only group is lossy (never blocks)" -- ctl send tap x --count 40 --nonblock
expect_rc 0 "recv --group t -n 2 --json" -- ctl recv tap --group t -n 2 --json
jcheck "the lossy group lost the 24 overwritten messages and resumed at ticket 24" \
	'd["lost"]==24 and [m["ticket"] for m in d["messages"]]==[24,25]'
expect_rc 0 "recv --group t (text)" -- ctl recv tap --group t
expect_rc 0 "group stat tap t --json" -- ctl group stat tap t --json
jcheck "group stat: lost 24, kind lossy, lag 13" 'd["group"]["lost"]==24 and d["group"]["kind"]=="lossy" and d["group"]["lag"]==13'
ctl send tap x --count 20 --nonblock >/dev/null 2>&1
expect_rc 0 "recv --group t after another lap (text)" -- ctl recv tap --group t
grep -q "message(s) lost before ticket" <<<"$ERR" && ok "text recv says the gap on stderr: $ERR" || bad "no gap said: $ERR"

# --- pmqd's /metrics: one series per group, equal to group stat --json
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
if ! "$PMQD" --help 2>&1 | grep -q metrics-listen || ! command -v curl >/dev/null; then
	echo "skip - /metrics: this pmqd has no --metrics-listen (libmicrohttpd) or curl is missing"
else
	start_pmqd --metrics-listen "127.0.0.1:$PORT"
	ctl send feed m4 m5 >/dev/null 2>&1
	for _ in $(seq 100); do
		curl -sS --max-time 5 "http://127.0.0.1:$PORT/metrics" >"$T/metrics" 2>/dev/null &&
			grep -q 'pmq_group_lag{queue="feed"' "$T/metrics" && break
		sleep 0.1
	done
	ctl group stat feed --json >"$T/gstat.json"
	if python3 - "$T/metrics" "$T/gstat.json" <<'PY' 2>"$T/pyerr"; then ok "/metrics: pmq_group_* of every group equal group stat --json"; else bad "/metrics: $(cat "$T/pyerr")"; fi
import json, re, sys
page = open(sys.argv[1]).read()
d = json.loads(open(sys.argv[2]).read())
def val(name, g):
    m = re.search(r'^%s\{queue="feed",group="%s"\} (\S+)$' % (name, g), page, re.M)
    assert m, "no %s for group %s" % (name, g)
    return float(m.group(1))
for g in d["groups"]:
    for field, series in (("lag", "pmq_group_lag"), ("in_flight", "pmq_group_in_flight"),
                          ("redelivered", "pmq_group_redelivered_total"), ("dead_letters", "pmq_group_dead_letters"),
                          ("lost", "pmq_group_lost_total")):
        assert val(series, g["group"]) == g[field], (g["group"], field, val(series, g["group"]), g[field])
    assert val("pmq_group_lossy", g["group"]) == (1 if g["kind"] == "lossy" else 0)
assert {g["group"]: g["lag"] for g in d["groups"]}["a"] == 3, d  # m3, m4, m5 not taken by a
for fam in ("pmq_group_lag", "pmq_group_lost_total"):
    assert "# TYPE %s " % fam in page, fam
assert 'queue="plain",group' not in page, "a queue without groups has group series"
for g, want in (("fast", 0.2), ("slow", 0.25), ("plain", 0.0), ("tap", 0.0)):  # the group leases
    m = re.search(r'^pmq_group_lease_seconds\{queue="leases",group="%s"\} (\S+)$' % g, page, re.M)
    assert m and float(m.group(1)) == want, ("lease", g, m and m.group(1), want)
PY
fi
finish
