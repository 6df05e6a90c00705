/**
 * Holds deploy/kubernetes/ to the code: the manifests parse; the probe paths are the gateway's
 * real readiness and liveness routes (asked of a real gateway); every environment name is a
 * setting in SETTING_DEFAULTS (or a downward-API helper another value uses), and the values pass
 * loadConfig; the advertised URL is the pod IP on the container's port; the grace period covers
 * preStop + the leave grace + the drain; Services select the pods and name their ports; every
 * container requests resources; the front's repository is empty.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig, SETTING_DEFAULTS } from '../../src/config.js';
import { startTestGateway } from '../support/gateway.js';
import { parseYamlDocuments } from '../support/minimal-yaml.js';

const DIR = fileURLToPath(new URL('../../deploy/kubernetes/', import.meta.url));

/** A manifest, read field by field (the checks below say what each must be). */
type Doc = any;

const docs: Array<{ file: string; doc: Doc }> = readdirSync(DIR)
  .filter((name) => name.endsWith('.yaml'))
  .sort()
  .flatMap((file) => parseYamlDocuments(readFileSync(join(DIR, file), 'utf8')).map((doc) => ({ file, doc: doc as Doc })));

const ofKind = (kind: string) => docs.filter(({ doc }) => doc.kind === kind).map(({ doc }) => doc);
const deployment = (name: string): Doc => {
  const found = ofKind('Deployment').find((d) => d.metadata.name === name);
  if (!found) throw new Error(`no Deployment ${name} in deploy/kubernetes/`);
  return found;
};
const gatewayDeployments = () => ofKind('Deployment').filter((d) => d.spec.template.spec.containers.some((c: Doc) => String(c.image).startsWith('switchyard')));
const gatewayContainer = (d: Doc): Doc => d.spec.template.spec.containers.find((c: Doc) => String(c.image).startsWith('switchyard'));

/** The container's environment as the gateway would see it, with `$(NAME)` references filled from earlier entries (downward API values made up). */
function environmentOf(container: Doc): Record<string, string> {
  const downward: Record<string, string> = { 'status.podIP': '10.1.2.3', 'metadata.name': 'switchyard-node-7d9f-abcde' };
  const env: Record<string, string> = {};
  for (const entry of container.env as Doc[]) {
    if (entry.valueFrom) {
      const path = entry.valueFrom.fieldRef?.fieldPath as string;
      expect(downward[path], `${entry.name} comes from the downward API field ${path}`).toBeDefined();
      env[entry.name] = downward[path]!;
      continue;
    }
    expect(typeof entry.value, `${entry.name} has a string value (quote numbers)`).toBe('string');
    env[entry.name] = (entry.value as string).replace(/\$\(([A-Z_][A-Z0-9_]*)\)/g, (_, name: string) => {
      // Kubernetes expands only variables defined earlier in the list.
      expect(env[name], `${entry.name} uses $(${name}), defined before it`).toBeDefined();
      return env[name]!;
    });
  }
  return env;
}

