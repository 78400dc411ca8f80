#!/bin/sh
# zero_syscalls.sh SPIN_PAIR - assert that the spinning data path makes no
# system call: run spin_pair under strace -f and require that nothing but
# its two marker writes lies between "BEGIN" and "END". A first run with
# --canary (a getppid() in the loop) proves the check can see a syscall.
#
# One exception, by design (docs/format.md, ring.c ring_maybe_heal): a consumer
# that has waited behind the same WRITING slot for 1 ms (its producer was
# preempted mid-send, which happens on a loaded 2-core machine) probes the
# producer's liveness token with one fcntl(F_OFD_GETLK) (backing off 1, 2, 4 ...
# up to 128 ms while the producer lives), after opening its probe descriptor
# once: openat(/proc/self/fd/N). Those are counted and reported, never
# anything else.
set -u
prog=$1
sanitize=${2:-}
if [ -n "$sanitize" ]; then
	# the sanitizer runtime has threads of its own that sleep and read the clock
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

# between FILE: print every trace line between the BEGIN and END markers;
# fail (status 2) if a marker is missing
between() {
	awk '
		/write\(2, "BEGIN\\n"/ { inside = 1; begin = 1; next }
		/write\(2, "END\\n"/   { inside = 0; end = 1; next }
		inside                  { print }
		END                     { if (!begin || !end) exit 2 }
	' "$1"
}

# 1. the canary: a loop with syscalls must be caught
strace -f -o "$tmp/canary" "$prog" -n 20000 --canary 2>"$tmp/canary.err" || {
	echo "FAIL: spin_pair --canary failed:"; cat "$tmp/canary.err"; exit 1; }
n=$(between "$tmp/canary" | grep -c getppid)
if [ "$n" -lt 20 ]; then
	echo "FAIL: the checker did not see the canary's getppid calls ($n found)"
	exit 1
fi

# 2. the real thing
strace -f -o "$tmp/trace" "$prog" -n 100000 2>"$tmp/err"
rc=$?
cat "$tmp/err"
if [ $rc -ne 0 ]; then
	echo "FAIL: spin_pair exited $rc"
	exit 1
fi
between "$tmp/trace" >"$tmp/inside"
if [ $? -ne 0 ]; then
	echo "FAIL: markers not found in the trace"
	exit 1
fi
probes=$(grep -c 'F_OFD_GETLK' "$tmp/inside")
grep -v -e 'openat(AT_FDCWD, "/proc/self/fd/[0-9]*", O_RDWR|O_CLOEXEC)' \
	-e 'fcntl([0-9]*, F_OFD_GETLK, {l_type=' \
	"$tmp/inside" >"$tmp/other"
if [ "$probes" -ne 0 ]; then
	echo "NOTE: $probes liveness probes of a stalled (preempted) producer, one fcntl each"
	mv "$tmp/other" "$tmp/inside"
fi
total=$(wc -l <"$tmp/trace")
inside=$(wc -l <"$tmp/inside")
if [ "$total" -lt 20 ]; then
	echo "FAIL: the trace has only $total lines: strace is not tracing"
	exit 1
fi
if [ "$inside" -ne 0 ]; then
	echo "FAIL: $inside system calls in the hot loop of 100000 spinning messages:"
	head -20 "$tmp/inside"
	exit 1
fi
echo "OK: 100000 messages, no system call between the markers besides $probes liveness probes ($total outside)"
exit 0
