/**
 * Runs every curl example of the README (test/readme/readme-examples.ts finds them) with the real
 * curl, exactly as written but for the README's localhost:8080, against a gateway process started
 * on copies of the committed model-repo/ and config/routes.json. Each example must exit 0 and
 * answer 2xx (or the status it shows), with the headers and the JSON it shows. A new example is
 * tested by being written; one that cannot run here is listed in NOT_RUN with the reason, and a
 * section that needs settings gets them from its block's `... npm start` line or SECTION_SETTINGS.
 *
 * curl gets a .curlrc that dumps each response head to a file (a -D on the command line wins), so
 * the test sees the status and headers of commands that print only the body.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { randomPrefix, testRedis } from '../support/redis.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { matchJson, matchText, parseJsonPattern, type Bindings } from './json-pattern.js';
import { readmeCurlExamples, type CurlExample } from './readme-examples.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Settings a section's examples need that its blocks do not start the gateway with. */
const SECTION_SETTINGS: Record<string, { readonly env?: Record<string, string>; readonly redis?: boolean; readonly why: string }> = {
  'Async predictions (jobs)': {
    redis: true,
    why: 'jobs live in Redis (the section: "they need REDIS_URL"); the routes of config/routes.json are put in its hashes first, as the Routing section does',
  },
  'GET /cluster': {
    redis: true,
    env: { NODE_ID: 'node-a' },
    why: 'membership lives in Redis; the section starts its node with NODE_ID=node-a and REDIS_URL (its `npm start` lines are in a block of their own)',
  },
  Rollouts: { redis: true, why: 'rollouts keep their state in Redis (the section: "It needs REDIS_URL")' },
};

/** Examples that do not run here (matched by a piece of the command), and why. */
const NOT_RUN: ReadonlyArray<{ readonly command: string; readonly why: string }> = [
  {
    command: 'curl -s -XDELETE localhost:8080/jobs/',
    why: 'cancels a job that has not started: a gateway that works its jobs cannot keep one PENDING on cue; held by test/jobs/async-predictions.test.ts',
  },
  {
    command: 'curl -si -XPOST localhost:8080/models/linear/predict',
    why: 'the three-process example (two nodes and a front with a backends file) needs three gateways on fixed ports; held by test/cluster/static-backend-pool.test.ts (a front with an empty repository and a backends file serves through another Switchyard, x-served-by naming the backend target)',
  },
];

interface Run {
  readonly example: CurlExample;
  readonly stdout: Buffer;
  readonly head: Head | undefined;
  readonly cwd: string;
  readonly gateway: GatewayProcess;
}

/**
 * Shown text the general rules do not read (see readme-examples.ts), matched by a piece of the
 * command and of the remark: how the test holds it, or which test does.
 */
const REMARKS: ReadonlyArray<{
  readonly command: string;
  readonly remark: string;
  /** The status the example answers, when not 2xx and not shown as HTTP/1.1 NNN. */
  readonly status?: number;
  /** The shown JSON is a line of the gateway's log, not the answer's body. */
  readonly jsonIsLogLine?: boolean;
  readonly check?: (run: Run) => void | Promise<void>;
  readonly heldBy?: string;
}> = [
  {
    command: "-H 'x-request-id: trace-42'",
    remark: 'and in the log:',
    status: 400,
    jsonIsLogLine: true,
    check: ({ stdout }) => expect(stdout.toString().trim()).toBe('x-request-id: trace-42'),
  },
  {
    command: '--data-binary @request.bin',
    remark: '-> response.bin = 141 bytes of JSON, then 8 bytes: 5.0, 1.5 as FP32',
    check: async ({ cwd }) => {
      const bytes = await readFile(`${cwd}/response.bin`);
      expect(bytes.length).toBe(141 + 8);
      const header = JSON.parse(bytes.subarray(0, 141).toString('utf8')) as { outputs: Array<{ parameters: { binary_data_size: number } }> };
      expect(header.outputs[0]!.parameters.binary_data_size).toBe(8);
      expect([bytes.readFloatLE(141), bytes.readFloatLE(145)]).toEqual([5, 1.5]);
    },
  },
  { command: '/v2/repository/index', remark: "a FAILED load shows onnxruntime's reason", heldBy: 'test/v2/endpoints.test.ts ("a FAILED load shows its reason")' },
];

const examples = readmeCurlExamples();
const notRun = (example: CurlExample) => NOT_RUN.find((entry) => example.command.includes(entry.command));

