#!/usr/bin/python
# -*- coding: utf-8 -*-
# segc_health: the health signals of a segc deployment over a time window, from the data
# path's counters (segc stats --json) and the record (segc status --json): deny rate, would-deny
# rate, parse failures, whether the policy is in force on every hook. Read-only; a rollout's
# health gate compares them with its thresholds.
# Apache-2.0 (see the segc repository's LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: segc_health
short_description: Read a segc deployment's health over a time window
version_added: "0.1.0"
description:
  - Reads the deployment's counters (C(segc stats --json)) twice, O(window) seconds apart, and
    returns the rates of denied packets, would-denied packets (audit) and parse failures in
    that window, and whether the recorded policy is in force on every hook (C(segc status --json)).
  - With thresholds given, C(healthy) says whether every rate is within its threshold and the
    policy is in force; the module itself never fails on an unhealthy deployment, so that a
    play decides (with C(assert) or C(failed_when)) what to do.
  - Never changes anything.
options:
  name:
    description: The deployment's name.
    type: str
    default: default
  window:
    description: Seconds between the two readings.
    type: float
    default: 10
  max_deny_rate:
    description: Denied packets per second above which the deployment is unhealthy.
    type: float
  max_would_deny_rate:
    description: Would-denied (audit) packets per second above which it is unhealthy.
    type: float
  max_parse_failure_rate:
    description: Packets per second the data path could not parse above which it is unhealthy.
    type: float
  segc:
    description: The segc executable on the managed host.
    type: path
    default: segc
author:
  - segc contributors
"""

EXAMPLES = r"""
- name: Read the health of the web policy over 30 seconds
  segc.firewall.segc_health:
    name: web
    window: 30
    max_deny_rate: 5
  register: web_health

- name: Gate
  ansible.builtin.assert:
    that: web_health.healthy
"""

RETURN = r"""
healthy:
  description: Every rate within its threshold and the policy in force on every hook.
  returned: always
  type: bool
problems:
  description: What made the deployment unhealthy, one sentence each.
  returned: always
  type: list
  elements: str
deny_rate:
  description: Denied packets per second in the window.
  returned: always
  type: float
would_deny_rate:
  description: Would-denied packets per second in the window.
  returned: always
  type: float
parse_failure_rate:
  description: Unparsable packets per second in the window.
  returned: always
  type: float
generation:
  description: The generation in force.
  returned: always
  type: int
policy_hash:
  description: The hash of the policy in force.
  returned: always
  type: str
"""

import json
import re
import time

from ansible.module_utils.basic import AnsibleModule

# The data path's parse-failure reasons (docs/metrics.md, segc_reason_packets_total).
PARSE_FAILURE = re.compile(r"^reason:(trunc-|bad-|ext-limit$|vlan-depth$)")


def read(module, args):
    binary = module.params["segc"]
    rc, out, err = module.run_command([binary] + args, environ_update={"NO_COLOR": "1"})
    try:
        data = json.loads(out)
    except ValueError:
        data = None
    if rc != 0 or data is None:
        module.fail_json(msg="segc %s failed (exit %s): %s" % (" ".join(args), rc, (err or out).strip()))
    return data


def counters(module, name):
    stats = read(module, ["stats", "--name", name, "--json"])
    packets = dict((c["counter"], c["packets"]) for c in stats["counters"])
    return {
        "deny": packets.get("deny", 0),
        "would_deny": packets.get("would-deny", 0),
        "parse_failure": sum(v for k, v in packets.items() if PARSE_FAILURE.match(k)),
        "generation": stats.get("generation"),
    }


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", default="default"),
            window=dict(type="float", default=10),
            max_deny_rate=dict(type="float"),
            max_would_deny_rate=dict(type="float"),
            max_parse_failure_rate=dict(type="float"),
            segc=dict(type="path", default="segc"),
        ),
        supports_check_mode=True,
    )
    name = module.params["name"]
    window = module.params["window"]
    if window <= 0:
        module.fail_json(msg="window must be positive")
    first = counters(module, name)
    started = time.time()
    time.sleep(window)
    second = counters(module, name)
    elapsed = time.time() - started
    rates = dict((k, (second[k] - first[k]) / elapsed) for k in ("deny", "would_deny", "parse_failure"))

    status = read(module, ["status", "--name", name, "--json"])["deployments"][0]
    kernel = status.get("kernel") or {}
    problems = []
    if "error" in kernel:
        problems.append("the deployment's pins cannot be read: %s" % kernel["error"])
    elif not kernel.get("inForce", False):
        problems.append("generation %s is recorded but %s is in force" % (status["generation"], kernel.get("activeGeneration")))
    if kernel.get("missing"):
        problems.append("hooks without the deployment's program: %s" % ", ".join(kernel["missing"]))
    if second["generation"] != first["generation"]:
        problems.append("the policy changed during the window (generation %s -> %s)" % (first["generation"], second["generation"]))
    for key, option, what in (("deny", "max_deny_rate", "denied"), ("would_deny", "max_would_deny_rate", "would-denied"), ("parse_failure", "max_parse_failure_rate", "unparsable")):
        limit = module.params[option]
        if limit is not None and rates[key] > limit:
            problems.append("%.2f %s packets/s over %.0f s, above %s (%s)" % (rates[key], what, elapsed, limit, option))
    module.exit_json(
        changed=False,
        healthy=not problems,
        problems=problems,
        deny_rate=rates["deny"],
        would_deny_rate=rates["would_deny"],
        parse_failure_rate=rates["parse_failure"],
        window=elapsed,
        generation=status["generation"],
        policy_hash=status["policyHash"],
    )


if __name__ == "__main__":
    main()
