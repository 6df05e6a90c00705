/**
 * The operator CLI's commands: argument parsing, help on every level, dispatch to a backend
 * (admin API or Redis) and exit codes: 0 done, 1 the operation failed or was refused, 2 usage.
 * Separate from main.ts so the process entry stays a two-liner.
 */
import { parseArgs } from 'node:util';
import { isValidModelName, MODEL_NAME_RULE } from '../repository/model-name.js';
import { routesFrom, type Routes } from '../routing/route-table.js';
import { ALIAS_PATTERN, isValidAlias } from '../routing/route-target.js';
import { ApiBackend, CliError, RedisBackend, type CliBackend, type NodeLine } from './cli-backend.js';

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: Readonly<Record<string, string | undefined>>;
}

const CONNECTION_HELP = `Connection (one of):
  --url <url>       a gateway's admin API, e.g. http://127.0.0.1:8080 (env SWITCHYARD_URL)
  --token <token>   its ADMIN_TOKEN (env ADMIN_TOKEN)
  --redis <url>     Redis directly, e.g. redis://127.0.0.1:6379 (env REDIS_URL); routes and nodes ls only
  --prefix <p>      the gateways' REDIS_PREFIX (env REDIS_PREFIX, default switchyard:)
  --url wins when both come from the environment.`;