interface Head {
  readonly status: number;
  readonly headers: ReadonlyArray<readonly [string, string]>;
}

/** The last head in `text` (a 100 Continue may come first): status and headers. */
function parseHeads(text: string): { head: Head | undefined; rest: string } {
  let rest = text;
  let head: Head | undefined;
  while (rest.startsWith('HTTP/')) {
    const end = rest.indexOf('\r\n\r\n');
    const block = end < 0 ? rest : rest.slice(0, end);
    const [statusLine = '', ...lines] = block.split('\r\n');
    head = {
      status: Number(statusLine.split(' ')[1]),
      headers: lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()] as const),
    };
    rest = end < 0 ? '' : rest.slice(end + 4);
  }
  return { head, rest };
}

interface Place {
  readonly gateway: GatewayProcess;
  readonly cwd: TempDir;
  readonly curlHome: TempDir;
  readonly shellEnv: Record<string, string>;
  /** Placeholders seen in this gateway's answers (a job id, ...). */
  readonly bindings: Bindings;
}

const hasJq = spawnSync('jq', ['--version'], { stdio: 'ignore' }).status === 0;
const places = new Map<string, Place>();
/** The settings of the gateway an example runs on. */
function settingsOf(example: CurlExample): { env: Record<string, string>; redis: boolean } {
  const section = SECTION_SETTINGS[example.section];
  return { env: { ...section?.env, ...example.startEnv }, redis: section?.redis ?? false };
}
const placeKey = (example: CurlExample) => JSON.stringify(settingsOf(example));

beforeAll(async () => {
  expect(spawnSync('curl', ['--version'], { stdio: 'ignore' }).status, 'the README examples run with curl: apt-get install -y curl').toBe(0);
  const routes = JSON.parse(await readFile(`${root}config/routes.json`, 'utf8')) as Record<string, Record<string, string>>;
  // One gateway per set of settings, shared by the sections that use it in README order (as a
  // reader would go on in one shell); only the management sections change what it serves.
  for (const example of examples) {
    const key = placeKey(example);
    if (places.has(key) || notRun(example)) continue;
    const { env, redis: withRedis } = settingsOf(example);
    const repo = await tempDir('readme-repo');
    await cp(`${root}model-repo`, repo.join('model-repo'), { recursive: true });
    await cp(`${root}config/routes.json`, repo.join('routes.json'));
    let redis: { prefix: string } | undefined;
    if (withRedis) {
      redis = { prefix: randomPrefix() };
      const client = testRedis();
      for (const [model, table] of Object.entries(routes)) await client.hset(`${redis.prefix}routes:${model}`, table);
    }
    const gateway = await startGatewayProcess(
      { ...env, MODEL_REPO: repo.join('model-repo'), ROUTES_FILE: repo.join('routes.json') },
      redis ? { redis } : {},
    );
    const curlHome = await tempDir('readme-curl');
    await writeFile(curlHome.join('.curlrc'), `dump-header = "${curlHome.join('head')}"\n`);
    const cwd = await tempDir('readme-cwd');
    const shellEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd.path, CURL_HOME: curlHome.path, ...env };
    places.set(key, { gateway, cwd, curlHome, shellEnv, bindings: new Map() });
  }
}, 300_000);

