/**
 * Discovery of the model repository on disk: which models and versions exist, and when their files
 * appear, change or go away. It never loads a model; the registry decides what is live.
 *
 *     <root>/<name>/config.json           announced as config-changed
 *     <root>/<name>/[<version>/]warmup/   not watched: read by each load (warmup-samples.ts)
 *     <root>/<name>/<version>/model.onnx  announced as version-added / -changed / -removed
 *
 * A file is announced only after it has been stable for `stabilityWindowMs`, so a half-written
 * file is never handed to onnxruntime; an atomic rename simply starts that window at the rename.
 */
import { EventEmitter } from 'node:events';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import pino, { type Logger } from 'pino';
import { FileStabilityTracker, fileFingerprint } from './file-stability-tracker.js';
import { isValidModelName, parseVersion } from './model-name.js';
import { WARMUP_DIR_NAME } from './warmup-samples.js';

export const MODEL_FILE_NAME = 'model.onnx';
export const CONFIG_FILE_NAME = 'config.json';

/** When a new model or version folder is looked at again, in case the watcher missed a file in it. */
const RESCAN_DELAYS_MS = [100, 1000] as const;

export interface ModelRepositoryOptions {
  /** The repository folder. Required; must exist when start() is called. */
  readonly root: string;
  /**
   * How long (ms) a model or config file must keep its size and mtime before it is announced.
   * Default 500.
   */
  readonly stabilityWindowMs?: number;
  /** Poll the file system instead of using native events (network mounts, some containers). Default false. */
  readonly usePolling?: boolean;
  /** Where ignored entries and watcher faults are reported. Default: a silent logger. */
  readonly logger?: Logger;
}

export interface VersionAddedEvent {
  readonly name: string;
  readonly version: number;
  /** Absolute path of the version's model.onnx. */
  readonly path: string;
}

export type VersionChangedEvent = VersionAddedEvent;

export interface VersionRemovedEvent {
  readonly name: string;
  readonly version: number;
}

export interface ConfigChangedEvent {
  readonly name: string;
  /** Absolute path of the model's config.json. */
  readonly path: string;
  /** False when the file was deleted (the model falls back to defaults). */
  readonly exists: boolean;
}

export interface IgnoredEntryEvent {
  /** Absolute path of the folder that is not a valid model name or version. */
  readonly path: string;
  readonly reason: string;
}

export interface ModelRepositoryEvents {
  'version-added': [VersionAddedEvent];
  'version-changed': [VersionChangedEvent];
  'version-removed': [VersionRemovedEvent];
  'config-changed': [ConfigChangedEvent];
  /** Emitted once per offending path. */
  ignored: [IgnoredEntryEvent];
  /** The initial scan is over and every version present at start has been announced. */
  ready: [];
  error: [Error];
}

export interface RepositoryModel {
  readonly name: string;
  /** Versions whose model file has been announced, ascending. */
  readonly versions: number[];
}

type Entry =
  | { kind: 'root' }
  | { kind: 'model-dir'; name: string }
  | { kind: 'config'; name: string }
  | { kind: 'version-dir'; name: string; version: number }
  | { kind: 'model-file'; name: string; version: number }
  | { kind: 'ignored'; reason: string; report: boolean };

interface AnnouncedVersion {
  readonly path: string;
  readonly fingerprint: string;
}

export class ModelRepository extends EventEmitter<ModelRepositoryEvents> {
  readonly root: string;
  readonly stabilityWindowMs: number;
  readonly usePolling: boolean;

  readonly #logger: Logger;
  readonly #tracker: FileStabilityTracker;
  /** Valid model folders seen on disk, with the versions announced for each. */
  readonly #models = new Map<string, Map<number, AnnouncedVersion>>();
  readonly #configs = new Map<string, string>();
  readonly #reported = new Set<string>();
  readonly #rescanTimers = new Set<NodeJS.Timeout>();
  /** Files found by the initial scan that are not announced yet; `ready` waits for them. */
  readonly #initialPending = new Set<string>();
  #watcher: FSWatcher | undefined;
  #watcherReady = false;
  #scanned = false;
  #closed = false;
  #startPromise: Promise<void> | undefined;
  #resolveScanned!: () => void;
  #rejectScanned!: (error: Error) => void;
  readonly #scannedPromise: Promise<void>;

