// ops/kubernetes: the kustomize base and the production overlay, rendered by a small explicit
// renderer of the kustomization fields they use (resources, namespace, labels, images,
// configMapGenerator with generatorOptions, strategic-merge patches by target), every rendered
// object validated against the Kubernetes API schemas (kubernetes-models) and the Prometheus
// operator's, and the properties the deployment depends on checked one by one: host network,
// least capabilities, hostPaths, the readiness probe on the metrics port, a folder mount of the
// policy (so the kubelet's `..data` swap reaches the agent), the canary stage by node label, and
// ConfigMaps whose policies check.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Service } from 'kubernetes-models/v1/Service';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { compile } from '../../compiler/program.ts';
import { createMemoryHost } from '../../compiler/source.ts';
import { agentConfig } from '../../runtime/agent/config.ts';

const KUBE = join(import.meta.dirname, '../../ops/kubernetes');

type Obj = Record<string, unknown>;
interface Resource extends Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
}

/** Kinds that live in no namespace (of those these manifests use). */
const CLUSTER_SCOPED = new Set(['Namespace']);

const VALIDATORS: Readonly<Record<string, (o: Obj) => void>> = {
  'v1/Namespace': (o) => new Namespace(o as never).validate(),
  'v1/ConfigMap': (o) => new ConfigMap(o as never).validate(),
  'v1/Service': (o) => new Service(o as never).validate(),
  'apps/v1/DaemonSet': (o) => new DaemonSet(o as never).validate(),
  'monitoring.coreos.com/v1/ServiceMonitor': (o) => new ServiceMonitor(o as never).validate(),
};

function readYaml(path: string): Obj[] {
  return parseAllDocuments(readFileSync(path, 'utf8')).map((d) => {
    if (d.errors.length > 0) throw new Error(`${path}: ${d.errors[0]?.message}`);
    return d.toJS() as Obj;
  });
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Strategic merge as kustomize applies it to these patches: maps merge key by key; lists of
 * named items (containers, env, volumes, volumeMounts, ports) merge by `name`; other lists and
 * scalars are replaced.
 */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (isObj(target) && isObj(patch)) {
    const out: Obj = { ...target };
    for (const [k, v] of Object.entries(patch)) out[k] = k in target ? mergePatch(target[k], v) : v;
    return out;
  }
  if (Array.isArray(target) && Array.isArray(patch) && patch.every((p) => isObj(p) && typeof p['name'] === 'string')) {
    const out = target.map((t) => {
      const p = patch.find((x) => isObj(t) && (x as Obj)['name'] === t['name']);
      return p === undefined ? t : mergePatch(t, p);
    });
    for (const p of patch) if (!target.some((t) => isObj(t) && t['name'] === (p as Obj)['name'])) out.push(p);
    return out;
  }
  return patch;
}

