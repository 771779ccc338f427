// Rule analysis, unused declarations: a `set` or `ports` that no rule or declaration uses.
import { Code, makeDiagnostic, type Diagnostic } from '../diagnostics.ts';
import type { ProgramIr } from '../ir.ts';

export function analyzeUnused(ir: ProgramIr): Diagnostic[] {
  return ir.declarations
    .filter((d) => d.uses.length === 0)
    .map((d) => makeDiagnostic(d.kind === 'set' ? Code.UnusedSet : Code.UnusedPorts, d.span, { name: d.name }));
}