const HELP: Record<string, string> = {
  '': `Usage: switchyard <command> [options]

Commands:
  routes get|set|split|rm   read and edit routing tables (published to every replica)
  models ls|load|unload     list, load and unload models (admin API only)
  nodes ls                  the cluster's live nodes from their heartbeats (GET /cluster, or Redis)
  rollout start|status|abort  step a split toward a version on live error rate and p99 (admin API only)
  worker                    run a replica that only works async jobs (SWITCHYARD_MODE=worker;
                            configured by the same environment as the gateway, REDIS_URL needed)

${CONNECTION_HELP}

Run "switchyard <command> --help" for more. Exit codes: 0 done, 1 failed or refused, 2 usage.`,
  routes: `Usage: switchyard routes <get|set|split|rm> [options]

  get [model]                          print a model's alias -> target map (all models without one)
  set <model> <alias>=<target> ...     set aliases (others kept); or one JSON map to replace the table
  split <model> <alias> 2:90 3:10      point an alias at a weighted split of versions
  rm <model> [alias]                   remove one alias, or the model's whole table

  --force                  write targets naming versions the gateway does not know (admin API only)
  --idempotency-key <key>  set, split, rm: a repeat with the same key changes nothing and reports
                           what the first did (safe to retry after ROUTES_OUTCOME_UNKNOWN)

${CONNECTION_HELP}`,
  'routes get': `Usage: switchyard routes get [model]

Prints the model's routing table as JSON ({} when it has none); without a model, every table.

${CONNECTION_HELP}`,
  'routes set': `Usage: switchyard routes set <model> <alias>=<target> [<alias>=<target> ...] [--force]
       switchyard routes set <model> '{"default": "stable", "stable": "2"}' [--force]

Pairs change those aliases and keep the others; a JSON map replaces the whole table ({} removes it).
A target is a version (3), a weighted split (2:90,3:10) or another alias (stable); the reserved
field shadow=<version>:<percent> (e.g. shadow=3:10) mirrors that share of requests. The table is
validated as a whole (no loops or dangling aliases) and published to every replica. Through the
admin API, targets must name versions the gateway knows unless --force.

${CONNECTION_HELP}`,
  'routes split': `Usage: switchyard routes split <model> <alias> <version>:<weight> [<version>:<weight> ...] [--force]

Points the alias at a weighted split, e.g. "routes split linear canary 2:90 3:10" (relative weights).

${CONNECTION_HELP}`,
  'routes rm': `Usage: switchyard routes rm <model> [alias]

Removes the alias, or without one the model's whole table (requests then use "latest").

${CONNECTION_HELP}`,
  models: `Usage: switchyard models <ls|load|unload> [options]

  ls               every model and version with its state (on disk or in the registry)
  load <model>     (re)load every version folder of the model; waits until they serve
  unload <model>   drain and unload every version of the model

These talk to a gateway: --url <url> (env SWITCHYARD_URL) and --token <token> (env ADMIN_TOKEN).`,
  nodes: `Usage: switchyard nodes ls [options]

  ls   every live node with its URL, heartbeat age, READY versions and load

--url <url> (env SWITCHYARD_URL) asks that gateway (GET /cluster; --token <API key>, env
SWITCHYARD_API_KEY, when it has API_KEYS); --redis <url> [--prefix <p>] reads the heartbeats.`,
  'nodes ls': `Usage: switchyard nodes ls --url <url> [--token <API key>]
       switchyard nodes ls --redis <url> [--prefix <p>]

Lists the live nodes: id, URL, heartbeat age, READY versions (model:version), requests in flight
and queued, event-loop utilisation, p50/p99 over the last 10 s. Through --url, the gateway itself
comes first, marked (self), and a STALE line says when its view of Redis is out of date.`,
  'models ls': `Usage: switchyard models ls --url <url> [--token <token>]

Lists every model version with its state and reason.`,
  'models load': `Usage: switchyard models load <model> --url <url> [--token <token>]

(Re)loads every version folder of the model on that gateway; fails with onnxruntime's reason.`,
  'models unload': `Usage: switchyard models unload <model> --url <url> [--token <token>]

Drains and unloads every version of the model on that gateway.`,
  rollout: `Usage: switchyard rollout <start|status|abort> [options]

  start <model> <version> [settings]   start a rollout from the model's default to <version>
  status [model]                       a rollout's state and history (every rollout without one)
  abort <model>                        roll a running rollout back (default as it was before)

These talk to a gateway: --url <url> (env SWITCHYARD_URL) and --token <token> (env ADMIN_TOKEN).`,
  'rollout start': `Usage: switchyard rollout start <model> <version> [--step 10] [--max-weight 50] [--interval-ms 30000]
       [--max-error-rate-increase 1] [--max-p99-ratio 1.2] [--min-requests 100] [--max-failed-checks 3]

Sets default to the split <primary>:(100-step),<version>:step and, every interval, compares the
canary with the primary: a passing check adds a step (up to --max-weight, then promotes), a failed
one counts (--max-failed-checks roll it back). Prints the rollout's state.`,
  'rollout status': `Usage: switchyard rollout status [model] --url <url> [--token <token>]

Prints the rollout's state and history as JSON; without a model, every rollout.`,
  'rollout abort': `Usage: switchyard rollout abort <model> --url <url> [--token <token>]

Rolls the running rollout back: default goes back to what it was before the rollout.`,
};

/** `rollout start` flags -> body fields of POST /admin/rollouts. */
const ROLLOUT_FLAGS = {
  step: 'step',
  'max-weight': 'max_weight',
  'interval-ms': 'interval_ms',
  'max-error-rate-increase': 'max_error_rate_increase',
  'max-p99-ratio': 'max_p99_ratio',
  'min-requests': 'min_requests',
  'max-failed-checks': 'max_failed_checks',
} as const;
type RolloutFlag = keyof typeof ROLLOUT_FLAGS;

const COMMANDS: Record<string, readonly string[]> = { routes: ['get', 'set', 'split', 'rm'], models: ['ls', 'load', 'unload'], nodes: ['ls'], rollout: ['start', 'status', 'abort'] };

interface Parsed {
  positionals: string[];
  help: boolean;
  force: boolean;
  idempotencyKey: string | undefined;
  url: string | undefined;
  token: string | undefined;
  redis: string | undefined;
  prefix: string | undefined;
  rollout: Partial<Record<RolloutFlag, string>>;
}

