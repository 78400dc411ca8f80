#!/bin/bash
# man_pages.sh BUILD_DIR CMAKE LIBPMQ
# Installs the build into a temporary prefix and checks its manual:
#  - every function libpmq exports (nm -D) and every pmq_ function declared in
#    include/pmq*.h has a page in man3 (a page, or a ".so" alias to one);
#  - pmq(7), pmq(3), pmq_admin(3), pmqd(8) and pmqctl(1) are there, in their
#    sections (the last two when the daemon is built);
#  - every page renders without a single warning (man --warnings, else groff -ww);
#  - every pmq page another page cites in bold (SEE ALSO...) exists.
set -uo pipefail
build=$1 cmake=$2 lib=$3
src=$(cd "$(dirname "$0")/../.." && pwd)
if command -v man >/dev/null 2>&1; then render=man
elif command -v groff >/dev/null 2>&1; then render=groff
else echo "SKIP: neither man (man-db) nor groff is installed (apt-get install man-db groff-base)"; exit 77
fi
command -v nm >/dev/null 2>&1 || { echo "SKIP: nm (binutils) is not installed"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$cmake" --install "$build" --prefix "$tmp/p" >"$tmp/install.log" 2>&1 || {
	echo "FAIL: cmake --install"; cat "$tmp/install.log"; exit 1; }
mandir=$(find "$tmp/p" -type d -name man -path '*/share/man' | head -1)
[[ -n $mandir ]] || { echo "FAIL: no share/man in the install:"; find "$tmp/p" -type f | head -40; exit 1; }
fail=0

# the page a name resolves to: the file, or the target of its ".so" line
resolve() { # section name -> path or empty
	local f=$mandir/man$1/$2.$1
	[[ -f $f ]] || return 1
	local so
	so=$(sed -n '1s/^\.so[[:space:]]\+//p' "$f")
	if [[ -n $so ]]; then f=$mandir/$so; [[ -f $f ]] || return 1; fi
	echo "$f"
}

# 1. one page per exported function
funcs=$( { nm -D --defined-only "$lib" | awk '$2 == "T" && $3 ~ /^pmq_/ {sub(/@.*/, "", $3); print $3}'
	cat "$src"/include/pmq*.h | grep -oE '\bpmq_[a-z0-9_]+\(' | tr -d '('; } | sort -u)
n=0
for f in $funcs; do
	n=$((n + 1))
	resolve 3 "$f" >/dev/null || { echo "FAIL: no man page for $f (man $f says \"No manual entry\")"; fail=1; }
done
((n > 30)) || { echo "FAIL: found only $n exported functions in $lib"; fail=1; }

# 2. the overview and program pages, in their sections
want=("7 pmq" "3 pmq" "3 pmq_admin")
[[ -f $build/CMakeCache.txt ]] && grep -q '^PMQ_BUILD_DAEMON:BOOL=ON' "$build/CMakeCache.txt" &&
	want+=("8 pmqd" "1 pmqctl")
for w in "${want[@]}"; do
	set -- $w
	resolve "$1" "$2" >/dev/null || { echo "FAIL: no $2($1) page (expected $mandir/man$1/$2.$1)"; fail=1; }
done

# 3. each real page renders without a warning; each alias resolves through man
pages=0
while IFS= read -r p; do
	grep -q '^\.so ' "$p" && continue
	pages=$((pages + 1))
	if [[ $render == man ]]; then
		warn=$(MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -l "$p" 2>&1 >/dev/null)
	else
		warn=$(groff -ww -z -man -Tutf8 "$p" 2>&1)
	fi
	[[ -z $warn ]] || { echo "FAIL: ${p#$mandir/} renders with warnings:"; echo "$warn" | sed 's/^/      /'; fail=1; }
	# every bold pmq page reference must exist: .BR name (N)
	while read -r name sec; do
		resolve "$sec" "$name" >/dev/null ||
			{ echo "FAIL: ${p#$mandir/} cites $name($sec), which is not installed"; fail=1; }
	done < <(grep -oE '^\.BR (pmq[a-z0-9_]*) \(([1-8])\)' "$p" | sed -E 's/^\.BR ([^ ]+) \(([1-8])\)/\1 \2/')
done < <(find "$mandir" -type f | sort)
if [[ $render == man ]]; then
	for f in pmq_open pmq_ack pmq_repl_promote; do
		out=$(MANWIDTH=80 man -M "$mandir" 3 "$f" 2>&1 | head -3)
		grep -q "PMQ" <<<"$out" || { echo "FAIL: man -M $mandir 3 $f does not show a page: $out"; fail=1; }
	done
fi
((fail == 0)) && echo "OK: $n functions, each with a page; $pages pages render without warnings ($render)"
exit $fail
