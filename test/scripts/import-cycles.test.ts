import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';

// No import circles (STYLE.md): a module and what it imports form a tree. Every edge counts,
// static, type-only and dynamic (`await import(...)`) alike: a lazy import still ties the two
// modules' meanings together.
const ROOTS = ['compiler', 'runtime', 'scripts', 'bench'];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+\.ts)['"]/g;

/** Module -> the modules it imports (relative .ts specifiers, resolved). */
export function importGraph(files: readonly string[], read: (path: string) => string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const targets = [...read(file).matchAll(IMPORT)].map((m) => normalize(join(dirname(file), m[1] as string)));
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

/** Every strongly connected set of more than one module (or a module importing itself), as a path. */
export function importCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let index = 0;
  const indexOf = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    indexOf.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!indexOf.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, indexOf.get(w) as number));
    }
    if (low.get(v) === indexOf.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop() as string;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!indexOf.has(v)) visit(v);
  return out;
}

describe('imports', () => {
  it('form no circle in compiler/, runtime/, scripts/ or bench/ (static, type-only or dynamic)', () => {
    const files = ROOTS.flatMap((r) => sources(r));
    expect(importCycles(importGraph(files, (p) => readFileSync(p, 'utf8')))).toEqual([]);
  });

  it('the check finds a circle through a dynamic import and a type-only one', () => {
    const texts: Record<string, string> = {
      'runtime/cli/a.ts': "import type { X } from './b.ts';",
      'runtime/cli/b.ts': "const { y } = await import('./a.ts');",
      'runtime/cli/c.ts': "import { z } from './a.ts';",
    };
    expect(importCycles(importGraph(Object.keys(texts), (p) => texts[p] as string))).toEqual([['runtime/cli/a.ts', 'runtime/cli/b.ts']]);
  });
});
