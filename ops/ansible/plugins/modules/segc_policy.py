#!/usr/bin/python
# -*- coding: utf-8 -*-
# segc_policy: puts a segc policy in force on a host, through the segc CLI (check, deploy
# --dry-run for the semantic difference, deploy, rollback, undeploy). Idempotent by the
# deployed policy hash; check mode with --diff shows which packets change verdict.
# Apache-2.0 (see the segc repository's LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: segc_policy
short_description: Deploy a segc firewall policy on a host
version_added: "0.1.0"
description:
  - Checks the policy files with C(segc check), then deploys them with C(segc deploy) on the
    given interfaces, switching atomically from the policy in force.
  - Idempotent: nothing is deployed (no switch, no new generation) when the deployed policy
    hash, interfaces and mode equal the new ones.
  - In check mode with C(--diff), shows the semantic difference against what is deployed
    (from C(segc deploy --dry-run)) - the packets whose verdict changes and the deciding
    rules on both sides - and changes nothing.
  - O(state=reverted) returns a deployment to the policy whose hash is O(revert_to) (the
    previous one, through C(segc rollback)), or removes it when O(revert_to) is empty (nothing
    was deployed before). A staged rollout uses it to undo a stage whose health gate failed.
options:
  name:
    description: The deployment's name (C(segc deploy --name)).
    type: str
    default: default
  files:
    description: The policy files (or folders) of this host's policy, on the managed host.
    type: list
    elements: path
  interfaces:
    description: The interfaces to enforce the policy on. Required with O(state=present).
    type: list
    elements: str
  state:
    description:
      - V(present) deploys O(files); V(absent) undeploys; V(reverted) returns to O(revert_to).
    type: str
    choices: [present, absent, reverted]
    default: present
  revert_to:
    description: With O(state=reverted), the policy hash to return to; empty means none was deployed.
    type: str
  strict:
    description: Refuse the policy when the rule analysis finds anything (C(--strict)).
    type: bool
    default: false
  audit:
    description: Deploy in audit mode (denies pass and are counted as would-deny).
    type: bool
    default: false
  run_tests:
    description: Run the policy's packet tests before deploying (C(--test)).
    type: bool
    default: false
  deploy_args:
    description: Further C(segc deploy) options, for example C([--sessions, "131072"]).
    type: list
    elements: str
    default: []
  segc:
    description: The segc executable on the managed host.
    type: path
    default: segc
  state_dir:
    description: segc's state directory (where O(state=reverted) reads the previous policy); default C($SEGC_STATE_DIR) or C(/var/lib/segc).
    type: path
author:
  - segc contributors
"""

EXAMPLES = r"""
- name: Enforce the web tier's policy on eth0
  segc.firewall.segc_policy:
    name: web
    files: [/etc/segc/web.seg]
    interfaces: [eth0]
  register: web_policy

- name: What would change (run with --check --diff)
  segc.firewall.segc_policy:
    name: web
    files: [/etc/segc/web.seg]
    interfaces: [eth0]
  check_mode: true

- name: Undo a failed stage
  segc.firewall.segc_policy:
    name: web
    state: reverted
    revert_to: "{{ web_policy.previous_hash }}"
"""

RETURN = r"""
policy_hash:
  description: The hash of the policy in force after the task (null when none is).
  returned: always
  type: str
previous_hash:
  description: The hash of the policy in force before the task (null when none was).
  returned: always
  type: str
generation:
  description: The generation in force after the task (each deploy makes a new one).
  returned: when a policy is in force
  type: int
switch_ms:
  description: Milliseconds the switch to the new policy took (one map write).
  returned: when a policy was deployed
  type: float
