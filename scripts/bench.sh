#!/usr/bin/env bash
# Runs every benchmark under bench/ (each prints its figures and never asserts: machines are
# noisy, so goals are read off the printed ratios, not enforced by tests). Output is also kept
# in bench-results/ for comparison between runs. Kernel benchmarks need root.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench-results
for b in bench/*.ts; do
  case "$b" in
    bench/datapath.ts|bench/deploy.ts|bench/libbpf.ts|bench/agent.ts|bench/events.ts)
      [ "$(id -u)" = 0 ] || { echo "skip $b (needs root)"; continue; } ;;
  esac
  echo "== $b"
  node "$b" | tee "bench-results/$(basename "$b" .ts).txt"
done
