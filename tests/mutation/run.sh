#!/bin/bash
# tests/mutation/run.sh - the project's mutation check (tests/mutation/README.md).
# Applies each curated mutant (mutants.txt) to a scratch copy of the tree, rebuilds
# incrementally, runs the fast suite, restores the file; prints the score and the
# survivors. The working tree is never modified.
#
#   tests/mutation/run.sh [-l LIST] [-m ID_REGEX] [-w WORKDIR] [-k]
#     -l LIST      mutant list (default tests/mutation/mutants.txt)
#     -m REGEX     only the mutants whose id matches
#     -w WORKDIR   scratch directory (default ${TMPDIR:-/tmp}/pmq-mutation-$UID); reused: builds are incremental
#     -k           keep going after a failing baseline (default: stop, the suite must pass unmutated)
# Exit: 0 if the score is >= MUTATION_MIN (default 90) and nothing is STALE, else 1.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
list=$here/mutants.txt
filter=
work=${TMPDIR:-/tmp}/pmq-mutation-$UID
keep_going=0
while getopts "l:m:w:k" o; do
	case $o in
	l) list=$OPTARG ;;
	m) filter=$OPTARG ;;
	w) work=$OPTARG ;;
	k) keep_going=1 ;;
	*) sed -n '2,12p' "$0"; exit 2 ;;
	esac
done
min=${MUTATION_MIN:-90}
jobs=${MUTATION_JOBS:-2}
per_test_timeout=${MUTATION_TEST_TIMEOUT:-60}
# the fast suite: unit, integration, daemon, repl; not stress, fuzz, model, install, cxx
fast=(-L 'unit|integration|daemon|repl' -LE 'stress|fuzz|model|install|cxx')
tsan=(-L tsan -LE 'stress|fuzz|model|install|cxx')

tree=$work/tree
mkdir -p "$work/logs"
# 1. scratch copy of the working tree as it is (tracked and untracked, not ignored files).
# The copy is kept between runs and synced by content: a file that differs from the
# working tree's (edited since, or left mutated by a killed run) is replaced and gets a
# fresh mtime, the others keep theirs. So the scratch builds stay incremental (a rerun
# of a few mutants costs the baseline suite, not a full build) and no object built from
# other content is ever reused.
echo "mutation: syncing $repo to $tree"
rm -rf "$work/incoming"
mkdir -p "$work/incoming" "$tree"
(cd "$repo" && git ls-files -z -co --exclude-standard | xargs -0 -I{} sh -c 'test -e "{}" && echo "{}"' |
	tar -cf - -T -) | tar -xf - -C "$work/incoming" || { echo "mutation: cannot copy the tree" >&2; exit 2; }
python3 - "$work/incoming" "$tree" <<'SYNC' || { echo "mutation: cannot sync the tree" >&2; exit 2; }
import filecmp, os, shutil, sys
src, dst = sys.argv[1], sys.argv[2]
want = set()
for root, dirs, files in os.walk(src):
    for f in files:
        rel = os.path.relpath(os.path.join(root, f), src)
        want.add(rel)
        d = os.path.join(dst, rel)
        if not os.path.isfile(d) or os.path.islink(d) or not filecmp.cmp(os.path.join(src, rel), d, shallow=False):
            os.makedirs(os.path.dirname(d), exist_ok=True)
            if os.path.lexists(d):
                os.remove(d)
            shutil.copy(os.path.join(src, rel), d)  # content and mode; the mtime is now
for root, dirs, files in os.walk(dst):
    for f in files:
        rel = os.path.relpath(os.path.join(root, f), dst)
        if rel not in want:
            os.remove(os.path.join(root, f))
SYNC
rm -rf "$work/incoming"

build() { # dir cmake-args...: configure once, build incrementally
	local dir=$1; shift
	[ -f "$dir/CMakeCache.txt" ] || cmake -S "$tree" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPMQ_BUILD_BENCH=OFF \
		"$@" >/dev/null || return 1
	cmake --build "$dir" -j"$jobs" 2>&1 | grep -E ": error|Error [0-9]" | head -20
	return "${PIPESTATUS[0]}"
}
suite() { # dir ctest-args...: 0 if every test passed
	local dir=$1; shift
	(cd "$dir" && timeout 600 ctest -j"$jobs" --timeout "$per_test_timeout" --stop-on-failure "$@") 2>&1
}
# the list and its tool as they are now: edits during a run (re-pointing a stale mutant)
# take effect at the next run, never half-way through this one
{ [ "$list" -ef "$work/mutants.txt" ] || cp "$list" "$work/mutants.txt"; } && cp "$here/mutate.py" "$work/mutate.py" || exit 2
list=$work/mutants.txt
mutate=$work/mutate.py
echo "mutation: tree $(git -C "$repo" rev-parse --short HEAD 2>/dev/null)$( [ -n "$(git -C "$repo" status --porcelain 2>/dev/null)" ] && echo ' (with uncommitted changes)'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
ids=$("$mutate" "$list" ids "$filter") || exit 2
[ -n "$ids" ] || { echo "mutation: no mutant matches \"$filter\"" >&2; exit 2; }
need_tsan=0
grep -q $'\ttsan\t' <<<"$ids" && need_tsan=1

