/**
 * Routing tables from config/routes.json (`{"<model>": {"<alias>": "<target>"}}`), the embedded
 * default when no Redis is configured, so a single machine needs nothing else.
 *
 * The file is watched: an edit applies as soon as it is saved. A missing file is an empty table
 * (nothing to route yet); a file that does not parse keeps the last good table and reports why,
 * so a half-saved edit never drops live routes. The folder holding the file must exist for
 * edits to be noticed.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { LRUCache } from 'lru-cache';
import { SwitchyardError, messageOf } from '../errors.js';
import {
  checkModelName,
  checkRouteEdit,
  checkRoutesEdit,
  idempotencyKeyReused,
  ROUTE_EDIT_KEY_TTL_MS,
  routeEditFingerprint,
  RouteChangeEmitter,
  type RouteChangeListener,
  type RouteEditOptions,
  type RouteEditResult,
  type RouteSource,
  type RouteSourceStatus,
  type RouteStore,
} from './route-source.js';
import { routesFrom, type Routes } from './route-table.js';

export const DEFAULT_ROUTES_FILE = 'config/routes.json';

export interface FileRouteSourceOptions {
  /** The routes file, relative to the working directory. Default `config/routes.json`. */
  path?: string;
  /** Re-read the file when it changes. Default true. */
  watch?: boolean;
  /**
   * A second read this long after the last change event. File-system watchers drop events while
   * re-arming after an atomic save (rename), so two quick saves can report only the first. Default 250 ms.
   */
  settleMs?: number;
}

/** The file's content: model -> its table. A Map, so a model named `toString` is not Object.prototype's. */
type RoutesFile = Map<string, Routes>;

/** Idempotency keys of edits made here, and what they did (single machine: memory is the ledger). */
const MAX_REMEMBERED_EDITS = 10_000;

interface RememberedEdit {
  readonly fingerprint: string;
  readonly outcome: { readonly removed: boolean };
}

export class FileRouteSource implements RouteSource, RouteStore {
  readonly path: string;

  readonly #changes = new RouteChangeEmitter();
  readonly #watcher: FSWatcher | undefined;
  readonly #ready: Promise<void>;
  #tables: RoutesFile = new Map();
  readonly #edits = new LRUCache<string, RememberedEdit>({ max: MAX_REMEMBERED_EDITS, ttl: ROUTE_EDIT_KEY_TTL_MS });
  #lastError: string | undefined;
  // Reloads and writes run one at a time, so a slow read never overwrites a newer one.
  #queue: Promise<unknown> = Promise.resolve();
  #settleTimer: NodeJS.Timeout | undefined;
  #closed: Promise<void> | undefined;

