#!/usr/bin/env bash
# The kernel tests as a fresh machine runs them: in a private mount namespace where no bpffs is
# mounted at /sys/fs/bpf (the host's mount, and any pins on it, stay untouched outside). Proves
# that the tests and `segc deploy` mount what they need themselves. Needs root; skips otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "test-fresh-bpffs: skipped (needs root)"
  exit 0
fi
# shellcheck disable=SC2016
exec unshare --mount --propagation private -- bash -c '
  set -euo pipefail
  while [ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" = bpf_fs ]; do umount /sys/fs/bpf; done
  echo "test-fresh-bpffs: /sys/fs/bpf is $(stat -f -c %T /sys/fs/bpf) in this mount namespace"
  if [ $# -eq 0 ]; then set -- test/kernel; fi
  exec npx vitest run "$@"
' test-fresh-bpffs "$@"
