#!/bin/bash
# demo_minimal.sh: the README's first command installs and builds only what
# the demo runs.
#  1. scripts/install-deps.sh's profiles list each package once, the demo's is
#     part of the full one, and it holds none of the test or benchmark tools
#     (cmocka, clang, spin, strace, zeromq, iceoryx, gnuplot, build-essential...);
#  2. scripts/demo.sh's build (PMQ_DEMO_BUILD_ONLY=1, into a temporary directory)
#     produces exactly libpmq, pmq-demo, pmqd and pmqctl: no test, no benchmark.
set -uo pipefail
if [[ -n ${1:-} ]]; then
	echo "SKIP: a -fsanitize=$1 build; the demo's own build does not depend on it and runs in the plain suite"
	exit 77
fi
src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

for p in demo full; do
	if ! bash "$src/scripts/install-deps.sh" --list "$p" >"$tmp/$p" 2>"$tmp/$p.err"; then
		echo "FAIL: scripts/install-deps.sh --list $p:"; cat "$tmp/$p.err"; exit 1
	fi
	dups=$(sort "$tmp/$p" | uniq -d | tr '\n' ' ')
	[[ -z $dups ]] || { echo "FAIL: profile $p lists packages more than once: $dups"; fail=1; }
done
extra=$(comm -23 <(sort -u "$tmp/demo") <(sort -u "$tmp/full") | tr '\n' ' ')
[[ -z $extra ]] || { echo "FAIL: the demo profile has packages the full one lacks: $extra"; fail=1; }
heavy=$(grep -E '^(build-essential|git|clang|libclang.*|spin|strace|libcmocka-dev|libzmq.*|iceoryx|libiceoryx.*|gnuplot.*|man-db|groff-base|systemd|g\+\+)$' "$tmp/demo" | tr '\n' ' ')
[[ -z $heavy ]] || { echo "FAIL: the demo profile installs what only tests or benchmarks need: $heavy"; fail=1; }
echo "demo profile: $(wc -l <"$tmp/demo") packages ($(tr '\n' ' ' <"$tmp/demo")); full: $(wc -l <"$tmp/full")"

# 2. what the demo builds
if ! PMQ_DEMO_BUILD=$tmp/b PMQ_DEMO_BUILD_ONLY=1 bash "$src/scripts/demo.sh" >"$tmp/build.log" 2>&1; then
	echo "FAIL: scripts/demo.sh's build:"; tail -30 "$tmp/build.log"; exit 1
fi
built=$(find "$tmp/b" -path '*/CMakeFiles' -prune -o -type f -executable -print | while read -r f; do
	[[ $(od -An -tx1 -N4 "$f" | tr -d ' ') == 7f454c46 ]] && basename "$f" # ELF
done | sed 's/\.so\..*$/.so/' | sort -u | tr '\n' ' ')
want="libpmq.so pmq-demo pmqctl pmqd "
if [[ $built != "$want" ]]; then
	echo "FAIL: the demo builds \"$built\", expected only \"$want\""; fail=1
else
	echo "ok: the demo builds only $want"
fi
((fail == 0)) && echo "OK: the demo installs and builds only what it runs"
exit $fail
