#!/bin/bash
# Installs every Debian package pmq needs to build, test and benchmark.
# Run as root on Debian 12. Lists: the core below, plus bench/deps.txt and
# daemon/deps.txt when present (one package per line).
set -euo pipefail
cd "$(dirname "$0")/.."

core=(build-essential cmake pkg-config git
      libpmem-dev liburcu-dev libcmocka-dev libssl-dev libsystemd-dev
      strace util-linux iproute2 procps clang libclang-rt-14-dev spin
      python3-cffi python3-pytest python3-venv)
extra=()
for f in bench/deps.txt daemon/deps.txt; do
	[[ -f $f ]] && while read -r p; do [[ -n $p && $p != \#* ]] && extra+=("$p"); done <"$f"
done

missing=()
for p in "${core[@]}" "${extra[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	if [[ $(id -u) != 0 ]]; then
		echo "install-deps: missing packages: ${missing[*]}; run as root (or: sudo apt-get install ${missing[*]})" >&2
		exit 1
	fi
	echo "install-deps: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