/** Renders the kustomization in `dir` (the fields its files use; anything else fails loudly). */
function render(dir: string): Resource[] {
  const [k] = readYaml(join(dir, 'kustomization.yaml')) as [Obj];
  const known = new Set(['apiVersion', 'kind', 'namespace', 'labels', 'resources', 'generatorOptions', 'configMapGenerator', 'images', 'patches']);
  for (const key of Object.keys(k)) if (!known.has(key)) throw new Error(`${dir}: the test's renderer does not know '${key}'`);
  let out: Resource[] = [];
  for (const r of (k['resources'] ?? []) as string[]) {
    const path = resolve(dir, r);
    out.push(...(statSync(path).isDirectory() ? render(path) : (readYaml(path) as Resource[])));
  }
  const options = (k['generatorOptions'] ?? {}) as { disableNameSuffixHash?: boolean };
  if (k['configMapGenerator'] !== undefined && options.disableNameSuffixHash !== true) throw new Error(`${dir}: the renderer only generates unhashed names`);
  for (const g of (k['configMapGenerator'] ?? []) as { name: string; behavior?: string; files: string[] }[]) {
    const data: Record<string, string> = {};
    for (const f of g.files) {
      const [key, path] = f.includes('=') ? (f.split('=') as [string, string]) : [basename(f), f];
      data[key] = readFileSync(join(dir, path), 'utf8');
    }
    const existing = out.findIndex((o) => o.kind === 'ConfigMap' && o.metadata.name === g.name);
    const cm: Resource = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: g.name }, data };
    if (g.behavior === 'replace' || g.behavior === 'merge') {
      if (existing < 0) throw new Error(`${dir}: ${g.behavior} of a ConfigMap ${g.name} the base lacks`);
      const old = out[existing] as Resource;
      out[existing] = { ...old, data: g.behavior === 'merge' ? { ...(old['data'] as Obj), ...data } : data };
    } else {
      if (existing >= 0) throw new Error(`${dir}: ConfigMap ${g.name} generated twice`);
      out.push(cm);
    }
  }
  for (const p of (k['patches'] ?? []) as { path: string; target?: { kind?: string; name?: string } }[]) {
    const [patch] = readYaml(join(dir, p.path)) as [Resource];
    const hits = out.filter((o) => (p.target?.kind ?? patch.kind) === o.kind && (p.target === undefined ? o.metadata.name === patch.metadata.name : p.target.name === undefined || p.target.name === o.metadata.name));
    if (hits.length === 0) throw new Error(`${dir}: patch ${p.path} matches nothing`);
    const { metadata: _ignored, ...body } = patch;
    out = out.map((o) => (hits.includes(o) ? (mergePatch(o, body) as Resource) : o));
  }
  for (const image of (k['images'] ?? []) as { name: string; newTag?: string }[]) {
    for (const o of out.filter((x) => x.kind === 'DaemonSet')) {
      for (const c of containersOf(o)) if (String(c['image']).replace(/:[^:/]+$/, '') === image.name && image.newTag) c['image'] = `${image.name}:${image.newTag}`;
    }
  }
  for (const pairs of ((k['labels'] ?? []) as { pairs: Record<string, string> }[]).map((l) => l.pairs)) {
    for (const o of out) o.metadata = { ...o.metadata, labels: { ...o.metadata.labels, ...pairs } };
  }
  if (typeof k['namespace'] === 'string') for (const o of out) if (!CLUSTER_SCOPED.has(o.kind)) o.metadata = { ...o.metadata, namespace: k['namespace'] };
  return out;
}

function containersOf(ds: Resource): Obj[] {
  return ((((ds['spec'] as Obj)['template'] as Obj)['spec'] as Obj)['containers'] as Obj[]) ?? [];
}
function podSpecOf(ds: Resource): Obj {
  return ((ds['spec'] as Obj)['template'] as Obj)['spec'] as Obj;
}
function find(objects: readonly Resource[], kind: string, name: string): Resource {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name} among ${objects.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return o;
}

/** The `segc agent` arguments of a container, with `$(VAR)` references expanded from its env. */
function agentArgs(c: Obj): string[] {
  const env = new Map(((c['env'] ?? []) as { name: string; value?: string }[]).map((e) => [e.name, e.value ?? '10.0.0.1']));
  return (c['args'] as string[]).map((a) => a.replace(/\$\((\w+)\)/g, (_, v: string) => env.get(v) ?? `$(${v})`));
}

function flagValues(args: readonly string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag && args[i + 1] !== undefined ? [args[i + 1] as string] : []));
}