# 2. the baseline must pass, else every mutant would look killed
echo "mutation: baseline build and suite"
build "$work/build" || { echo "mutation: the unmutated tree does not build" >&2; exit 2; }
if ! suite "$work/build" "${fast[@]}" >"$work/logs/baseline.log"; then
	echo "mutation: the fast suite fails on the unmutated tree ($work/logs/baseline.log):" >&2
	grep -E '\(Failed|\(Timeout|\*\*\*' "$work/logs/baseline.log" >&2
	((keep_going)) || exit 2
fi
if ((need_tsan)); then
	build "$work/build-tsan" -DPMQ_SANITIZE=thread -DPMQ_BUILD_DAEMON=OFF ||
		{ echo "mutation: the TSan build fails" >&2; exit 2; }
	TSAN_OPTIONS=halt_on_error=1 suite "$work/build-tsan" "${tsan[@]}" >"$work/logs/baseline-tsan.log" ||
		{ echo "mutation: the TSan suite fails unmutated ($work/logs/baseline-tsan.log)" >&2; ((keep_going)) || exit 2; }
fi

# 3. one mutant at a time; the mutated file is restored after each, and by the trap
# when the run is interrupted (the scratch tree never keeps a mutant)
restore_file= restore_from=
restore() {
	if [ -n "$restore_from" ] && [ -f "$restore_from" ]; then
		cp -p "$restore_from" "$restore_file" && touch "$restore_file" # touched: the next build recompiles it
		rm -f "$restore_from"
	fi
	restore_file= restore_from=
}
trap 'echo "mutation: interrupted${restore_file:+; restoring $restore_file}" >&2; restore; exit 130' INT TERM HUP
killed=0 survived=0 stale=0 broken=0
survivors= stales= brokens=
while IFS=$'\t' read -r id kind file desc; do
	[ -n "$id" ] || continue
	log=$work/logs/$id.log
	start=$(date +%s)
	backup=
	[ -f "$tree/$file" ] && { backup=$work/orig.$id; cp -p "$tree/$file" "$backup"; }
	restore_file=$tree/$file restore_from=$backup # the trap puts it back if the run is interrupted
	out=$("$mutate" "$list" apply "$id" "$tree")
	if [ $? -ne 0 ]; then
		printf '%-6s STALE      %s: %s\n' "$id" "$file" "$out"
		stale=$((stale + 1)); stales+="  $id $file: $desc ($out)"$'\n'
		[ -n "$backup" ] && rm -f "$backup"
		continue
	fi
	dir=$work/build args=("${fast[@]}") env=()
	[ "$kind" = tsan ] && { dir=$work/build-tsan args=("${tsan[@]}") env=(TSAN_OPTIONS=halt_on_error=1); }
	if ! build "$dir" >"$log" 2>&1; then
		verdict=BUILD-FAIL; broken=$((broken + 1)); brokens+="  $id $file: $desc"$'\n'
	elif (for e in "${env[@]}"; do export "${e?}"; done; suite "$dir" "${args[@]}") >>"$log"; then
		verdict=SURVIVED; survived=$((survived + 1)); survivors+="  $id $file: $desc"$'\n'
	else
		verdict=killed; killed=$((killed + 1))
	fi
	by=$(grep -oE '[0-9]+ - [A-Za-z0-9_]+ \((Failed|Timeout|SEGFAULT|Subprocess aborted|Child aborted)' "$log" | head -3 |
		sed -E 's/^[0-9]+ - //; s/ \(.*//' | paste -sd, -)
	restore
	printf '%-6s %-10s %-26s %3ss  %s%s\n' "$id" "$verdict" "$file" "$(($(date +%s) - start))" "$desc" \
		"${by:+   [by $by]}"
done <<<"$ids"
build "$work/build" >/dev/null 2>&1 # leave the scratch build matching the unmutated tree

total=$((killed + survived))
score=0
((total)) && score=$((killed * 1000 / total))
echo
echo "mutation: finished $(date -u '+%F %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "mutation score: $killed of $total killed ($((score / 10)).$((score % 10)) %)," \
	"$stale stale, $broken did not build (not counted)"
[ -n "$survivors" ] && printf 'survivors:\n%s' "$survivors"
[ -n "$stales" ] && printf 'stale (update mutants.txt):\n%s' "$stales"
[ -n "$brokens" ] && printf 'did not build (fix the replacement):\n%s' "$brokens"
((score >= min * 10 && stale == 0))