describe('deploy/kubernetes', () => {
  it('has a Deployment and a Service for the nodes and for the front gateway', () => {
    expect(docs.length).toBeGreaterThan(0);
    for (const { file, doc } of docs) {
      expect(doc.apiVersion, file).toBeTypeOf('string');
      expect(doc.kind, file).toBeTypeOf('string');
      expect(doc.metadata?.name, file).toBeTypeOf('string');
    }
    for (const name of ['switchyard-node', 'switchyard-front']) {
      const d = deployment(name);
      const labels = d.spec.template.metadata.labels;
      for (const [key, value] of Object.entries(d.spec.selector.matchLabels)) expect(labels[key]).toBe(value);
      const services = ofKind('Service').filter((s) => Object.entries(s.spec.selector).every(([k, v]) => labels[k] === v));
      expect(services.length, `a Service selecting ${name}`).toBeGreaterThan(0);
      const portNames = gatewayContainer(d).ports.map((p: Doc) => p.name);
      for (const service of services) for (const port of service.spec.ports) expect(portNames).toContain(port.targetPort);
    }
  });

  it('probes readiness on /readyz and liveness on /healthz, the gateway\'s real routes', async () => {
    const paths = new Set<string>();
    for (const d of gatewayDeployments()) {
      const c = gatewayContainer(d);
      expect(c.readinessProbe.httpGet.path).toBe('/readyz');
      expect(c.livenessProbe.httpGet.path).toBe('/healthz');
      const portNames = c.ports.map((p: Doc) => p.name);
      for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe].filter(Boolean)) {
        expect(portNames).toContain(probe.httpGet.port);
        paths.add(probe.httpGet.path);
      }
    }
    const { url } = await startTestGateway();
    for (const path of paths) expect((await fetch(url + path)).status, path).toBe(200);
  });

  it('sets only real settings, with values loadConfig accepts; REDIS_URL names the Redis Service; NODE_ID and ADVERTISE_URL come from the pod', () => {
    const redisServices = new Map(ofKind('Service').map((s) => [s.metadata.name as string, s.spec.ports.map((p: Doc) => p.port as number)]));
    for (const d of gatewayDeployments()) {
      const c = gatewayContainer(d);
      const env = environmentOf(c);
      const helpers = (c.env as Doc[]).filter((e) => e.valueFrom).map((e) => e.name as string);
      for (const name of Object.keys(env)) {
        if (helpers.includes(name)) {
          // A downward-API helper exists only to be used by a setting's value.
          expect((c.env as Doc[]).some((e) => typeof e.value === 'string' && e.value.includes(`$(${name})`)), `${name} is used`).toBe(true);
          continue;
        }
        expect(Object.keys(SETTING_DEFAULTS), `${name} in ${d.metadata.name} is a setting`).toContain(name);
      }
      const settings = Object.fromEntries(Object.entries(env).filter(([name]) => !helpers.includes(name)));
      const config = loadConfig(settings);
      const containerPort = c.ports.find((p: Doc) => p.name === 'http').containerPort as number;
      expect(config.port).toBe(containerPort);
      expect(config.membership.advertiseUrl).toBe(`http://10.1.2.3:${containerPort}`);
      expect(config.membership.nodeId).toBe('switchyard-node-7d9f-abcde');
      const redis = new URL(config.redisUrl!);
      expect(redisServices.get(redis.hostname), `REDIS_URL names a Service (${redis.hostname})`).toContain(Number(redis.port));
    }
  });

  it('waits in preStop, then gives SIGTERM more time than the leave grace plus the drain; every container requests CPU and memory', () => {
    for (const d of gatewayDeployments()) {
      const c = gatewayContainer(d);
      const [command, seconds, ...rest] = c.lifecycle.preStop.exec.command as string[];
      expect(command).toBe('sleep');
      expect(rest).toEqual([]);
      const preStopMs = Number(seconds) * 1000;
      expect(preStopMs).toBeGreaterThan(0);
      const env = environmentOf(c);
      const config = loadConfig(Object.fromEntries(Object.entries(env).filter(([name]) => name in SETTING_DEFAULTS)));
      const budgetMs = preStopMs + config.membership.leaveGraceMs + config.drainTimeoutMs;
      expect(d.spec.template.spec.terminationGracePeriodSeconds * 1000, `${d.metadata.name}: grace period over preStop + leave grace + drain`).toBeGreaterThan(budgetMs);
    }
    for (const d of ofKind('Deployment')) {
      for (const c of d.spec.template.spec.containers) {
        expect(c.resources?.requests?.cpu, `${d.metadata.name}/${c.name} cpu request`).toBeDefined();
        expect(c.resources?.requests?.memory, `${d.metadata.name}/${c.name} memory request`).toBeDefined();
      }
    }
  });

  it('gives the front gateway an empty repository and the nodes a models volume', () => {
    const mountOf = (d: Doc) => {
      const c = gatewayContainer(d);
      const repo = environmentOf(c).MODEL_REPO ?? SETTING_DEFAULTS.MODEL_REPO;
      const mount = c.volumeMounts.find((m: Doc) => m.mountPath === repo);
      expect(mount, `${d.metadata.name}: a volume at MODEL_REPO ${repo}`).toBeDefined();
      return d.spec.template.spec.volumes.find((v: Doc) => v.name === mount.name);
    };
    expect(mountOf(deployment('switchyard-front')).emptyDir).toEqual({});
    expect(mountOf(deployment('switchyard-node')).persistentVolumeClaim.claimName).toBe('switchyard-models');
  });
});

describe('the minimal YAML reader', () => {
  it('refuses what it does not read the way kubectl would', () => {
    expect(() => parseYamlDocuments('a: &x 1\nb: *x\n')).toThrow(/anchors/);
    expect(() => parseYamlDocuments('a: |\n  text\n')).toThrow(/block scalars/);
    expect(() => parseYamlDocuments('a: 1\na: 2\n')).toThrow(/duplicate key/);
    expect(() => parseYamlDocuments('a: yes\n')).toThrow(/ambiguous/);
    expect(() => parseYamlDocuments('a: 1.5\n')).toThrow(/ambiguous/);
    expect(() => parseYamlDocuments('a:\n  b: 1\n c: 2\n')).toThrow(/line 3/);
    expect(parseYamlDocuments('# c\na: "x # y" # z\nb:\n- 1\n- k: v\n  l: \'it\'\'s\'\nc: 500m\n---\n- []\n')).toEqual([
      { a: 'x # y', b: [1, { k: 'v', l: "it's" }], c: '500m' },
      [[]],
    ]);
  });
});