for (const variant of ['base', 'overlays/production']) {
  describe(`ops/kubernetes/${variant}`, () => {
    const objects = render(join(KUBE, variant));

    it('renders objects that validate against the Kubernetes API schemas', () => {
      expect(objects.length).toBeGreaterThanOrEqual(5);
      for (const o of objects) {
        const group = o.apiVersion.includes('/') ? o.apiVersion : `v1`;
        const validate = VALIDATORS[`${group === 'v1' ? 'v1' : o.apiVersion}/${o.kind}`];
        expect(validate, `${o.apiVersion} ${o.kind}`).toBeDefined();
        expect(() => validate?.(o), `${o.kind}/${o.metadata.name}`).not.toThrow();
        if (o.kind !== 'Namespace') expect(o.metadata.namespace).toBe('segc-system');
      }
    });

    it('runs segc agent --watch on the host network with only the capabilities BPF and tc need', () => {
      for (const name of ['segc', 'segc-canary']) {
        const ds = find(objects, 'DaemonSet', name);
        const pod = podSpecOf(ds);
        expect(pod['hostNetwork']).toBe(true);
        expect(pod['automountServiceAccountToken']).toBe(false);
        const [c] = containersOf(ds) as [Obj];
        const security = c['securityContext'] as { privileged: boolean; allowPrivilegeEscalation: boolean; capabilities: { drop: string[]; add: string[] } };
        expect(security.privileged).toBe(false);
        expect(security.allowPrivilegeEscalation).toBe(false);
        expect(security.capabilities.drop).toEqual(['ALL']);
        expect([...security.capabilities.add].sort()).toEqual(['BPF', 'NET_ADMIN', 'PERFMON', 'SYS_ADMIN']);
        // The same set the systemd unit grants.
        const unit = readFileSync(join(KUBE, '../systemd/segc-agent.service'), 'utf8');
        expect(/^AmbientCapabilities=(.*)$/m.exec(unit)?.[1]?.split(' ').map((x) => x.replace('CAP_', '')).sort()).toEqual([...security.capabilities.add].sort());

        const args = agentArgs(c);
        expect(c['command']).toEqual(['segc']);
        expect(args[0]).toBe('agent');
        // The args are ones segc agent accepts: its own configuration parser reads them.
        const config = agentConfig({ watch: flagValues(args, '--watch'), iface: flagValues(args, '--iface'), name: flagValues(args, '--name')[0], listen: flagValues(args, '--listen')[0] }, '/');
        expect(config.watch).toEqual([{ name: 'node', files: ['/etc/segc/policy'], interfaces: [variant === 'base' ? 'eth0' : 'ens5'], strict: false, keep: ['tcp 9464'] }]);
        // Listening on the node's address, the agent keeps its own metrics port (the lock-out guard).
        expect(config.port).toBe(9464);

        const volumes = new Map((pod['volumes'] as { name: string; hostPath?: { path: string }; configMap?: { name: string } }[]).map((v) => [v.name, v]));
        const mounts = c['volumeMounts'] as { name: string; mountPath: string; subPath?: string }[];
        const mountOf = (path: string) => mounts.find((m) => m.mountPath === path);
        expect(volumes.get(mountOf('/sys/fs/bpf')?.name ?? '')?.hostPath?.path).toBe('/sys/fs/bpf');
        expect(volumes.get(mountOf('/var/lib/segc')?.name ?? '')?.hostPath?.path).toBe('/var/lib/segc');
        // A folder mount, never subPath: the kubelet only updates a ConfigMap volume by its `..data` swap.
        const policy = mountOf('/etc/segc/policy');
        expect(policy?.subPath).toBeUndefined();
        expect(volumes.get(policy?.name ?? '')?.configMap?.name).toBe(name === 'segc' ? 'segc-policy' : 'segc-policy-canary');
        expect(((c['env'] as { name: string; value?: string }[]).find((e) => e.name === 'SEGC_STATE_DIR'))?.value).toBe('/var/lib/segc');

        const probe = c['readinessProbe'] as { httpGet: { path: string; port: string } };
        const ports = c['ports'] as { name: string; containerPort: number }[];
        expect(probe.httpGet.path).toBe('/metrics');
        expect(ports.find((p) => p.name === probe.httpGet.port)?.containerPort).toBe(config.port);
        const annotations = (((ds['spec'] as Obj)['template'] as Obj)['metadata'] as Resource['metadata']).annotations;
        expect(annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(config.port), 'prometheus.io/path': '/metrics' });
      }
    });

    it('stages a rollout by node label: the canary DaemonSet on labelled nodes, the other on the rest, otherwise identical', () => {
      const affinity = (ds: Resource) => ((((podSpecOf(ds)['affinity'] as Obj)['nodeAffinity'] as Obj)['requiredDuringSchedulingIgnoredDuringExecution'] as Obj)['nodeSelectorTerms'] as { matchExpressions: Obj[] }[]);
      const fleet = find(objects, 'DaemonSet', 'segc');
      const canary = find(objects, 'DaemonSet', 'segc-canary');
      expect(affinity(canary)).toEqual([{ matchExpressions: [{ key: 'segc.io/canary', operator: 'In', values: ['true'] }] }]);
      expect(affinity(fleet)).toEqual([{ matchExpressions: [{ key: 'segc.io/canary', operator: 'NotIn', values: ['true'] }] }]);
      // Each DaemonSet selects only its own pods.
      for (const ds of [fleet, canary]) {
        const selector = ((ds['spec'] as Obj)['selector'] as { matchLabels: Record<string, string> }).matchLabels;
        const labels = (((ds['spec'] as Obj)['template'] as Obj)['metadata'] as Resource['metadata']).labels;
        expect(labels).toMatchObject(selector);
      }
      const normalise = (ds: Resource) => JSON.parse(JSON.stringify(ds).replaceAll('segc-policy-canary', 'segc-policy').replaceAll('"canary"', '"fleet"').replace('"segc-canary"', '"segc"').replace('"In"', '"NotIn"')) as unknown;
      expect(normalise(canary)).toEqual(normalise(fleet));
      expect(((fleet['spec'] as Obj)['updateStrategy'] as Obj)['type']).toBe('RollingUpdate');
    });

    it('mounts ConfigMaps whose policies check', () => {
      for (const name of ['segc-policy', 'segc-policy-canary']) {
        const data = find(objects, 'ConfigMap', name)['data'] as Record<string, string>;
        expect(Object.keys(data)).toEqual(['node.seg']);
        const files = Object.fromEntries(Object.entries(data).map(([k, v]) => [`/etc/segc/policy/${k}`, v]));
        const result = compile(Object.keys(files), createMemoryHost(files));
        expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
      }
    });
  });
}

