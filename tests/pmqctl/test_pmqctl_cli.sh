#!/bin/bash
# pmqctl's surface: every command answers --help (usage, options, exit
# codes), --version, one exit code per documented case, strict numbers,
# one count spelling for peek and recv, send on a full queue waits and says
# so (--timeout), top writes no screen-clear escapes into a pipe, stat has no
# replication line for a queue without replication, the error hints name
# the socket actually used.
. "$(dirname "$0")/lib.sh"

# --- help and version ---
for c in create delete list stat top send recv peek tail dlq group recover status request promote rejoin repl; do
	OUT=$(ctl "$c" --help 2>&1); rc=$?
	if [ $rc -eq 0 ] && grep -q "^usage: pmqctl $c" <<<"$OUT" && grep -q "3 no such queue" <<<"$OUT"; then
		ok "$c --help: usage and the exit codes"
	else
		bad "$c --help: exit $rc: $(head -2 <<<"$OUT")"
	fi
	grep -q "^  $c " <<<"$(ctl --help)" || bad "pmqctl --help does not list $c"
done
expect_rc 0 "help peek" -- ctl help peek
want="pmqctl $(sed -n 's/^#define PMQ_VERSION_MAJOR \([0-9]*\)/\1/p' "$(dirname "$0")/../../include/pmq.h")."
expect_rc 0 "--version" -- ctl --version
[[ $OUT == "$want"* ]] && ok "--version prints the project version ($OUT)" || bad "--version printed \"$OUT\", want $want..."

# --- strict numbers: usage (2), naming the option and the input ---
for v in abc -4 12abc 0x10 99999999999999999999 "" " 8"; do
	expect_rc 2 "create --slots '$v' refused" -- ctl create n1 --slots "$v"
	grep -q -- "--slots" <<<"$ERR" && grep -qi "not a number\|out of range\|sign\|empty" <<<"$ERR" ||
		bad "create --slots '$v': message does not name the option and the problem: $ERR"
done
expect_rc 2 "create --lease-ms 99999999999999999999 refused" -- ctl create n1 --lease-ms 99999999999999999999
expect_rc 2 "create --mode 9 (not octal) refused" -- ctl create n1 --mode 9
expect_rc 2 "recv -n 1x refused" -- ctl recv nosuch -n 1x
expect_rc 2 "peek --count -1 refused" -- ctl peek nosuch --count -1
expect_rc 2 "stat --interval 5s refused" -- ctl stat nosuch --interval 5s
expect_rc 2 "top -n abc refused" -- ctl top -n abc
expect_rc 2 "dlq list --max 4294967296 refused" -- ctl dlq list nosuch --max 4294967296
# above the option's 32-bit maximum but within 64 bits: refused as out of range, never
# cast to 32 bits (2^32 would wrap to 0 slots, 2^32 + 4 to a valid 4-slot queue)
for v in 4294967296 4294967300; do
	expect_rc 2 "create --slots $v (over 2^32 - 1) refused" -- ctl create n1 --slots "$v"
	grep -q -- "--slots" <<<"$ERR" && grep -q "$v is out of range" <<<"$ERR" && grep -q "4294967295" <<<"$ERR" ||
		bad "create --slots $v: message does not say out of range and the maximum: $ERR"
done
[ -e "$D/n1.pmq" ] && bad "a refused create made a file"

# --- exit codes, one per case ---
expect_rc 0 "0 ok: create" -- ctl create q --slots 4 --payload 16
expect_rc 7 "7 queue exists" -- ctl create q
expect_rc 3 "3 no such queue: peek" -- ctl peek nosuch
expect_rc 3 "3 no such queue: stat" -- ctl stat nosuch
expect_rc 3 "3 no such queue: delete" -- ctl delete nosuch
expect_rc 6 "6 nothing received" -- ctl recv q
expect_rc 1 "1 operation failed: a message over max_payload" -- ctl send q 0123456789abcdef0123
expect_rc 0 "fill the queue" -- ctl send q a b c d
expect_rc 8 "8 queue full: send --nonblock" -- ctl send q e --nonblock
expect_rc 8 "8 queue full: send --timeout 200" -- ctl send q e --timeout 200
grep -q "waiting up to 200 ms" <<<"$ERR" && ok "send says that it waits" || bad "send did not say it waits: $ERR"
# without --timeout it waits until a consumer makes room
# (the consumer makes room only once the send has said it waits: a fixed delay lost the
# race on a loaded machine, the room came first and the send had nothing to say)
: >"$T/stderr"
( for _ in $(seq 400); do grep -q "waiting for room" "$T/stderr" && break; sleep 0.05; done
  "$PMQCTL" --dir "$D" recv q >/dev/null ) &
expect_rc 0 "send on a full queue waits for room" -- timeout 10 "$PMQCTL" --dir "$D" send q late
grep -q "waiting for room" <<<"$ERR" && ok "the blocking send says so" || bad "blocking send was silent: $ERR"
expect_rc 5 "5 pmqd not reachable (status)" -- ctl --socket "$T/no.sock" status
grep -q "$T/no.sock" <<<"$ERR" && ok "the hint names the --socket given" || bad "hint does not name --socket: $ERR"
expect_rc 2 "2 usage: unknown command" -- ctl frobnicate
expect_rc 2 "2 usage: unknown option" -- ctl create q2 --bogus

# --- one spelling for the count: -n and --count for both peek and recv ---
expect_rc 0 "peek -n 2" -- ctl peek q -n 2
[ "$(wc -l <<<"$OUT")" = 2 ] && ok "peek -n 2 shows 2" || bad "peek -n 2 showed: $OUT"
expect_rc 0 "recv --count 2" -- ctl recv q --count 2
[ "$(wc -l <<<"$OUT")" = 2 ] && ok "recv --count 2 takes 2" || bad "recv --count 2: $OUT"

# --- top into a pipe: no escapes ---
ctl top -n 1 >"$T/top" 2>&1
if grep -q $'\033' "$T/top"; then bad "top wrote escape sequences into a pipe"; else ok "top into a pipe is plain text"; fi
grep -q "^q " "$T/top" && ok "top lists the queue" || bad "top output: $(cat "$T/top")"

# --- stat: no replication line without replication ---
start_pmqd
expect_rc 0 "stat with pmqd running" -- ctl stat q --interval 0
grep -qi "replication" <<<"$OUT" && bad "stat shows a replication line for an unreplicated queue: $(grep -i replication <<<"$OUT")" ||
	ok "stat: no replication line for an unreplicated queue"
grep -q "pmqd not running" <<<"$OUT" && bad "stat says pmqd is not running while it runs"
finish