function parse(argv: readonly string[]): Parsed {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        force: { type: 'boolean' },
        'idempotency-key': { type: 'string' },
        url: { type: 'string' },
        token: { type: 'string' },
        redis: { type: 'string' },
        prefix: { type: 'string' },
        ...Object.fromEntries(Object.keys(ROLLOUT_FLAGS).map((flag) => [flag, { type: 'string' as const }])),
      },
    });
    return {
      positionals,
      help: values.help === true,
      force: values.force === true,
      idempotencyKey: values['idempotency-key'],
      url: values.url,
      token: values.token,
      redis: values.redis,
      prefix: values.prefix as string | undefined,
      rollout: Object.fromEntries(Object.keys(ROLLOUT_FLAGS).flatMap((flag) => {
        const value = (values as Record<string, unknown>)[flag];
        return typeof value === 'string' ? [[flag, value]] : [];
      })),
    };
  } catch (error) {
    throw new CliError(`${(error as Error).message}\nRun "switchyard --help" for usage.`, 2);
  }
}

function usage(message: string, helpKey: string): CliError {
  return new CliError(`${message}\n\n${HELP[helpKey] ?? HELP['']!}`, 2);
}

function backendFor(parsed: Parsed, env: CliIo['env'], needsApi: boolean, tokenEnv = 'ADMIN_TOKEN'): CliBackend {
  if (parsed.url !== undefined && parsed.redis !== undefined) throw usage('pass either --url or --redis, not both', '');
  const token = parsed.token ?? env[tokenEnv];
  if (parsed.url !== undefined) return new ApiBackend({ url: parsed.url, token });
  if (parsed.redis !== undefined && needsApi) throw usage('models and rollout commands talk to a gateway: pass --url http://host:8080 instead of --redis', '');
  if (parsed.redis !== undefined) return new RedisBackend({ url: parsed.redis, prefix: parsed.prefix ?? env.REDIS_PREFIX });
  if (env.SWITCHYARD_URL) return new ApiBackend({ url: env.SWITCHYARD_URL, token });
  if (env.REDIS_URL && !needsApi) return new RedisBackend({ url: env.REDIS_URL, prefix: parsed.prefix ?? env.REDIS_PREFIX });
  throw usage(needsApi ? 'no gateway given: pass --url http://host:8080 (or set SWITCHYARD_URL)' : 'no connection given: pass --url or --redis', '');
}

/**
 * Names are checked before they go anywhere: an alias such as `__proto__` would vanish from a
 * plain object (and the edit with it), and a model or alias `..` would be resolved away in a URL,
 * editing another path than the one asked for.
 */
function checkModel(model: string, helpKey: string): string {
  if (!isValidModelName(model)) throw usage(`"${model}" is not a valid model name (${MODEL_NAME_RULE})`, helpKey);
  return model;
}

function checkAlias(alias: string, helpKey: string): string {
  if (!isValidAlias(alias)) throw usage(`"${alias}" is not a valid alias name (${ALIAS_PATTERN.source})`, helpKey);
  return alias;
}

function parsePairs(pairs: readonly string[]): Array<[string, string]> {
  return pairs.map((pair) => {
    const at = pair.indexOf('=');
    if (at <= 0) throw usage(`"${pair}" is not <alias>=<target>`, 'routes set');
    return [checkAlias(pair.slice(0, at), 'routes set'), pair.slice(at + 1)];
  });
}

function parseJsonMap(text: string): Routes {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw usage(`the routes map is not valid JSON: ${(error as Error).message}`, 'routes set');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed) || Object.values(parsed).some((v) => typeof v !== 'string')) {
    throw usage('the routes map must be a JSON object of alias -> target strings', 'routes set');
  }
  const entries = Object.entries(parsed as Record<string, string>);
  for (const [alias] of entries) checkAlias(alias, 'routes set');
  return routesFrom(entries);
}

const json = (value: unknown): string => JSON.stringify(value, null, 2);