  constructor(options: FileRouteSourceOptions = {}) {
    this.path = resolve(options.path ?? DEFAULT_ROUTES_FILE);
    const loaded = this.#enqueue(() => this.#reload());
    if (options.watch ?? true) {
      const watcher = watch(this.path, { ignoreInitial: true, persistent: true });
      const settleMs = options.settleMs ?? 250;
      watcher.on('all', () => {
        void this.#enqueue(() => this.#reload());
        clearTimeout(this.#settleTimer);
        this.#settleTimer = setTimeout(() => void this.#enqueue(() => this.#reload()), settleMs);
        this.#settleTimer.unref();
      });
      watcher.on('error', (error) => {
        this.#lastError = `watching ${this.path}: ${messageOf(error)}`;
      });
      this.#watcher = watcher;
      const watching = new Promise<void>((resolveReady) => watcher.once('ready', () => resolveReady()));
      this.#ready = Promise.all([loaded, watching]).then(() => undefined);
    } else {
      this.#ready = loaded;
    }
  }

  /** Resolves once the file has been read and the watcher is live (edits from then on are seen). */
  ready(): Promise<void> {
    return this.#ready;
  }

  async read(model: string): Promise<Routes | undefined> {
    await this.#ready;
    return this.#tables.get(model);
  }

  async readAll(): Promise<Record<string, Routes>> {
    await this.#ready;
    const all = Object.create(null) as Record<string, Routes>;
    for (const [model, routes] of this.#tables) all[model] = routes;
    return all;
  }

  onChange(listener: RouteChangeListener): () => void {
    return this.#changes.on(listener);
  }

  status(): RouteSourceStatus {
    return this.#lastError === undefined
      ? { kind: 'file', connected: true }
      : { kind: 'file', connected: true, lastError: this.#lastError };
  }

  async setRoutes(model: string, routes: Routes, options?: RouteEditOptions): Promise<RouteEditResult & { routes: Routes }> {
    const checked = checkRoutesEdit(model, routes);
    const fingerprint = routeEditFingerprint('replace', model, undefined, checked);
    const { replayed } = await this.#edit(model, fingerprint, options, (file) => {
      if (Object.keys(checked).length === 0) file.delete(model);
      else file.set(model, checked);
      return { removed: false };
    });
    return { replayed, routes: checked };
  }

  async setRoute(model: string, alias: string, target: string, options?: RouteEditOptions): Promise<RouteEditResult> {
    const checked = checkRouteEdit(model, alias, target);
    const fingerprint = routeEditFingerprint('set', model, alias, routesFrom([[alias, checked]]));
    const { replayed } = await this.#edit(model, fingerprint, options, (file) => {
      file.set(model, routesFrom([...Object.entries(file.get(model) ?? {}), [alias, checked]]));
      return { removed: false };
    });
    return { replayed };
  }

  async deleteRoute(model: string, alias?: string, options?: RouteEditOptions): Promise<RouteEditResult & { removed: boolean }> {
    checkModelName(model);
    const fingerprint = routeEditFingerprint('delete', model, alias);
    const { replayed, outcome } = await this.#edit(model, fingerprint, options, (file) => {
      const table = file.get(model);
      if (!table) return undefined;
      if (alias === undefined) {
        file.delete(model);
        return { removed: true };
      }
      if (!Object.hasOwn(table, alias)) return undefined;
      const rest = Object.entries(table).filter(([name]) => name !== alias);
      if (rest.length === 0) file.delete(model);
      else file.set(model, routesFrom(rest));
      return { removed: true };
    });
    return { replayed, removed: outcome.removed };
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#changes.clear();
      clearTimeout(this.#settleTimer);
      await this.#watcher?.close();
      await this.#queue.catch(() => undefined);
    })();
    return this.#closed;
  }

  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #reload(): Promise<void> {
    if (this.#closed) return;
    let parsed: RoutesFile;
    try {
      parsed = await this.#readFile();
    } catch (error) {
      this.#lastError = messageOf(error);
      return;
    }
    this.#lastError = undefined;
    this.#apply(parsed);
  }

  /** Reads and validates the file; absent = empty. Throws a message naming the file on bad content. */
  async #readFile(): Promise<RoutesFile> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
      throw new Error(`reading ${this.path}: ${messageOf(error)}`);
    }
    // Editors often truncate before writing: an empty file is a save in progress, not "no routes".
    if (text.trim() === '') throw new Error(`${this.path} is empty (write {} for no routes)`);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new Error(`${this.path} is not valid JSON: ${messageOf(error)}`);
    }
    return parseRoutesFile(this.path, json);
  }

  /** Swaps in the new tables and announces each model whose table differs. */
  #apply(file: RoutesFile): void {
    const next: RoutesFile = new Map();
    for (const [model, routes] of file) if (Object.keys(routes).length > 0) next.set(model, routes);
    const changed = new Set<string>();
    for (const model of new Set([...this.#tables.keys(), ...next.keys()])) {
      if (!sameRoutes(this.#tables.get(model), next.get(model))) changed.add(model);
    }
    this.#tables = next;
    for (const model of changed) this.#changes.emit(model);
  }

  /**
   * Read-modify-write of the file on disk, replaced by rename so the watcher (here and in any other
   * process) never sees half a file. Refuses to write over a file that does not parse, since that
   * is most likely someone's edit in progress. `change` answers undefined when there is nothing to
   * do (nothing to remove). With an idempotency key, a repeat of the same edit only reports what
   * the first did; the key is checked and remembered inside the queue, so two concurrent retries
   * can not both edit.
   */
  async #edit(
    model: string,
    fingerprint: string,
    options: RouteEditOptions | undefined,
    change: (file: RoutesFile) => RememberedEdit['outcome'] | undefined,
  ): Promise<{ replayed: boolean; outcome: RememberedEdit['outcome'] }> {
    await this.#ready;
    const key = options?.idempotencyKey;
    return this.#enqueue(async () => {
      if (this.#closed) throw new SwitchyardError('ROUTING_UNAVAILABLE', 'The routing table source is closed');
      if (key !== undefined) {
        const earlier = this.#edits.get(key);
        if (earlier && earlier.fingerprint !== fingerprint) throw idempotencyKeyReused(key, model);
        if (earlier) return { replayed: true, outcome: earlier.outcome };
      }
      let file: RoutesFile;
      try {
        file = await this.#readFile();
      } catch (error) {
        throw new SwitchyardError('ROUTING_UNAVAILABLE', `Not editing the routes file: ${messageOf(error)}`, { cause: error });
      }
      const changed = change(file);
      if (changed !== undefined) await this.#write(file);
      const outcome = changed ?? { removed: false };
      if (key !== undefined) this.#edits.set(key, { fingerprint, outcome });
      return { replayed: false, outcome };
    });
  }

  async #write(file: RoutesFile): Promise<void> {
    const temporary = `${this.path}.${process.pid}.${Date.now()}.tmp`;
    const content = Object.create(null) as Record<string, Routes>;
    for (const [model, routes] of file) content[model] = routes;
    await mkdir(dirname(this.path), { recursive: true });
    await writeFile(temporary, `${JSON.stringify(content, null, 2)}\n`, 'utf8');
    await rename(temporary, this.path);
    this.#lastError = undefined;
    // Applied here at once; the watcher's own reload will find nothing new.
    this.#apply(file);
  }
}

/**
 * `{"<model>": {"<alias>": "<target>"}}` into maps and prototype-less tables, keeping every key
 * as written (`__proto__` included: the router reports such an alias rather than never seeing it).
 */
function parseRoutesFile(path: string, json: unknown): RoutesFile {
  const shape = `${path} is not {"<model>": {"<alias>": "<target>"}}`;
  if (!isObject(json)) throw new Error(`${shape}: the top level is ${kindOf(json)}, not an object`);
  const file: RoutesFile = new Map();
  for (const [model, table] of Object.entries(json)) {
    if (!isObject(table)) throw new Error(`${shape}: "${model}" is ${kindOf(table)}, not an object`);
    for (const [alias, target] of Object.entries(table)) {
      if (typeof target !== 'string') throw new Error(`${shape}: "${model}"."${alias}" is ${kindOf(target)}, not a string`);
    }
    file.set(model, routesFrom(Object.entries(table as Record<string, string>)));
  }
  return file;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function kindOf(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

function sameRoutes(a: Routes | undefined, b: Routes | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  const aKeys = Object.keys(a);
  if (aKeys.length !== Object.keys(b).length) return false;
  return aKeys.every((alias) => Object.hasOwn(b, alias) && a[alias] === b[alias]);
}

