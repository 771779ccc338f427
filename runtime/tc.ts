// Runtime: TC attachment of a classifier to an interface, by ifindex, two ways. clsact filters
// through libbpf's netlink helpers: attaching over an existing filter at the same handle and
// priority replaces its program atomically (the kernel swaps the pointer under RTNL), so no
// packet passes the hook unclassified during a redeploy. And TCX links (kernel 6.6+), whose
// program bpf_link_update swaps in one step, and which last while their link is pinned.
import {
  BPF_TCX_EGRESS,
  BPF_TCX_INGRESS,
  BPF_TC_EGRESS,
  BPF_TC_F_REPLACE,
  BPF_TC_INGRESS,
  bpf_link_create,
  bpf_link_update,
  bpf_prog_get_fd_by_id,
  bpf_prog_query,
  bpf_prog_get_info_by_fd,
  bpf_tc_attach,
  bpf_tc_detach,
  bpf_tc_hook_create,
  bpf_tc_hook_destroy,
  bpf_tc_query,
  close,
  if_nametoindex,
  type ProgInfo,
} from './libbpf.ts';
import { isBpfError } from './errors.ts';

export type TcDirection = 'ingress' | 'egress';

export const TC_DIRECTIONS: readonly TcDirection[] = ['ingress', 'egress'];

/**
 * Where segc's filter sits on each hook. Priority 1 runs before filters of the usual
 * priorities; the handle spells "segc" in a way `tc filter show` makes recognisable (0x5e6c).
 */
export const SEGC_TC_HANDLE = 0x5e6c;
export const SEGC_TC_PRIORITY = 1;

export interface TcSlot {
  readonly handle?: number;
  readonly priority?: number;
}

export interface TcAttachment {
  readonly ifindex: number;
  readonly direction: TcDirection;
  readonly handle: number;
  readonly priority: number;
  /** The kernel's id of the attached program. */
  readonly progId: number;
}

function attachPoint(direction: TcDirection): number {
  return direction === 'ingress' ? BPF_TC_INGRESS : BPF_TC_EGRESS;
}

function slotOf(slot: TcSlot): { handle: number; priority: number } {
  return { handle: slot.handle ?? SEGC_TC_HANDLE, priority: slot.priority ?? SEGC_TC_PRIORITY };
}

/** The ifindex of `name` in this thread's network namespace; BpfError ENODEV if none. */
export function interfaceIndex(name: string): number {
  return if_nametoindex(name);
}

/** Adds the clsact qdisc to the interface; false when it had one already (not an error). */
export function ensureClsact(ifindex: number): boolean {
  try {
    bpf_tc_hook_create({ ifindex, attachPoint: BPF_TC_INGRESS | BPF_TC_EGRESS });
    return true;
  } catch (error) {
    if (isBpfError(error, 'EEXIST')) return false;
    throw error;
  }
}

/**
 * Removes the clsact qdisc with every filter on it, segc's or not: only for a qdisc this
 * deployment created. False when there was none.
 */
export function removeClsact(ifindex: number): boolean {
  try {
    bpf_tc_hook_destroy({ ifindex, attachPoint: BPF_TC_INGRESS | BPF_TC_EGRESS });
    return true;
  } catch (error) {
    if (isBpfError(error, 'ENOENT', 'EINVAL')) return false;
    throw error;
  }
}

/**
 * Attaches `progFd` as a direct-action filter on one direction, creating clsact if needed.
 * When a filter sits at the slot already, its program is replaced in one step.
 */
export function attachTc(ifindex: number, direction: TcDirection, progFd: number, slot: TcSlot = {}): TcAttachment {
  ensureClsact(ifindex);
  const { handle, priority } = slotOf(slot);
  const attached = bpf_tc_attach({ ifindex, attachPoint: attachPoint(direction) }, { progFd, flags: BPF_TC_F_REPLACE, handle, priority });
  return { ifindex, direction, handle: attached.handle, priority: attached.priority, progId: attached.progId };
}

/** Removes the filter at the slot; false when there was none (or no clsact at all). */
export function detachTc(ifindex: number, direction: TcDirection, slot: TcSlot = {}): boolean {
  try {
    bpf_tc_detach({ ifindex, attachPoint: attachPoint(direction) }, slotOf(slot));
    return true;
  } catch (error) {
    if (isBpfError(error, 'ENOENT', 'EINVAL')) return false;
    throw error;
  }
}

/** The id of the program attached at the slot, or undefined when none is. */
export function queryTc(ifindex: number, direction: TcDirection, slot: TcSlot = {}): number | undefined {
  try {
    return bpf_tc_query({ ifindex, attachPoint: attachPoint(direction) }, slotOf(slot))?.progId;
  } catch (error) {
    // No clsact qdisc: nothing can be attached (libbpf reports EINVAL for a missing parent).
    if (isBpfError(error, 'EINVAL', 'ENOENT')) return undefined;
    throw error;
  }
}

/** Information on the program attached at the slot (name, tag, map ids), if any. */
export function queryTcProgram(ifindex: number, direction: TcDirection, slot: TcSlot = {}): ProgInfo | undefined {
  const progId = queryTc(ifindex, direction, slot);
  if (progId === undefined) return undefined;
  const fd = bpf_prog_get_fd_by_id(progId);
  try {
    return bpf_prog_get_info_by_fd(fd);
  } finally {
    close(fd);
  }
}

// ---------------------------------------------------------------------------------------------
// TCX links.

function tcxAttachType(direction: TcDirection): number {
  return direction === 'ingress' ? BPF_TCX_INGRESS : BPF_TCX_EGRESS;
}

/**
 * Attaches `progFd` to the interface through a TCX link (appended after the links already
 * there); returns the link fd. Pin it (bpf_obj_pin) for the attachment to outlive the process.
 */
export function attachTcxLink(ifindex: number, direction: TcDirection, progFd: number): number {
  return bpf_link_create(progFd, ifindex, tcxAttachType(direction));
}

/** Swaps the link's program in one step; with `expectedProgFd`, only if that one still runs. */
export function updateTcxLink(linkFd: number, progFd: number, expectedProgFd?: number): void {
  bpf_link_update(linkFd, progFd, expectedProgFd === undefined ? {} : { oldProgFd: expectedProgFd });
}

/** The ids of the programs attached through TCX to one direction, in running order. */
export function queryTcx(ifindex: number, direction: TcDirection): number[] {
  return bpf_prog_query(ifindex, tcxAttachType(direction));
}