async function runRoutes(sub: string, args: string[], parsed: Parsed, backend: CliBackend, io: CliIo): Promise<void> {
  const model = args[0];
  if (model !== undefined) checkModel(model, `routes ${sub}`);
  if (sub === 'get') {
    if (args.length > 1) throw usage('too many arguments', 'routes get');
    io.out(json(model === undefined ? await backend.allRoutes() : await backend.routes(model)));
    return;
  }
  if (model === undefined) throw usage('missing <model>', `routes ${sub}`);
  const key = parsed.idempotencyKey;
  if (sub === 'rm') {
    if (args.length > 2) throw usage('too many arguments', 'routes rm');
    const alias = args[1];
    // Any other alias may be removed (a raw HSET may have written one requests can not name).
    if (alias === '.' || alias === '..') checkAlias(alias, 'routes rm');
    const removed = await backend.deleteRoutes(model, alias, key);
    const what = alias === undefined ? `the routing table of ${model}` : `alias "${alias}" of ${model}`;
    io.out(removed ? `removed ${what}` : `nothing to remove: ${what} does not exist`);
    return;
  }
  let table: Routes;
  if (sub === 'split') {
    const [, alias, ...parts] = args;
    if (alias === undefined || parts.length === 0) throw usage('need <alias> and at least one <version>:<weight>', 'routes split');
    checkAlias(alias, 'routes split');
    table = routesFrom([...Object.entries(await backend.routes(model)), [alias, parts.join(',')]]);
  } else {
    const rest = args.slice(1);
    if (rest.length === 0) throw usage('need <alias>=<target> pairs or a JSON map', 'routes set');
    table = rest.length === 1 && rest[0]!.trimStart().startsWith('{')
      ? parseJsonMap(rest[0]!)
      : routesFrom([...Object.entries(await backend.routes(model)), ...parsePairs(rest)]);
  }
  io.out(json(await backend.setRoutes(model, table, parsed.force, key)));
}

interface IndexEntry {
  name: string;
  version?: string;
  state: string;
  reason: string;
}

async function runNodes(args: string[], backend: CliBackend, io: CliIo): Promise<void> {
  if (args.length > 0) throw usage('too many arguments', 'nodes ls');
  const answer = await backend.listNodes();
  const now = Date.now();
  const line = (node: NodeLine, self: boolean) => {
    const inFlight = node.versions.reduce((sum, v) => sum + v.inFlight, 0);
    const queued = node.versions.reduce((sum, v) => sum + v.queued, 0);
    const versions = node.versions.map((v) => `${v.model}:${v.version}`).join(',') || '-';
    const health = node.health ? (node.health.ejected ? 'ejected' : node.health.breaker === 'closed' ? 'ok' : `breaker-${node.health.breaker}`) : '-';
    const age = self ? '-' : String(Math.max(0, now - node.heartbeatAt));
    return [self ? `${node.id} (self)` : node.id, node.url, age, versions, inFlight, queued, node.eventLoopUtilization, node.p50Ms, node.p99Ms, health].join('\t');
  };
  const rows = ['ID\tURL\tAGE_MS\tVERSIONS\tIN_FLIGHT\tQUEUED\tELU\tP50_MS\tP99_MS\tHEALTH'];
  if (answer.self) rows.push(line(answer.self, true));
  for (const node of answer.nodes) rows.push(line(node, false));
  if (answer.stale) rows.push('STALE: the heartbeats could not be read from Redis lately; this is the last known set');
  if (answer.backends && answer.backends.length > 0) {
    rows.push('', 'BACKEND\tURL\tHEALTHY\tMODELS\tLAST_ERROR');
    for (const b of answer.backends) {
      const models = Object.entries(b.models).map(([m, vs]) => `${m}:${vs.join('+')}`).join(',') || '-';
      rows.push([b.name, b.url, b.healthy ? 'yes' : 'no', models, b.lastError ?? '-'].join('\t'));
    }
  }
  io.out(rows.join('\n'));
}