regions:
  description: The regions of packets whose verdict changes (segc's semantic diff), as segc deploy --dry-run --json reports them.
  returned: with state=present
  type: list
  elements: dict
"""

import json
import os
import re

from ansible.module_utils.basic import AnsibleModule

# The JSON a command printed, or None when it printed none (an error exit prints text).
def _json_or_none(text):
    try:
        return json.loads(text)
    except ValueError:
        return None


class Segc(object):
    """The segc CLI on the managed host; every call is bounded by segc's own lock timeout."""

    def __init__(self, module):
        self.module = module
        self.binary = module.get_bin_path(module.params["segc"], required=True) if "/" not in module.params["segc"] else module.params["segc"]

    def run(self, args):
        env = {"NO_COLOR": "1"}
        if self.module.params["state_dir"]:
            env["SEGC_STATE_DIR"] = self.module.params["state_dir"]
        return self.module.run_command([self.binary] + args, environ_update=env)

    def fail(self, what, rc, out, err, **extra):
        self.module.fail_json(msg="%s failed (exit %s): %s" % (what, rc, (err or out).strip()), rc=rc, stdout=out, stderr=err, **extra)

    def previous_hash(self, name):
        """The policy hash `segc rollback` would return to: the record's previous deployment (docs/deploy.md, "The record")."""
        path = os.path.join(self.module.params["state_dir"] or os.environ.get("SEGC_STATE_DIR") or "/var/lib/segc", name, "deployment.json")
        try:
            with open(path) as f:
                record = json.load(f)
        except (IOError, OSError, ValueError) as e:
            self.module.fail_json(msg="cannot read the deployment record %s: %s" % (path, e))
        return (record.get("previous") or {}).get("policyHash")

    def deployed(self, name):
        """The record of deployment `name` from `segc status --json`, or None."""
        rc, out, err = self.run(["status", "--name", name, "--json"])
        data = _json_or_none(out)
        if rc == 0 and data is not None:
            found = [d for d in data.get("deployments", []) if d.get("name") == name]
            return found[0] if found else None
        if "no deployment named" in err:
            return None
        self.fail("segc status", rc, out, err)


def _verdict_text(side):
    if side is None:
        return "unfiltered"
    rule = side.get("rule")
    if rule:
        where = "rule %s (priority %s, %s)" % (rule.get("name") or "-", rule.get("priority"), rule.get("location"))
    else:
        default = side.get("default") or {}
        where = "default of the direction (%s)" % (default.get("location") or "implicit")
    return "%s by %s" % (side.get("verdict"), where)


def diff_of(plan):
    """Ansible's before/after from segc deploy --dry-run --json: one line per changed region."""
    deployed = plan.get("deployed")
    before = ["policy %s, generation %s" % (deployed["policyHash"], deployed["generation"])] if deployed else ["no policy deployed"]
    after = ["policy %s" % plan["policyHash"]]
    ifaces = plan.get("interfaces", {})
    before.append("interfaces: %s" % ", ".join(ifaces.get("before") or []))
    after.append("interfaces: %s" % ", ".join(ifaces.get("after") or []))
    mode = plan.get("mode", {})
    before.append("mode: %s" % (mode.get("before") or "-"))
    after.append("mode: %s" % mode.get("after"))
    for region in (plan.get("diff") or {}).get("regions", []):
        head = "%s %s (%s)" % (region["direction"], region["example"], region["change"])
        before.append("%s: %s" % (head, _verdict_text(region.get("before"))))
        after.append("%s: %s" % (head, _verdict_text(region.get("after"))))
    return {
        "before_header": "deployed (%s)" % plan["name"],
        "after_header": "new (%s)" % plan["name"],
        "before": "\n".join(before) + "\n",
        "after": "\n".join(after) + "\n",
    }


def deploy_args(params):
    args = []
    for iface in params["interfaces"]:
        args += ["--iface", iface]
    args += ["--name", params["name"]]
    if params["strict"]:
        args.append("--strict")
    if params["audit"]:
        args.append("--audit")
    if params["run_tests"]:
        args.append("--test")
    return args + list(params["deploy_args"])


def present(module, segc):
    params = module.params
    if not params["files"] or not params["interfaces"]:
        module.fail_json(msg="state=present needs files and interfaces")
    # 1. Check: a policy with errors (or findings, with strict) never gets further.
    check_args = ["check"] + (["--strict"] if params["strict"] else []) + list(params["files"])
    rc, out, err = segc.run(check_args)
    if rc != 0:
        segc.fail("segc check", rc, out, err, diagnostics=out)
    # 2. Plan: the semantic difference against what is deployed, touching nothing.
    rc, out, err = segc.run(["deploy"] + list(params["files"]) + deploy_args(params) + ["--dry-run", "--json"])
    plan = _json_or_none(out)
    if rc != 0 or plan is None:
        segc.fail("segc deploy --dry-run", rc, out, err)
    deployed = plan.get("deployed")
    previous_hash = deployed["policyHash"] if deployed else None
    same_ifaces = sorted(plan["interfaces"]["before"]) == sorted(plan["interfaces"]["after"])
    same_mode = plan["mode"]["before"] == plan["mode"]["after"]
    changed = previous_hash != plan["policyHash"] or not same_ifaces or not same_mode
    result = {
        "changed": changed,
        "previous_hash": previous_hash,
        "policy_hash": plan["policyHash"] if changed and not module.check_mode else previous_hash,
        "regions": (plan.get("diff") or {}).get("regions", []),
    }
    if deployed:
        result["generation"] = deployed["generation"]
    if changed and module._diff:
        result["diff"] = diff_of(plan)
    if not changed or module.check_mode:
        if module.check_mode and changed:
            result["policy_hash"] = plan["policyHash"]
        module.exit_json(**result)
    # 3. Deploy: segc switches atomically and leaves the old policy in force on any failure.
    rc, out, err = segc.run(["deploy"] + list(params["files"]) + deploy_args(params) + ["--json"])
    done = _json_or_none(out)
    if rc != 0 or done is None:
        segc.fail("segc deploy", rc, out, err, previous_hash=previous_hash)
    result.update(policy_hash=done["policyHash"], generation=done["generation"], switch_ms=(done.get("timings") or {}).get("switchMs"), warnings_segc=done.get("warnings", []))
    module.exit_json(**result)


def absent(module, segc):
    name = module.params["name"]
    record = segc.deployed(name)
    if record is None:
        module.exit_json(changed=False, policy_hash=None, previous_hash=None)
    if not module.check_mode:
        rc, out, err = segc.run(["undeploy", "--name", name])
        if rc != 0:
            segc.fail("segc undeploy", rc, out, err)
    module.exit_json(changed=True, policy_hash=None, previous_hash=record["policyHash"])


def reverted(module, segc):
    name = module.params["name"]
    target = module.params["revert_to"] or None
    record = segc.deployed(name)
    current = record["policyHash"] if record else None
    if current == target:
        module.exit_json(changed=False, policy_hash=current, previous_hash=current, generation=record["generation"] if record else None)
    if target is None:
        # Nothing was deployed before: going back means undeploying.
        absent(module, segc)
    previous = segc.previous_hash(name)
    if previous != target:
        module.fail_json(msg="deployment '%s' is at %s and its previous policy is %s, not %s: cannot revert" % (name, current, previous, target))
    if module.check_mode:
        module.exit_json(changed=True, policy_hash=target, previous_hash=current)
    rc, out, err = segc.run(["rollback", "--name", name])
    if rc != 0:
        segc.fail("segc rollback", rc, out, err)
    after = segc.deployed(name) or {}
    module.exit_json(changed=True, policy_hash=after.get("policyHash"), previous_hash=current, generation=after.get("generation"))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", default="default"),
            files=dict(type="list", elements="path"),
            interfaces=dict(type="list", elements="str"),
            state=dict(type="str", choices=["present", "absent", "reverted"], default="present"),
            revert_to=dict(type="str"),
            strict=dict(type="bool", default=False),
            audit=dict(type="bool", default=False),
            run_tests=dict(type="bool", default=False),
            deploy_args=dict(type="list", elements="str", default=[]),
            segc=dict(type="path", default="segc"),
            state_dir=dict(type="path"),
        ),
        required_if=[("state", "present", ("files", "interfaces"))],
        supports_check_mode=True,
    )
    if not re.match(r"^[A-Za-z0-9_.-]+$", module.params["name"]):
        module.fail_json(msg="name '%s' is not a deployment name" % module.params["name"])
    segc = Segc(module)
    state = module.params["state"]
    if state == "present":
        present(module, segc)
    elif state == "absent":
        absent(module, segc)
    else:
        reverted(module, segc)


if __name__ == "__main__":
    main()
