#!/usr/bin/env bash
# Runs every benchmark under bench/ to the end, then prints one summary (each benchmark prints
# its figures and never asserts: machines are noisy, so goals are read off the printed ratios,
# not enforced by tests). A benchmark that fails does not stop the others; the script exits 1
# when any failed. Output is also kept in bench-results/ for comparison between runs.
#
#   scripts/bench.sh          every benchmark (kernel ones need root, else they are skipped)
#   scripts/bench.sh --dry    each benchmark only starts and checks its inputs (seconds; run
#                             by test/scripts/bench.test.ts, so one that cannot start fails CI)
#   scripts/bench.sh --list   the benchmarks, one a line
#
# Benchmarks are the bench/*.ts files except support modules (first line "// Benchmark
# support"). bench/session-ab.ts compares two builds of the classifier: A is the one committed
# at BENCH_AB_BASE (default HEAD, built by `make bpf-at-ref`), B the working tree's
# (bpf/build/segc.bpf.o), so an uncommitted data-path change is measured against HEAD.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=run
case "${1:-}" in
  --dry) mode=dry ;;
  --list) mode=list ;;
  '') ;;
  *) echo "usage: scripts/bench.sh [--dry|--list]" >&2; exit 2 ;;
esac

benchmarks=()
for b in bench/*.ts; do
  head -n 1 "$b" | grep -q '^// Benchmark support' || benchmarks+=("$b")
done
if [ "$mode" = list ]; then
  printf '%s\n' "${benchmarks[@]}"
  exit 0
fi

needs_root() {
  case "$1" in
    bench/datapath.ts|bench/deploy.ts|bench/libbpf.ts|bench/agent.ts|bench/events.ts|bench/session-ab.ts|bench/canary.ts) return 0 ;;
    *) return 1 ;;
  esac
}

work=$(mktemp -d "${TMPDIR:-/tmp}/segc-bench-XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p bench-results

if [ "$mode" = run ]; then
  # Once for all: bench/check.ts and bench/format.ts time the built CLI (bin/segc.js runs dist/).
  npm run --silent build
fi

summary=()
failed=0
for b in "${benchmarks[@]}"; do
  name=$(basename "$b" .ts)
  args=()
  case "$b" in
    bench/check.ts|bench/format.ts|bench/lsp.ts) args=(--no-build) ;;
    bench/session-ab.ts|bench/canary.ts)
      base=${BENCH_AB_BASE:-HEAD}
      if ! make -s bpf-at-ref REF="$base" OUT="$work/base.bpf.o" >"$work/base.log" 2>&1; then
        cat "$work/base.log" >&2
        summary+=("$(printf '%-22s %-28s %8s' "$b" "FAILED (building $base)" '-')")
        failed=1
        continue
      fi
      args=("$work/base.bpf.o" bpf/build/segc.bpf.o) ;;
  esac
  if [ "$mode" = run ] && needs_root "$b" && [ "$(id -u)" != 0 ]; then
    echo "skip $b (needs root)"
    summary+=("$(printf '%-22s %-28s %8s' "$b" 'skipped (needs root)' '-')")
    continue
  fi
  [ "$mode" = dry ] && args+=(--dry)
  echo "== $b ${args[*]}"
  start=$EPOCHREALTIME
  set +e
  if [ "$mode" = dry ]; then
    node "$b" "${args[@]}"
  else
    node "$b" "${args[@]}" | tee "bench-results/$name.txt"
  fi
  rc=${PIPESTATUS[0]}
  set -e
  secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
  if [ "$rc" = 0 ]; then
    status=ok
  else
    status="FAILED (exit $rc)"
    failed=1
  fi
  summary+=("$(printf '%-22s %-28s %8.1f' "$b" "$status" "$secs")")
done

echo
echo "== summary ($mode; node $(node --version); $(date -u +%Y-%m-%dT%H:%MZ))"
printf '%-22s %-28s %8s\n' benchmark result seconds
printf '%s\n' "${summary[@]}"
[ "$mode" = run ] && echo "figures: bench-results/*.txt"
exit "$failed"
