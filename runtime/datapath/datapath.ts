// The kernel contract: a data path as TypeScript holds it (the classifier's programs and maps,
// loaded by runtime/loader.ts or adopted from the pins by runtime/deploy.ts). Every map module
// of this folder takes one and finds its map here, by the name the generated ABI gives it.
import type { BpfObject } from '../libbpf.ts';
import { SEG_MAPS, type MapDefinition, type MapName } from './abi.ts';

/** A loaded or adopted data path: program and map fds, valid until it is closed or released. */
export interface Datapath {
  /** The libbpf object (0n for a data path adopted from its pins). */
  readonly obj: BpfObject;
  readonly programs: { readonly ingress: number; readonly egress: number; readonly parseOnly: number };
  /** Map fds by name; a data path pinned by an older segc may lack some. */
  readonly maps: Readonly<Partial<Record<MapName, number>>>;
  readonly rulesPerSlot: number;
}

/** A map of a data path with what the contract says it holds. */
export interface MapHandle {
  readonly fd: number;
  readonly definition: MapDefinition;
}

/** The map `name` of `dp`, or an error that says which one is missing. */
export function mapOf(dp: Datapath, name: MapName): MapHandle {
  const fd = dp.maps[name];
  if (fd === undefined) throw new Error(`the data path has no ${name} map (deployed by an older segc? deploy again to upgrade it)`);
  return { fd, definition: SEG_MAPS[name] };
}
