import { describe, expect, it } from 'vitest';
import { SourceMapConsumer } from 'source-map';
import { bundle, bundleImage, parseBundle, unpackBytes, packBytes } from '../../compiler/bundle.ts';
import { emit } from '../../compiler/emit.ts';
import { evaluate } from '../../compiler/evaluate.ts';
import { hashProgram } from '../../compiler/hash.ts';
import { compile } from '../../compiler/program.ts';
import { createMemoryHost } from '../../compiler/source.ts';
import { parsePacket } from '../../compiler/packet.ts';
import { createKernelModel, modelClassify } from '../support/kernel-model.ts';

const WEB = `set office = { 10.20.0.0/16, 2001:db8:20::/48 }
ports web = { 80, 443 }

policy ingress default deny {
  100 public-web: allow tcp from any to 10.0.1.0/24 port web
  200 ssh-office: allow tcp from office to any port 22
  300 deny any from any to 10.0.2.0/24
  500 allow icmp from office to any icmp echo-request
}

policy egress default allow {
  100 no-mail: deny tcp from any to any port { 25, 465, 587 }
}
`;

function compiled() {
  const c = compile(['web.seg'], createMemoryHost({ 'web.seg': WEB }));
  if (!c.ir) throw new Error(JSON.stringify(c.diagnostics));
  const image = emit(c.ir, { origins: true });
  return { c, ir: c.ir, image, out: bundle(c.ir, image, c.sources, { bundleFile: 'web.bundle.json', sourceMapFile: 'web.bundle.json.map' }) };
}

describe('bundle', () => {
  it('round-trips packed bytes', () => {
    const bytes = new Uint8Array(70000).map((_, i) => (i * 7) & 0xff);
    expect(unpackBytes(packBytes(bytes))).toEqual(bytes);
  });

  it('holds the tables emit made, so a loader gets the same image back', () => {
    const { ir, image, out } = compiled();
    const b = parseBundle(out.text);
    expect(b.policyHash).toBe(hashProgram(ir));
    expect(b.generationSeed).toMatch(/^\d+$/);
    const back = bundleImage(b);
    expect(back.meta).toEqual(image.meta);
    expect(back.maps.map((m) => [m.name, m.maxEntries, m.count])).toEqual(image.maps.map((m) => [m.name, m.maxEntries, m.count]));
    for (const [i, m] of back.maps.entries()) expect(Buffer.from(m.values).equals(Buffer.from(image.maps[i]?.values ?? []))).toBe(true);
    // And the model over the bundle's tables decides as the interpreter does.
    const model = createKernelModel(back);
    for (const text of ['tcp 10.20.1.1:5000 -> 10.0.9.9:22', 'tcp 1.2.3.4:5 -> 10.0.1.7:443', 'icmp 10.20.0.1 -> 10.0.2.1 type echo-request', 'udp 10.0.0.1:1 -> 10.0.2.2:53']) {
      const p = parsePacket(text);
      if (!p.ok) throw new Error(p.error);
      const want = evaluate(ir.ingress, p.packet);
      expect(modelClassify(model, 0, p.packet), text).toEqual({ verdict: want.verdict, rule: want.rule?.id ?? null });
    }
  });

  it('names every rule with its file and line', () => {
    const b = parseBundle(compiled().out.text);
    expect(b.rules.map((r) => [r.id, r.name, r.file, r.line])).toEqual([
      [0, 'public-web', 'web.seg', 5],
      [1, 'ssh-office', 'web.seg', 6],
      [2, 'ingress/300', 'web.seg', 7],
      [3, 'ingress/500', 'web.seg', 8],
      [4, 'no-mail', 'web.seg', 12],
    ]);
  });

  it('maps each rule line and each entry origin of the bundle back to its rule in the .seg file', async () => {
    const { out, image } = compiled();
    const lines = out.text.split('\n');
    const consumer = await new SourceMapConsumer(JSON.parse(out.sourceMap));
    try {
      const ruleLine = lines.findIndex((l) => l.includes('"name":"ssh-office"')) + 1;
      expect(consumer.originalPositionFor({ line: ruleLine, column: 2 })).toMatchObject({ source: 'web.seg', line: 6, name: 'ssh-office' });
      // The trie entry for 2001:db8:20::/48 comes from ssh-office (and rule 500, whose v6 side is empty).
      const b = parseBundle(out.text);
      const origins = b.origins.filter(([map, , rules]) => map === 'seg_slot_prefixes' && rules.includes(1));
      expect(origins.length).toBeGreaterThan(0);
      const originLine = lines.findIndex((l) => l.trim().startsWith(JSON.stringify(origins[0]))) + 1;
      expect(consumer.originalPositionFor({ line: originLine, column: 2 })).toMatchObject({ source: 'web.seg', line: 6 });
      expect(image.origins.length).toBe(b.origins.length);
      expect(consumer.sourceContentFor('web.seg')).toBe(WEB);
    } finally {
      consumer.destroy();
    }
  });
});
