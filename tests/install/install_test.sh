#!/bin/sh
# install_test.sh BUILD_DIR CONSUMER_SRC CC CMAKE [SANITIZE]
# cmake --install BUILD_DIR into a temporary prefix; build CONSUMER_SRC
# against it with pkg-config (PKG_CONFIG_PATH) and with find_package(pmq)
# (CMAKE_PREFIX_PATH); run both, with nothing from the build tree on the
# include or library path.
set -u
build=$1 src=$2 cc=$3 cmake=$4 sanitize=${5:-}
if [ -n "$sanitize" ]; then
	echo "SKIP: the library is built with -fsanitize=$sanitize; a plain consumer cannot link it"
	exit 77
fi
command -v pkg-config >/dev/null 2>&1 || { echo "SKIP: pkg-config not installed"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
prefix=$tmp/prefix
fail=0

"$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 || {
	echo "FAIL: cmake --install"; cat "$tmp/install.log"; exit 1; }
pc=$(find "$prefix" -name pmq.pc | head -1)
cfgfile=$(find "$prefix" -name pmqConfig.cmake | head -1)
hdr=$(find "$prefix" -name pmq.h | head -1)
admin_hdr=$(find "$prefix" -name pmq_admin.h | head -1)
lib=$(find "$prefix" -name 'libpmq.so.1*' | head -1)
for f in "$pc" "$cfgfile" "$hdr" "$admin_hdr" "$lib"; do
	[ -n "$f" ] || { echo "FAIL: missing from the install:"; find "$prefix" -type f; exit 1; }
done
libdir=$(dirname "$lib")
# nothing test-only is installed
if find "$prefix" -name 'libpmq_fault*' | grep -q .; then
	echo "FAIL: the fault-injection library was installed"
	fail=1
fi

# 1. pkg-config
export PKG_CONFIG_PATH=$(dirname "$pc")
pcprefix=$(pkg-config --variable=prefix pmq)
flags="$(pkg-config --cflags --libs pmq)"
case "$flags" in
*"$prefix"*) ;;
*)
	echo "FAIL: pmq.pc names prefix $pcprefix, not the install prefix $prefix:"
	echo "      pkg-config --cflags --libs pmq = $flags"
	echo "      (the .pc file is not relocatable: cmake --install --prefix breaks pkg-config users)"
	fail=1
	flags="$(pkg-config --define-prefix --cflags --libs pmq)" # go on, to test the rest
	;;
esac
# shellcheck disable=SC2086
if "$cc" -o "$tmp/consumer_pc" "$src/consumer.c" $flags -Wl,-rpath,"$libdir" 2>"$tmp/cc.log"; then
	"$tmp/consumer_pc" || { echo "FAIL: the pkg-config consumer did not run cleanly"; fail=1; }
else
	echo "FAIL: building against pkg-config flags ($flags):"; cat "$tmp/cc.log"; fail=1
fi

# 2. find_package(pmq)
if "$cmake" -S "$src" -B "$tmp/b" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" \
	-DCMAKE_BUILD_RPATH="$libdir" >"$tmp/cm.log" 2>&1 && "$cmake" --build "$tmp/b" >>"$tmp/cm.log" 2>&1; then
	"$tmp/b/consumer" || { echo "FAIL: the find_package consumer did not run cleanly"; fail=1; }
else
	echo "FAIL: find_package(pmq) build:"; cat "$tmp/cm.log"; fail=1
fi
# the consumer really uses the installed library, not the build tree's
if command -v ldd >/dev/null 2>&1 && [ -x "$tmp/b/consumer" ]; then
	ldd "$tmp/b/consumer" | grep libpmq | grep -q "$prefix" || {
		echo "FAIL: consumer resolves libpmq outside the prefix:"; ldd "$tmp/b/consumer"; fail=1; }
fi
[ $fail -eq 0 ] && echo "OK: installed package works through pkg-config and find_package(pmq)"
exit $fail
