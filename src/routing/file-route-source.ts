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
import { z } from 'zod';
import { SwitchyardError } from '../errors.js';
import {
  checkModelName,
  checkRouteEdit,
  checkRoutesEdit,
  RouteChangeEmitter,
  type RouteChangeListener,
  type RouteSource,
  type RouteSourceStatus,
  type RouteStore,
} from './route-source.js';
import type { Routes } from './route-table.js';

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

const routesFileSchema = z.record(z.string(), z.record(z.string(), z.string()));

type RoutesFile = Record<string, Record<string, string>>;

export class FileRouteSource implements RouteSource, RouteStore {
  readonly path: string;

  readonly #changes = new RouteChangeEmitter();
  readonly #watcher: FSWatcher | undefined;
  readonly #ready: Promise<void>;
  #tables = new Map<string, Routes>();
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
        this.#lastError = `watching ${this.path}: ${errorMessage(error)}`;
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
    return Object.fromEntries(this.#tables);
  }

  onChange(listener: RouteChangeListener): () => void {
    return this.#changes.on(listener);
  }

  status(): RouteSourceStatus {
    return this.#lastError === undefined
      ? { kind: 'file', connected: true }
      : { kind: 'file', connected: true, lastError: this.#lastError };
  }

  async setRoutes(model: string, routes: Routes): Promise<void> {
    const checked = checkRoutesEdit(model, routes);
    await this.#edit((file) => {
      if (Object.keys(checked).length === 0) delete file[model];
      else file[model] = checked;
      return true;
    });
  }

  async setRoute(model: string, alias: string, target: string): Promise<void> {
    const checked = checkRouteEdit(model, alias, target);
    await this.#edit((file) => {
      file[model] = { ...file[model], [alias]: checked };
      return true;
    });
  }

  async deleteRoute(model: string, alias?: string): Promise<boolean> {
    checkModelName(model);
    return this.#edit((file) => {
      const table = file[model];
      if (!table) return false;
      if (alias === undefined) {
        delete file[model];
        return true;
      }
      if (!Object.hasOwn(table, alias)) return false;
      const { [alias]: _removed, ...rest } = table;
      if (Object.keys(rest).length === 0) delete file[model];
      else file[model] = rest;
      return true;
    });
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
      this.#lastError = errorMessage(error);
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
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new Error(`reading ${this.path}: ${errorMessage(error)}`);
    }
    // Editors often truncate before writing: an empty file is a save in progress, not "no routes".
    if (text.trim() === '') throw new Error(`${this.path} is empty (write {} for no routes)`);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new Error(`${this.path} is not valid JSON: ${errorMessage(error)}`);
    }
    const result = routesFileSchema.safeParse(json);
    if (!result.success) {
      throw new Error(`${this.path} is not {"<model>": {"<alias>": "<target>"}}: ${z.prettifyError(result.error)}`);
    }
    return result.data;
  }

  /** Swaps in the new tables and announces each model whose table differs. */
  #apply(file: RoutesFile): void {
    const next = new Map<string, Routes>();
    for (const [model, routes] of Object.entries(file)) {
      if (Object.keys(routes).length > 0) next.set(model, Object.freeze({ ...routes }));
    }
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
   * is most likely someone's edit in progress.
   */
  async #edit(change: (file: RoutesFile) => boolean): Promise<boolean> {
    await this.#ready;
    return this.#enqueue(async () => {
      if (this.#closed) throw new SwitchyardError('ROUTING_UNAVAILABLE', 'The routing table source is closed');
      let file: RoutesFile;
      try {
        file = await this.#readFile();
      } catch (error) {
        throw new SwitchyardError('ROUTING_UNAVAILABLE', `Not editing the routes file: ${errorMessage(error)}`, { cause: error });
      }
      if (!change(file)) return false;
      const temporary = `${this.path}.${process.pid}.${Date.now()}.tmp`;
      await mkdir(dirname(this.path), { recursive: true });
      await writeFile(temporary, `${JSON.stringify(file, null, 2)}\n`, 'utf8');
      await rename(temporary, this.path);
      this.#lastError = undefined;
      // Applied here at once; the watcher's own reload will find nothing new.
      this.#apply(file);
      return true;
    });
  }
}

function sameRoutes(a: Routes | undefined, b: Routes | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  const aKeys = Object.keys(a);
  if (aKeys.length !== Object.keys(b).length) return false;
  return aKeys.every((alias) => Object.hasOwn(b, alias) && a[alias] === b[alias]);
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
