import { describe, expect, it } from 'vitest';
import { agentConfig, AgentConfigError, isLoopback, parseListen } from '../../../runtime/agent/config.ts';
import { parseRuleMetricsMode } from '../../../runtime/agent/metrics.ts';
import { createMemoryIo } from '../../../runtime/cli/io.ts';
import { run } from '../../../runtime/cli/main.ts';

describe('segc agent configuration', () => {
  it('listens on 127.0.0.1:9464 by default and takes IPv4, IPv6 and all-address forms', () => {
    expect(agentConfig({}, '/w')).toMatchObject({ host: '127.0.0.1', port: 9464, ruleMetrics: { kind: 'top', limit: 500 }, debounceMs: 300, watch: [] });
    expect(parseListen('[::1]:9100')).toEqual({ host: '::1', port: 9100 });
    expect(parseListen(':9100')).toEqual({ host: '0.0.0.0', port: 9100 });
    expect(() => parseListen('nowhere:9100')).toThrow(AgentConfigError);
    expect(() => parseListen('127.0.0.1:99999')).toThrow(/not ADDRESS:PORT/);
    expect(isLoopback('127.0.0.1') && isLoopback('::1') && !isLoopback('0.0.0.0') && !isLoopback('10.0.0.1')).toBe(true);
  });

  it('serves a scrape a collection up to 500 ms old by default, configurable from the file and --scrape-max-age (the flag wins)', () => {
    expect(agentConfig({}, '/w').scrapeMaxAgeMs).toBe(500);
    const file = { path: '/etc/segc/agent.json', text: JSON.stringify({ scrapeMaxAgeMs: 0 }) };
    expect(agentConfig({}, '/w', file).scrapeMaxAgeMs).toBe(0);
    expect(agentConfig({ scrapeMaxAge: 2000 }, '/w', file).scrapeMaxAgeMs).toBe(2000);
    expect(() => agentConfig({}, '/w', { path: 'a.json', text: JSON.stringify({ scrapeMaxAgeMs: '1s' }) })).toThrow(/scrapeMaxAgeMs must be a whole number/);
    expect(() => agentConfig({}, '/w', { path: 'a.json', text: JSON.stringify({ scrapeMaxAgeMs: -1 }) })).toThrow(AgentConfigError);
    expect(() => agentConfig({ scrapeMaxAge: 60_000 }, '/w')).toThrow(/at most 10000 ms/);
  });

  it('lets the session gauges come from a census up to 5 s old by default, configurable from the file and --census-max-age (the flag wins)', () => {
    expect(agentConfig({}, '/w').censusMaxAgeMs).toBe(5000);
    const file = { path: '/etc/segc/agent.json', text: JSON.stringify({ censusMaxAgeMs: 0 }) };
    expect(agentConfig({}, '/w', file).censusMaxAgeMs).toBe(0);
    expect(agentConfig({ censusMaxAge: 2000 }, '/w', file).censusMaxAgeMs).toBe(2000);
    expect(() => agentConfig({}, '/w', { path: 'a.json', text: JSON.stringify({ censusMaxAgeMs: 1.5 }) })).toThrow(/censusMaxAgeMs must be a whole number/);
    expect(() => agentConfig({ censusMaxAge: 120_000 }, '/w')).toThrow(/--census-max-age 120000: at most 60000 ms/);
  });

  it('parses the per-rule series modes', () => {
    expect(parseRuleMetricsMode('top:20')).toEqual({ kind: 'top', limit: 20 });
    expect(parseRuleMetricsMode('hit')).toEqual({ kind: 'hit' });
    expect(parseRuleMetricsMode('none')).toEqual({ kind: 'none' });
    expect(parseRuleMetricsMode('top:0')).toBeUndefined();
    expect(parseRuleMetricsMode('all')).toBeUndefined();
  });

  it('reads deployments from a config file, relative to it, and adds the --watch one', () => {
    const text = JSON.stringify({ listen: '127.0.0.1:9500', ruleMetrics: 'hit', deployments: [{ name: 'web', files: ['web.seg'], interfaces: ['eth0'] }] });
    const config = agentConfig({ watch: ['db.seg'], iface: ['eth1'], name: 'db', listen: '127.0.0.1:9600' }, '/work', { path: '/etc/segc/agent.json', text });
    expect(config).toMatchObject({
      port: 9600,
      ruleMetrics: { kind: 'hit' },
      watch: [
        { name: 'web', files: ['/etc/segc/web.seg'], interfaces: ['eth0'], strict: false },
        { name: 'db', files: ['/work/db.seg'], interfaces: ['eth1'], strict: false },
      ],
    });
  });

  it('takes a confirmation window for reloads from the file ("2m") and from --confirm (ms)', () => {
    const text = JSON.stringify({ deployments: [{ name: 'web', files: ['web.seg'], interfaces: ['eth0'], confirm: '2m' }] });
    const config = agentConfig({ watch: ['db.seg'], iface: ['eth1'], name: 'db', confirm: 90_000 }, '/work', { path: '/etc/segc/agent.json', text });
    expect(config.watch.map((w) => w.confirmMs)).toEqual([120_000, 90_000]);
    expect(agentConfig({ watch: ['a.seg'], iface: ['x'] }, '/w').watch[0]?.confirmMs).toBeUndefined();
    // The lock-out guard's keep list: the file's, and the metrics port when it is reachable from the network.
    const keep = JSON.stringify({ deployments: [{ name: 'web', files: ['web.seg'], interfaces: ['eth0'], keep: ['tcp 22'] }] });
    expect(agentConfig({ listen: '0.0.0.0:9464' }, '/w', { path: 'c.json', text: keep }).watch[0]?.keep).toEqual(['tcp 22', 'tcp 9464']);
    expect(agentConfig({}, '/w', { path: 'c.json', text: keep }).watch[0]?.keep).toEqual(['tcp 22']);
    for (const bad of ['soon', '0s', '25h', 5]) {
      const t = JSON.stringify({ deployments: [{ files: ['a.seg'], interfaces: ['x'], confirm: bad }] });
      expect(() => agentConfig({}, '/w', { path: 'c.json', text: t })).toThrow(/confirm must be a duration from 1s to 24h/);
    }
  });

  it('refuses what cannot work: --watch without --iface, a name twice, a bad file', () => {
    expect(() => agentConfig({ watch: ['a.seg'] }, '/w')).toThrow(/--watch needs --iface/);
    const twice = JSON.stringify({ deployments: [{ name: 'a', files: ['a.seg'], interfaces: ['x'] }] });
    expect(() => agentConfig({ watch: ['a.seg'], iface: ['y'], name: 'a' }, '/w', { path: 'c.json', text: twice })).toThrow(/watched twice/);
    expect(() => agentConfig({}, '/w', { path: 'c.json', text: '{' })).toThrow(/not JSON/);
    expect(() => agentConfig({}, '/w', { path: 'c.json', text: '{"deployments":[{"files":[]}]}' })).toThrow(/non-empty list/);
    expect(() => agentConfig({ watch: ['a.seg'], iface: ['y'], name: '../x' }, '/w')).toThrow(/not a deployment name/);
  });

  it('reports configuration mistakes as usage errors (exit 2) with a hint', async () => {
    const io = createMemoryIo({});
    expect(await run(['agent', '--listen', 'bogus'], io)).toBe(2);
    expect(io.err()).toMatch(/error: --listen 'bogus' is not ADDRESS:PORT[\s\S]*hint: segc agent --help/);
    const io2 = createMemoryIo({});
    expect(await run(['agent', '--rule-metrics', 'every'], io2)).toBe(2);
    expect(io2.err()).toMatch(/expected top:N, hit or none/);
    const io3 = createMemoryIo({});
    expect(await run(['agent', '--scrape-max-age', '-5'], io3)).toBe(2);
    expect(io3.err()).toMatch(/expected a whole number of milliseconds/);
  });

  it('documents itself in --help with examples', async () => {
    const io = createMemoryIo({});
    expect(await run(['agent', '--help'], io)).toBe(0);
    expect(io.out()).toMatch(/--rule-metrics <mode>[\s\S]*--watch <file>[\s\S]*Examples:[\s\S]*segc agent --config/);
  });
});
