#!/bin/sh
# spin_yield.sh SPIN_PAIR - a PMQ_WAIT_SPIN_FUTEX waiter spins, then yields, then
# sleeps (src/wait.c): past its first 5 us it gives the CPU to whatever else is
# runnable there every 64 polls, so a waiter that shares a CPU with the process it
# waits for (a producer, or a holder just killed whose death pmqd must see) does not
# hold it off for its whole spin budget. Before the yield, a consumer that had just
# killed a holder on its own CPU delayed that holder's exit, and so pmqd's recovery,
# by its 50 us budget (docs/pmqd.md, issue 9 item 21). Here: a 20 ms budget on an
# empty queue, under strace; the waiter must call sched_yield many times between the
# markers and then sleep in futex. (PMQ_WAIT_SPIN never yields: zero_syscalls.sh.)
set -u
prog=$1
sanitize=${2:-}
if [ -n "$sanitize" ]; then
	echo "SKIP: built with -fsanitize=$sanitize, whose runtime makes system calls of its own"
	exit 77
fi
if ! command -v strace >/dev/null 2>&1; then
	echo "SKIP: strace is not installed"
	exit 77
fi
if ! strace -f -o /dev/null true >/dev/null 2>&1; then
	echo "SKIP: strace cannot trace here (ptrace not permitted)"
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
strace -f -o "$tmp/trace" "$prog" --spin-futex-wait 20 2>"$tmp/err"
rc=$?
cat "$tmp/err"
if [ $rc -ne 0 ]; then
	echo "FAIL: spin_pair --spin-futex-wait exited $rc"
	exit 1
fi
awk '/write\(2, "BEGIN\\n"/ { inside = 1; next } /write\(2, "END\\n"/ { inside = 0 } inside' "$tmp/trace" >"$tmp/between"
yields=$(grep -c "sched_yield" "$tmp/between")
futex=$(grep -c "futex(" "$tmp/between")
echo "between the markers: $yields sched_yield, $futex futex calls"
if [ "$yields" -lt 10 ]; then
	echo "FAIL: the spin phase did not yield ($yields sched_yield calls in a 20 ms budget)"
	exit 1
fi
if [ "$futex" -lt 1 ]; then
	echo "FAIL: the waiter never went to sleep after its spin budget"
	exit 1
fi
echo "PASS"