describe('the production overlay', () => {
  const objects = render(join(KUBE, 'overlays/production'));
  it('replaces the policy, the interface and the image, and adds a ServiceMonitor over a headless Service', () => {
    expect((find(objects, 'ConfigMap', 'segc-policy')['data'] as Record<string, string>)['node.seg']).toBe(readFileSync(join(KUBE, 'overlays/production/policy/k8s-node.seg'), 'utf8'));
    for (const name of ['segc', 'segc-canary']) {
      const [c] = containersOf(find(objects, 'DaemonSet', name)) as [Obj];
      expect(c['image']).toBe('ghcr.io/segc/segc:0.1.0');
      expect((c['env'] as { name: string; value?: string }[]).filter((e) => e.name === 'SEGC_IFACE')).toEqual([{ name: 'SEGC_IFACE', value: 'ens5' }]);
    }
    const service = find(objects, 'Service', 'segc-metrics');
    const monitor = find(objects, 'ServiceMonitor', 'segc');
    expect((service['spec'] as Obj)['clusterIP']).toBe('None');
    expect(((monitor['spec'] as Obj)['endpoints'] as { port: string }[])[0]?.port).toBe(((service['spec'] as Obj)['ports'] as { name: string }[])[0]?.name);
    expect(((monitor['spec'] as Obj)['selector'] as { matchLabels: Obj }).matchLabels).toEqual({ 'app.kubernetes.io/name': 'segc' });
  });

  it('keeps its policy file the same as the example it comes from', () => {
    expect(readFileSync(join(KUBE, 'overlays/production/policy/k8s-node.seg'), 'utf8')).toBe(readFileSync(join(KUBE, '../../examples/k8s-node.seg'), 'utf8'));
    expect(readdirSync(dirname(join(KUBE, 'overlays/production/policy/k8s-node.seg')))).toEqual(['k8s-node.seg']);
  });
});