async function run(example: CurlExample, place: Place): Promise<{ code: number | null; stdout: Buffer; stderr: string; head: Head | undefined; script: string }> {
  const { port } = new URL(place.gateway.url);
  let command = example.command.replaceAll('localhost:8080', `127.0.0.1:${port}`);
  for (const [placeholder, value] of place.bindings) command = command.replaceAll(placeholder, value);
  if (command.includes('…')) throw new Error(`${example.command}\nuses a placeholder no earlier answer on its gateway gave a value`);
  if (!hasJq) command = command.replace(/\s*\|\s*jq\s*$/, '');
  const script = [...example.setup, command].join('\n');
  const headFile = place.curlHome.join('head');
  await rm(headFile, { force: true });
  const child = spawn('bash', ['-c', script], { cwd: place.cwd.path, env: place.shellEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', (exitCode) => resolve(exitCode)));
  const output = Buffer.concat(stdout);
  const head = existsSync(headFile) ? parseHeads(await readFile(headFile, 'latin1')).head : parseHeads(output.toString('latin1')).head;
  return { code, stdout: output, stderr, head, script };
}

it('finds the examples: the quick start shows the canary answer', () => {
  const quickStart = examples.filter((example) => example.section === 'Quick start');
  expect(quickStart.map((example) => example.shown?.json.length ?? 0)).toEqual([0, 1, 1]);
  expect(quickStart[2]!.command).toContain('/models/linear/canary/predict');
  expect(examples.length).toBeGreaterThan(20);
});

it('lists only examples that exist, each once', () => {
  for (const entry of NOT_RUN) expect(examples.filter((example) => example.command.includes(entry.command)), entry.command).toHaveLength(1);
  for (const entry of REMARKS) {
    const matching = examples.filter((example) => example.command.includes(entry.command) && example.shown?.remarks.some((remark) => remark.includes(entry.remark)));
    expect(matching, `${entry.command} / ${entry.remark}`).toHaveLength(1);
  }
  for (const section of Object.keys(SECTION_SETTINGS)) expect(examples.some((example) => example.section === section), section).toBe(true);
});

for (const section of [...new Set(examples.map((example) => example.section))]) {
  describe(section, () => {
    for (const example of examples.filter((candidate) => candidate.section === section)) {
      const skip = notRun(example);
      const title = `README.md:${example.line}: ${example.command.split('\n')[0]!.trim()}`;
      if (skip) {
        it.skip(`${title} (not run: ${skip.why})`, () => {});
        continue;
      }
      it(title, async () => {
        const place = places.get(placeKey(example))!;
        const shown = example.shown;
        const remarks = (shown?.remarks ?? []).map((remark) => {
          const entry = REMARKS.find((candidate) => example.command.includes(candidate.command) && remark.includes(candidate.remark));
          expect(entry, `README.md:${example.line} shows "${remark}", which no rule reads: add it to REMARKS with a check or the test that holds it`).toBeDefined();
          return entry!;
        });
        const result = await run(example, place);
        const context = `${result.script}\nexit ${result.code}; stderr: ${result.stderr}\nstdout: ${result.stdout.toString().slice(0, 2000)}`;
        expect(result.code, context).toBe(0);
        expect(result.head, context).toBeDefined();
        const status = shown?.status ?? remarks.find((entry) => entry.status !== undefined)?.status;
        if (status === undefined) expect(Math.floor(result.head!.status / 100), `a 2xx answer\n${context}`).toBe(2);
        else expect(result.head!.status, context).toBe(status);

        for (const [name, value] of shown?.headers ?? []) {
          const actual = result.head!.headers.filter(([header]) => header === name.toLowerCase()).map(([, v]) => v);
          expect(actual.some((candidate) => matchText(value, candidate, place.bindings)), `${name}: ${value} shown, got ${JSON.stringify(actual)}\n${context}`).toBe(true);
        }

        const logLine = remarks.some((entry) => entry.jsonIsLogLine);
        for (const pattern of shown?.json ?? []) {
          if (logLine) {
            const lines = place.gateway.logLines();
            expect(lines.some((line) => matchJson(pattern, line, new Map(place.bindings)).length === 0), `a log line like the shown one; log:\n${place.gateway.log().slice(-3000)}`).toBe(true);
            continue;
          }
          const body = parseHeads(result.stdout.toString('utf8')).rest;
          let actual: unknown;
          expect(() => (actual = JSON.parse(body)), `the answer is JSON\n${context}`).not.toThrow();
          expect(matchJson(pattern, actual, place.bindings), context).toEqual([]);
        }
        for (const entry of remarks) await entry.check?.({ example, stdout: result.stdout, head: result.head, cwd: place.cwd.path, gateway: place.gateway });
      });
    }
  });
}

// The pattern rules themselves, on the README's own forms.
describe('shown output patterns', () => {
  it('read "...", placeholders and timestamps', () => {
    const bindings: Bindings = new Map();
    const { pattern } = parseJsonPattern('[{"job_id":"0b6c…","at":"2026-11-26T02:00:00.120Z"}, ...]');
    expect(matchJson(pattern, [{ job_id: 'f00d', at: '2027-01-01T00:00:00.000Z' }, { other: 1 }], bindings)).toEqual([]);
    expect(bindings.get('0b6c…')).toBe('f00d');
    expect(matchText('/jobs/0b6c…', '/jobs/f00d', bindings)).toBe(true);
    expect(matchText('/jobs/0b6c…', '/jobs/beef', bindings)).toBe(false);
    expect(matchJson(parseJsonPattern('{"a":1,...}').pattern, { a: 2, b: 3 }, bindings)).toHaveLength(1);
    expect(matchJson(parseJsonPattern('{"a":1}').pattern, { a: 1, b: 3 }, bindings)).toEqual(['$.b: present, but not shown']);
  });
});