async function runModels(sub: string, args: string[], backend: CliBackend, io: CliIo): Promise<void> {
  if (sub === 'ls') {
    if (args.length > 0) throw usage('too many arguments', 'models ls');
    const { models } = (await backend.listModels()) as { models: IndexEntry[] };
    io.out(['MODEL\tVERSION\tSTATE\tREASON', ...models.map((m) => `${m.name}\t${m.version ?? '-'}\t${m.state}\t${m.reason}`)].join('\n'));
    return;
  }
  const model = args[0];
  if (model === undefined || args.length > 1) throw usage('need exactly one <model>', `models ${sub}`);
  const answer = sub === 'load' ? await backend.loadModel(model) : await backend.unloadModel(model);
  io.out(json(answer));
}

async function runRollout(sub: string, args: string[], parsed: Parsed, backend: CliBackend, io: CliIo): Promise<void> {
  const model = args[0];
  if (model !== undefined) checkModel(model, `rollout ${sub}`);
  if (sub !== 'start' && Object.keys(parsed.rollout).length > 0) throw usage('rollout settings go with "rollout start"', `rollout ${sub}`);
  if (sub === 'status') {
    if (args.length > 1) throw usage('too many arguments', 'rollout status');
    io.out(json(await backend.rollouts('GET', model === undefined ? '' : `/${model}`)));
    return;
  }
  if (model === undefined) throw usage('missing <model>', `rollout ${sub}`);
  if (sub === 'abort') {
    if (args.length > 1) throw usage('too many arguments', 'rollout abort');
    io.out(json(await backend.rollouts('POST', `/${model}/abort`)));
    return;
  }
  const version = args[1];
  if (version === undefined || args.length > 2 || !/^[1-9][0-9]*$/.test(version)) throw usage('need <model> <version> (a positive integer)', 'rollout start');
  const body: Record<string, unknown> = { model, version: Number(version) };
  for (const [flag, value] of Object.entries(parsed.rollout) as Array<[RolloutFlag, string]>) {
    const number = Number(value);
    if (value.trim() === '' || !Number.isFinite(number)) throw usage(`--${flag} must be a number, got "${value}"`, 'rollout start');
    body[ROLLOUT_FLAGS[flag]] = number;
  }
  io.out(json(await backend.rollouts('POST', '', body)));
}

/** Runs one command line; resolves to the process exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let backend: CliBackend | undefined;
  try {
    const parsed = parse(argv);
    const [command, sub, ...args] = parsed.positionals;
    if (command === undefined) {
      if (parsed.help) {
        io.out(HELP['']!);
        return 0;
      }
      throw usage('missing command', '');
    }
    const subs = COMMANDS[command];
    if (!subs) throw usage(`unknown command "${command}"`, '');
    if (sub === undefined) {
      if (parsed.help) {
        io.out(HELP[command]!);
        return 0;
      }
      throw usage(`missing ${command} subcommand (${subs.join(', ')})`, command);
    }
    if (!subs.includes(sub)) throw usage(`unknown ${command} subcommand "${sub}"`, command);
    if (parsed.help) {
      io.out(HELP[`${command} ${sub}`]!);
      return 0;
    }
    backend = backendFor(parsed, io.env, command === 'models' || command === 'rollout', command === 'nodes' ? 'SWITCHYARD_API_KEY' : 'ADMIN_TOKEN');
    if (command === 'routes') await runRoutes(sub, args, parsed, backend, io);
    else if (command === 'nodes') await runNodes(args, backend, io);
    else if (command === 'rollout') await runRollout(sub, args, parsed, backend, io);
    else await runModels(sub, args, backend, io);
    return 0;
  } catch (error) {
    if (error instanceof CliError) {
      io.err(`switchyard: ${error.message}`);
      return error.exitCode;
    }
    io.err(`switchyard: unexpected error: ${(error as Error)?.stack ?? String(error)}`);
    return 1;
  } finally {
    await backend?.close().catch(() => undefined);
  }
}
