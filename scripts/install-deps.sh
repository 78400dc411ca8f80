#!/bin/bash
# Installs the Debian packages pmq needs, by profile (Debian 12, as root):
#   scripts/install-deps.sh demo   what scripts/demo.sh needs: a C compiler,
#                                  cmake and the libraries of libpmq, pmqd, pmqctl
#   scripts/install-deps.sh [full] everything to build, test and benchmark
#                                  (scripts/test.sh): the demo's set, the test
#                                  tools, and bench/deps.txt + daemon/deps.txt
#   scripts/install-deps.sh --list PROFILE   print the profile's packages
# Each package is asked for once; only missing ones are installed.
set -euo pipefail
cd "$(dirname "$0")/.."
list=0
if [[ ${1:-} == --list ]]; then list=1; shift; fi
profile=${1:-full}

# libpmq (libpmem), pmqd (liburcu, libsystemd, OpenSSL's libcrypto), the build
demo=(gcc libc6-dev make cmake pkg-config libpmem-dev liburcu-dev libsystemd-dev libssl-dev)
# tests: cmocka; strace (zero-syscall proof), unshare/ip/ps (util-linux, iproute2,
# procps), clang + its runtime (fuzzers, the clang builds), spin (the model),
# man-db/groff-base (man page test), systemd (systemd-analyze in the unit test);
# build-essential brings g++ (C++ header test) and dpkg-dev (dpkg-buildflags: the
# Debian build of tests/configs/compile_matrix.sh)
full=("${demo[@]}" build-essential git libcmocka-dev strace util-linux iproute2 procps
      clang libclang-rt-14-dev spin man-db groff-base systemd
      python3-cffi python3-pytest python3-venv # the Python binding's tests (tests/python)
      librabbitmq-dev rabbitmq-server # pmq-shovel (daemon/shovel) and its broker tests (tests/shovel)
      etcd-server) # the witness tests (tests/witness) start a real etcd

case $profile in
demo) want=("${demo[@]}") ;;
full|test) want=("${full[@]}")
	for f in bench/deps.txt daemon/deps.txt; do
		[[ -f $f ]] && while read -r p; do [[ -n $p && $p != \#* ]] && want+=("$p"); done <"$f"
	done ;;
-h|--help) sed -n '2,9p' "$0"; exit 0 ;;
*) echo "install-deps: unknown profile \"$profile\" --> use demo or full" >&2; exit 2 ;;
esac

declare -A seen=()
missing=()
for p in "${want[@]}"; do
	[[ -n ${seen[$p]:-} ]] && continue
	seen[$p]=1
	if ((list)); then echo "$p"; continue; fi
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	if [[ $(id -u) != 0 ]]; then
		echo "install-deps: missing packages: ${missing[*]}; run as root (or: sudo apt-get install ${missing[*]})" >&2
		exit 1
	fi
	echo "install-deps ($profile): installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
