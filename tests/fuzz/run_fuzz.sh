#!/bin/bash
# Build the libFuzzer targets with clang and run each for a bounded time.
# Usage: run_fuzz.sh SOURCE_DIR BUILD_DIR [seconds]. Exits 77 if clang's
# libFuzzer runtime is not installed.
set -euo pipefail
src=$1 out=$2 secs=${3:-20}
command -v clang >/dev/null || { echo "skip: clang not installed (scripts/install-deps.sh installs it)"; exit 77; }
mkdir -p "$out"
flags=(-g -O1 -std=gnu11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -I"$src/include" -I"$src/src")
if ! clang "${flags[@]}" "$src/tests/fuzz/fuzz_header.c" "$src/src/format.c" "$src/src/crc32c.c" \
	"$src/src/errors.c" -o "$out/fuzz_header" 2>"$out/build.log"; then
	if grep -q "libclang_rt.fuzzer\|cannot find.*fuzzer" "$out/build.log"; then
		echo "skip: libFuzzer runtime missing (Debian libclang-rt-14-dev)"; exit 77
	fi
	cat "$out/build.log"; exit 1
fi
mkdir -p "$out/corpus_header"
"$out/fuzz_header" -max_total_time="$secs" -rss_limit_mb=1024 "$out/corpus_header" 2>&1 | tail -3
echo "fuzz_header: ${secs}s without a crash"

# replication frame parser (daemon/repl/repl_proto.c); needs libcrypto for the HMAC helpers it also holds
if [ -f "$src/daemon/repl/repl_proto.c" ]; then
	if ! clang "${flags[@]}" -I"$src/daemon/repl" -I"$src/daemon/common" "$src/tests/fuzz/fuzz_frame.c" "$src/daemon/repl/repl_proto.c" \
		"$src/daemon/repl/repl_seal.c" "$src/daemon/repl/repl_group_proto.c" \
		"$src/src/crc32c.c" $(pkg-config --libs libcrypto) -o "$out/fuzz_frame" 2>"$out/build_frame.log"; then
		cat "$out/build_frame.log"; exit 1
	fi
	mkdir -p "$out/corpus_frame"
	"$out/fuzz_frame" -max_total_time="$secs" -rss_limit_mb=1024 "$out/corpus_frame" 2>&1 | tail -3
	echo "fuzz_frame: ${secs}s without a crash"
fi
