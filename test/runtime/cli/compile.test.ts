import { describe, expect, it } from 'vitest';
import { run } from '../../../runtime/cli/main.ts';
import { createMemoryIo } from '../../../runtime/cli/io.ts';
import { parseBundle } from '../../../compiler/bundle.ts';

const POLICY = `policy ingress default deny {
  100 ssh: allow tcp from 10.0.0.0/8 to any port 22
}
`;

describe('segc compile', () => {
  it('writes a bundle and its source map beside it, and prints what the policy costs', async () => {
    const io = createMemoryIo({ 'web.seg': POLICY });
    expect(await run(['compile', 'web.seg'], io)).toBe(0);
    const text = io.files.get('web.bundle.json');
    expect(text).toBeDefined();
    expect(parseBundle(text ?? '').rules.map((r) => r.name)).toEqual(['ssh']);
    expect(JSON.parse(io.files.get('web.bundle.json.map') ?? '{}')).toMatchObject({ version: 3, file: 'web.bundle.json', sources: ['web.seg'] });
    expect(io.out()).toMatch(/wrote web\.bundle\.json \(1 rules\)/);
    expect(io.out()).toMatch(/MiB of kernel memory per slot/);
  });

  it('writes where -o says', async () => {
    const io = createMemoryIo({ 'p/web.seg': POLICY });
    expect(await run(['compile', 'p/web.seg', '-o', 'out/policy.json'], io)).toBe(0);
    expect(io.files.has('out/policy.json')).toBe(true);
    expect(io.files.has('out/policy.json.map')).toBe(true);
  });

  it('refuses a policy with errors (exit 1) and writes nothing', async () => {
    const io = createMemoryIo({ 'bad.seg': 'policy ingress {\n  100 allow tcp from 10.0.0.1/8 to any\n}\n' });
    expect(await run(['compile', 'bad.seg'], io)).toBe(1);
    expect(io.files.has('bad.bundle.json')).toBe(false);
    expect(io.err()).toMatch(/SEG\d{4}/);
  });
});
