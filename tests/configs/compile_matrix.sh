#!/bin/bash
# Builds pmq the ways users, packagers and CI build it, each with warnings as
# errors (-DPMQ_WERROR=ON), and fails if any of them does not build.
#
#   tests/configs/compile_matrix.sh [--quick] [--jobs N] [--keep]
#
# --quick (a step of scripts/test.sh): gcc Release and Debug, the library, the
#   daemon and the tests (no bench), built but not run.
# default (on demand, ~10 builds): gcc and clang x Release, Debug, MinSizeRel,
#   RelWithDebInfo and Debian's package build (CMAKE_BUILD_TYPE=None with the
#   CFLAGS/CPPFLAGS/LDFLAGS of `dpkg-buildflags`, hardening=+all), everything.
# Both first check that PMQ_WERROR is off by default (a user's or packager's
# build must not fail on a warning a newer compiler adds) and on when asked.
# PMQ_MATRIX_COMPILERS / PMQ_MATRIX_TYPES (space-separated) narrow the matrix.
set -uo pipefail
cd "$(dirname "$0")/../.."
src=$PWD

quick=0 jobs=2 keep=0
while (($#)); do
	case $1 in
	--quick) quick=1 ;;
	--jobs) jobs=$2; shift ;;
	--keep) keep=1 ;;
	-h|--help) sed -n '2,15p' "$0"; exit 0 ;;
	*) echo "compile_matrix: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done

if ((quick)); then
	compilers=${PMQ_MATRIX_COMPILERS:-gcc}
	types=${PMQ_MATRIX_TYPES:-"Release Debug"}
	extra=(-DPMQ_BUILD_BENCH=OFF)
else
	compilers=${PMQ_MATRIX_COMPILERS:-"gcc clang"}
	types=${PMQ_MATRIX_TYPES:-"Release Debug MinSizeRel RelWithDebInfo debian"}
	extra=()
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/pmq-matrix.XXXXXX")
((keep)) || trap 'rm -rf "$work"' EXIT
failed=() passed=() skipped=()

# 1. -Werror is an option, off unless asked for (compile commands tell).
werror_in() { # builddir -> 0 when some compile command carries -Werror
	grep -q -- '-Werror"\|-Werror ' "$1/compile_commands.json"
}
for want in default ON; do
	b=$work/werror-$want
	args=(-DCMAKE_EXPORT_COMPILE_COMMANDS=ON -DPMQ_BUILD_TESTS=OFF -DPMQ_BUILD_BENCH=OFF)
	[[ $want == ON ]] && args+=(-DPMQ_WERROR=ON)
	if ! cmake -S "$src" -B "$b" "${args[@]}" >"$b.log" 2>&1; then
		echo "FAIL: configure (PMQ_WERROR $want):"; tail -20 "$b.log"; exit 1
	fi
	if [[ $want == default ]] && werror_in "$b"; then
		echo "FAIL: a default build compiles with -Werror; it must be opt-in (-DPMQ_WERROR=ON):"
		grep -o -- '-Werror[^ "]*' "$b/compile_commands.json" | sort | uniq -c
		failed+=("werror-default-off")
	elif [[ $want == ON ]] && ! werror_in "$b"; then
		echo "FAIL: -DPMQ_WERROR=ON does not add -Werror to the compile commands"
		failed+=("werror-on")
	else
		echo "ok:   PMQ_WERROR $want: -Werror $([[ $want == ON ]] && echo on || echo off)"
	fi
done

# 2. the builds
build_one() { # compiler type
	local cc=$1 type=$2 name=$1-$2 b=$work/$1-$2
	local args=(-DPMQ_WERROR=ON -DCMAKE_C_COMPILER="$cc" "${extra[@]}")
	local envs=()
	if ! command -v "$cc" >/dev/null; then
		skipped+=("$name (no $cc)"); return
	fi
	if [[ $cc == clang ]] && command -v clang++ >/dev/null; then args+=(-DCMAKE_CXX_COMPILER=clang++); fi
	if [[ $type == debian ]]; then
		if ! command -v dpkg-buildflags >/dev/null; then
			skipped+=("$name (no dpkg-buildflags: install dpkg-dev)"); return
		fi
		# what debhelper's cmake build does: build type None, flags from the environment
		local cflags cppflags ldflags
		cflags=$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get CFLAGS)
		cppflags=$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get CPPFLAGS)
		ldflags=$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get LDFLAGS)
		envs=(CFLAGS="$cflags $cppflags" CXXFLAGS="$cflags $cppflags" LDFLAGS="$ldflags")
		args+=(-DCMAKE_BUILD_TYPE=None)
	else
		args+=(-DCMAKE_BUILD_TYPE="$type")
	fi
	local t0=$SECONDS
	if env "${envs[@]}" cmake -S "$src" -B "$b" "${args[@]}" >"$b.log" 2>&1 &&
		nice -n 10 cmake --build "$b" -j"$jobs" >>"$b.log" 2>&1; then
		passed+=("$name ($((SECONDS - t0))s)")
		echo "ok:   $name ($((SECONDS - t0))s)"
	else
		failed+=("$name")
		echo "FAIL: $name (log: $b.log)"
		grep -m 20 -E 'error|Error|warning' "$b.log" | sed 's/^/      /'
	fi
	((keep)) || rm -rf "$b"
}
for cc in $compilers; do
	for type in $types; do
		build_one "$cc" "$type"
	done
done

echo "build matrix: ${#passed[@]} built, ${#failed[@]} failed, ${#skipped[@]} skipped"
for s in "${skipped[@]}"; do echo "  SKIP: $s"; done
((keep)) && echo "  build trees kept in $work"
if ((${#failed[@]})); then
	echo "  FAILED: ${failed[*]}"
	exit 1
fi
exit 0
