// Test support: a loaded data path for kernel tests and benchmarks: load once, install policies
// into the inactive slot with increasing generations, run Packets as frames, and compare the
// kernel's decision with the interpreter's and the kernel model's.
import { existsSync } from 'node:fs';
import { decideNoSession } from '../../compiler/analysis/no-session.ts';
import { emit } from '../../compiler/emit.ts';
import { evaluate } from '../../compiler/evaluate.ts';
import { formatPacket, type Packet } from '../../compiler/packet.ts';
import type { ProgramIr } from '../../compiler/ir.ts';
import type { PolicyImage } from '../../compiler/entries.ts';
import { activateSlot, readConfig, writeConfig } from '../../runtime/datapath/config.ts';
import { DEFAULT_OBJECT_PATH } from '../../runtime/loader.ts';
import { installPolicy } from '../../runtime/datapath/slots.ts';
import { runFrame, type KernelDecision } from '../../runtime/datapath/test-run.ts';
import { type Datapath } from '../../runtime/datapath/datapath.ts';
import { buildFrame, type FrameOptions } from '../../runtime/packet-bytes.ts';
import { createKernelModel, modelClassify, type KernelModel } from './kernel-model.ts';

/** Kernel tests run only as root with the object built. */
export const KERNEL_AVAILABLE = process.getuid?.() === 0 && existsSync(DEFAULT_OBJECT_PATH);

export interface Installed {
  readonly ir: ProgramIr;
  readonly image: PolicyImage;
  readonly model: KernelModel;
  readonly slot: number;
  readonly generation: bigint;
}

let generationCounter = 0n;

/** Emits (with the `nosession` decisions), installs into the inactive slot and switches to it (`audit`: the whole policy in audit mode). */
export function deployIr(dp: Datapath, ir: ProgramIr, options: { readonly audit?: boolean } = {}): Installed {
  // The `nosession` rules the analysis proves, as a deploy writes them.
  const image = emit(ir, { noSession: decideNoSession(ir).ruleIds });
  const config = readConfig(dp);
  const slot = generationCounter === 0n ? 0 : 1 - config.activeSlot;
  generationCounter += 1n;
  installPolicy(dp, image, { slot, generation: generationCounter, audit: options.audit === true });
  activateSlot(dp, slot);
  return { ir, image, model: createKernelModel(image), slot, generation: generationCounter };
}

export function setFlags(dp: Datapath, flags: number): void {
  writeConfig(dp, { ...readConfig(dp), flags });
}

export const DIRECTIONS = [
  { dir: 0, program: 'ingress' },
  { dir: 1, program: 'egress' },
] as const;

/**
 * Runs the packet through both directions and fails, printing the packet and every answer,
 * unless the interpreter, the model and the kernel agree on verdict and rule.
 */
export function expectSameDecision(dp: Datapath, installed: Installed, packet: Packet, frameOptions: FrameOptions = {}): void {
  const frame = buildFrame(packet, frameOptions);
  for (const { dir, program } of DIRECTIONS) {
    const direction = dir === 0 ? installed.ir.ingress : installed.ir.egress;
    const want = evaluate(direction, packet);
    const model = modelClassify(installed.model, dir, packet);
    const got = runFrame(dp, program, frame);
    const wantRule = want.rule?.id ?? null;
    if (got.verdict !== want.verdict || got.rule !== wantRule || model.verdict !== want.verdict || model.rule !== wantRule) {
      throw new Error(
        `${direction.direction} ${formatPacket(packet)} (frame options ${JSON.stringify(frameOptions)}): ` +
          `evaluate ${want.verdict} by ${wantRule === null ? 'default' : `rule ${wantRule} ${want.rule?.name}`}; ` +
          `model ${model.verdict} by ${model.rule ?? 'default'}; kernel ${describe(got)}`,
      );
    }
  }
}

export function describe(d: KernelDecision): string {
  return `${d.verdict} by ${d.rule ?? 'default'} (reason ${d.reason}, retval ${d.retval})`;
}