  constructor(options: ModelRepositoryOptions) {
    super();
    this.root = path.resolve(options.root);
    this.stabilityWindowMs = options.stabilityWindowMs ?? 500;
    this.usePolling = options.usePolling ?? false;
    this.#logger = options.logger ?? pino({ level: 'silent' });
    this.#tracker = new FileStabilityTracker({ windowMs: this.stabilityWindowMs });
    this.#scannedPromise = new Promise<void>((resolve, reject) => {
      this.#resolveScanned = resolve;
      this.#rejectScanned = reject;
    });
    // Nobody has to await whenScanned(); a close before the scan must not become an unhandled rejection.
    this.#scannedPromise.catch(() => undefined);
  }

  /** True once the initial scan has announced every version that was on disk at start. */
  get scanned(): boolean {
    return this.#scanned;
  }

  whenScanned(): Promise<void> {
    return this.#scannedPromise;
  }

  /**
   * Starts watching. Resolves when the initial scan is announced (as whenScanned()); rejects when
   * the root is not a readable folder. Attach listeners before calling it. Idempotent.
   */
  start(): Promise<void> {
    this.#startPromise ??= this.#start();
    return this.#startPromise;
  }

  /** What is on disk now: every valid model folder and its announced versions, by name. */
  list(): RepositoryModel[] {
    return [...this.#models.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, versions]) => ({ name, versions: [...versions.keys()].sort((a, b) => a - b) }));
  }

  /** Absolute path of a version's model file, whether or not it exists. */
  modelPath(name: string, version: number): string {
    return path.join(this.root, name, String(version), MODEL_FILE_NAME);
  }

  /** Absolute path of a model's folder (its config.json, versions and warmup/), whether or not it exists. */
  modelDir(name: string): string {
    return path.join(this.root, name);
  }

  /** Absolute path of a model's config file, whether or not it exists. */
  configPath(name: string): string {
    return path.join(this.root, name, CONFIG_FILE_NAME);
  }

  /** Stops watching; no event is emitted afterwards. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#tracker.close();
    for (const timer of this.#rescanTimers) clearTimeout(timer);
    this.#rescanTimers.clear();
    if (!this.#scanned) this.#rejectScanned(new Error('ModelRepository closed before its initial scan finished'));
    const watcher = this.#watcher;
    this.#watcher = undefined;
    if (watcher) await watcher.close();
  }

  async #start(): Promise<void> {
    if (this.#closed) throw new Error('ModelRepository is closed');
    const rootStats = await stat(this.root).catch((error: unknown) => {
      throw new Error(`Model repository ${this.root} is not readable: ${(error as Error).message}`, { cause: error });
    });
    if (!rootStats.isDirectory()) throw new Error(`Model repository ${this.root} is not a folder`);
    if (this.#closed) throw new Error('ModelRepository is closed');

    const watcher = watch(this.root, {
      // <root>/<name>/<version>/model.onnx is three levels below the root; nothing deeper matters.
      depth: 2,
      ignoreInitial: false,
      usePolling: this.usePolling,
      interval: 100,
      binaryInterval: 100,
      ignored: (entryPath: string) => {
        const entry = this.#classify(entryPath);
        if (entry.kind !== 'ignored') return false;
        // Ignored paths never produce events, so this is the one place to report them.
        if (entry.report) this.#reportIgnored(entryPath, entry.reason);
        return true;
      },
    });
    this.#watcher = watcher;
    watcher.on('add', (p) => this.#onFile(p));
    watcher.on('change', (p) => this.#onFile(p));
    watcher.on('unlink', (p) => this.#onUnlink(p));
    watcher.on('addDir', (p) => this.#onAddDir(p));
    watcher.on('unlinkDir', (p) => this.#onUnlinkDir(p));
    watcher.on('error', (error) => this.#fail(error instanceof Error ? error : new Error(String(error))));
    watcher.on('ready', () => {
      this.#watcherReady = true;
      this.#maybeScanned();
    });
    await this.#scannedPromise;
  }

  #classify(entryPath: string): Entry {
    const relative = path.relative(this.root, entryPath);
    if (relative === '') return { kind: 'root' };
    const parts = relative.split(path.sep);
    if (parts[0] === '..' || path.isAbsolute(relative)) return { kind: 'ignored', reason: 'outside the repository', report: false };
    const name = parts[0]!;
    if (!isValidModelName(name)) {
      return { kind: 'ignored', reason: `"${name}" is not a valid model name`, report: true };
    }
    if (parts.length === 1) return { kind: 'model-dir', name };
    const second = parts[1]!;
    if (parts.length === 2 && second === CONFIG_FILE_NAME) return { kind: 'config', name };
    // Warmup samples are read at each load (registry/version-warmup.ts); a change waits for the next one.
    if (second === WARMUP_DIR_NAME) return { kind: 'ignored', reason: 'warmup samples are read at load time', report: false };
    const version = parseVersion(second);
    if (version === undefined) {
      return { kind: 'ignored', reason: `"${second}" in model "${name}" is not a version (a positive integer)`, report: true };
    }
    if (parts.length === 2) return { kind: 'version-dir', name, version };
    // Temp files of atomic writers live here too; they are expected, so not worth a warning.
    if (parts.length === 3 && parts[2] === MODEL_FILE_NAME) return { kind: 'model-file', name, version };
    return { kind: 'ignored', reason: `only ${MODEL_FILE_NAME} is read inside a version folder`, report: false };
  }

  /** chokidar asks about a path many times; each bad entry is logged and announced once. */
  #reportIgnored(entryPath: string, reason: string): void {
    if (this.#closed || this.#reported.has(entryPath)) return;
    this.#reported.add(entryPath);
    this.#logger.warn({ path: entryPath, reason }, 'ignoring entry in the model repository');
    this.emit('ignored', { path: entryPath, reason });
  }

  #onAddDir(entryPath: string): void {
    if (this.#closed) return;
    const entry = this.#classify(entryPath);
    if (entry.kind === 'model-dir' && !this.#models.has(entry.name)) this.#models.set(entry.name, new Map());
    if (entry.kind === 'ignored' && entry.report) this.#reportIgnored(entryPath, entry.reason);
    if (entry.kind === 'model-dir' || entry.kind === 'version-dir') {
      // chokidar lists a new folder and starts watching it as two steps; a file renamed into it
      // between the two (`mkdir -p name/3 && mv tmp name/3/model.onnx`) is never reported. Looking
      // again shortly after, and once more a second later, closes that gap.
      for (const delay of RESCAN_DELAYS_MS) {
        const timer = setTimeout(() => {
          this.#rescanTimers.delete(timer);
          void this.#rescan(entryPath);
        }, delay);
        this.#rescanTimers.add(timer);
      }
    }
  }

  /** Tracks files in a folder that the watcher may have missed; known, unchanged files are left alone. */
  async #rescan(dir: string): Promise<void> {
    if (this.#closed) return;
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      const child = path.join(dir, name);
      const entry = this.#classify(child);
      if (entry.kind === 'version-dir') await this.#rescan(child);
      if (entry.kind !== 'model-file' && entry.kind !== 'config') continue;
      if (this.#closed || this.#tracker.isTracking(child)) continue;
      const stats = await stat(child).catch(() => undefined);
      if (!stats?.isFile()) continue;
      const known = entry.kind === 'config' ? this.#configs.get(entry.name) : this.#models.get(entry.name)?.get(entry.version)?.fingerprint;
      if (known !== fileFingerprint(stats)) this.#onFile(child);
    }
  }

  #onFile(entryPath: string): void {
    if (this.#closed) return;
    const entry = this.#classify(entryPath);
    if (entry.kind === 'ignored') {
      if (entry.report) this.#reportIgnored(entryPath, entry.reason);
      return;
    }
    if (entry.kind !== 'model-file' && entry.kind !== 'config') {
      if (entry.kind === 'model-dir') this.#reportIgnored(entryPath, 'a file where a model folder belongs');
      return;
    }
    if (!this.#watcherReady) this.#initialPending.add(entryPath);
    this.#tracker.track(entryPath, (outcome) => {
      this.#initialPending.delete(entryPath);
      if (!this.#closed) {
        if (outcome.stable && entry.kind === 'model-file') this.#announceVersion(entry.name, entry.version, entryPath, outcome.fingerprint);
        if (outcome.stable && entry.kind === 'config') this.#announceConfig(entry.name, entryPath, outcome.fingerprint);
        // A file that vanished before it settled was never announced; its unlink event handles the rest.
      }
      this.#maybeScanned();
    });
  }

  #onUnlink(entryPath: string): void {
    if (this.#closed) return;
    const entry = this.#classify(entryPath);
    if (entry.kind === 'model-file') {
      this.#forgetPending(entryPath);
      // chokidar reports some unlinks late (after its atomic-write grace period); a file that is
      // back by then was replaced, not removed, and it is watched again (an unchanged fingerprint announces nothing).
      void stat(entryPath).then(
        (stats) => {
          if (stats.isFile()) this.#onFile(entryPath);
          else this.#removeVersion(entry.name, entry.version);
        },
        () => this.#removeVersion(entry.name, entry.version),
      );
    } else if (entry.kind === 'config') {
      this.#forgetPending(entryPath);
      if (this.#configs.delete(entry.name)) this.emit('config-changed', { name: entry.name, path: entryPath, exists: false });
    }
  }

  #onUnlinkDir(entryPath: string): void {
    if (this.#closed) return;
    const entry = this.#classify(entryPath);
    if (entry.kind === 'version-dir') {
      this.#forgetPending(this.modelPath(entry.name, entry.version));
      this.#removeVersion(entry.name, entry.version);
    } else if (entry.kind === 'model-dir') {
      const versions = this.#models.get(entry.name);
      for (const version of [...(versions?.keys() ?? [])].sort((a, b) => a - b)) {
        this.#forgetPending(this.modelPath(entry.name, version));
        this.#removeVersion(entry.name, version);
      }
      const config = this.configPath(entry.name);
      this.#forgetPending(config);
      if (this.#configs.delete(entry.name)) this.emit('config-changed', { name: entry.name, path: config, exists: false });
      this.#models.delete(entry.name);
    }
  }

  #forgetPending(filePath: string): void {
    this.#tracker.cancel(filePath);
    if (this.#initialPending.delete(filePath)) this.#maybeScanned();
  }

  #announceVersion(name: string, version: number, filePath: string, fingerprint: string): void {
    let versions = this.#models.get(name);
    if (!versions) {
      versions = new Map();
      this.#models.set(name, versions);
    }
    const previous = versions.get(version);
    // chokidar reports metadata-only touches as changes too; the same bytes need no reload.
    if (previous?.fingerprint === fingerprint) return;
    versions.set(version, { path: filePath, fingerprint });
    this.emit(previous ? 'version-changed' : 'version-added', { name, version, path: filePath });
  }

  #announceConfig(name: string, filePath: string, fingerprint: string): void {
    if (this.#configs.get(name) === fingerprint) return;
    this.#configs.set(name, fingerprint);
    this.emit('config-changed', { name, path: filePath, exists: true });
  }

  #removeVersion(name: string, version: number): void {
    if (this.#closed) return;
    const versions = this.#models.get(name);
    if (!versions?.delete(version)) return;
    this.emit('version-removed', { name, version });
  }

  #maybeScanned(): void {
    if (this.#scanned || this.#closed || !this.#watcherReady || this.#initialPending.size > 0) return;
    this.#scanned = true;
    this.#resolveScanned();
    this.emit('ready');
  }

  /** A watcher fault is reported, never thrown: one bad folder must not stop discovery. */
  #fail(error: Error): void {
    this.#logger.error({ err: error }, 'model repository watcher error');
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }
}
