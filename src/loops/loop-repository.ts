/**
 * The V2 repository extension's load and unload across several HTTP loops: the loop that gets the
 * request loads (or unloads) in its own registry and, through the primary, in every other loop's;
 * it answers once all of them have, failing with every loop's reason when one could not.
 */
import cluster, { type Worker } from 'node:cluster';
import type { ModelLoader } from '../http/http-services.js';

type Operation = { readonly op: 'load'; readonly name: string; readonly version: number; readonly path: string } | { readonly op: 'unload'; readonly name: string; readonly version: number };

/** Loop -> primary: apply this in every other loop. */
interface RepositoryRequest { readonly switchyardLoop: 'repository-request'; readonly id: number; readonly operation: Operation }
/** Primary -> loop: the other loops' outcome. */
interface RepositoryAnswer { readonly switchyardLoop: 'repository-answer'; readonly id: number; readonly errors: readonly string[] }
/** Primary -> another loop: apply this here. */
interface RepositoryApply { readonly switchyardLoop: 'repository-apply'; readonly id: number; readonly operation: Operation }
/** That loop -> primary: done (error: why not). */
interface RepositoryApplied { readonly switchyardLoop: 'repository-applied'; readonly id: number; readonly error?: string }

function isMessage<T extends { switchyardLoop: string }>(message: unknown, kind: T['switchyardLoop']): message is T {
  return typeof message === 'object' && message !== null && (message as T).switchyardLoop === kind;
}

function apply(local: ModelLoader, operation: Operation): Promise<void> {
  return operation.op === 'load' ? local.load(operation.name, operation.version, operation.path) : local.unload(operation.name, operation.version);
}

/** Primary: relays each loop's repository operation to every other loop and answers with their outcome. */
export function relayRepositoryOperations(): void {
  let nextId = 0;
  /** Applications not answered yet, by the loop applying them. */
  const waiting = new Map<Worker, Map<number, (error: string | undefined) => void>>();
  cluster.on('message', (from, message: unknown) => {
    if (isMessage<RepositoryApplied>(message, 'repository-applied')) {
      const settle = waiting.get(from)?.get(message.id);
      waiting.get(from)?.delete(message.id);
      settle?.(message.error);
      return;
    }
    if (!isMessage<RepositoryRequest>(message, 'repository-request')) return;
    const others = Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined && worker !== from && worker.isConnected());
    const outcomes = others.map(
      (worker) =>
        new Promise<string | undefined>((resolve) => {
          const id = nextId++;
          if (!waiting.has(worker)) waiting.set(worker, new Map());
          waiting.get(worker)!.set(id, resolve);
          worker.send({ switchyardLoop: 'repository-apply', id, operation: message.operation } satisfies RepositoryApply);
        }),
    );
    void Promise.all(outcomes).then((errors) => {
      if (from.isConnected()) {
        from.send({ switchyardLoop: 'repository-answer', id: message.id, errors: errors.filter((e): e is string => e !== undefined) } satisfies RepositoryAnswer);
      }
    });
  });
  // A loop that exits answers no more: what it was applying fails.
  cluster.on('exit', (worker) => {
    for (const settle of waiting.get(worker)?.values() ?? []) settle(`HTTP loop ${worker.process.pid} exited`);
    waiting.delete(worker);
  });
}

/**
 * Loop: applies the operations other loops forward, and returns the loader the repository
 * endpoints use here, which applies each operation locally and in every other loop.
 */
export function repositoryAcrossLoops(local: ModelLoader): ModelLoader {
  const pending = new Map<number, (errors: readonly string[]) => void>();
  let nextId = 0;
  process.on('message', (message: unknown) => {
    if (isMessage<RepositoryAnswer>(message, 'repository-answer')) {
      pending.get(message.id)?.(message.errors);
      pending.delete(message.id);
    } else if (isMessage<RepositoryApply>(message, 'repository-apply')) {
      apply(local, message.operation).then(
        () => process.send?.({ switchyardLoop: 'repository-applied', id: message.id } satisfies RepositoryApplied),
        (error: unknown) => process.send?.({ switchyardLoop: 'repository-applied', id: message.id, error: (error as Error)?.message ?? String(error) } satisfies RepositoryApplied),
      );
    }
  });
  const everywhere = async (operation: Operation): Promise<void> => {
    const elsewhere = new Promise<readonly string[]>((resolve) => {
      if (!process.connected) return resolve(['the primary is gone']);
      const id = nextId++;
      pending.set(id, resolve);
      process.send!({ switchyardLoop: 'repository-request', id, operation } satisfies RepositoryRequest);
    });
    const [here, others] = await Promise.allSettled([apply(local, operation), elsewhere]);
    const errors = others.status === 'fulfilled' ? others.value : [];
    if (here.status === 'rejected') throw here.reason;
    if (errors.length > 0) throw new Error(`in another HTTP loop: ${errors.join('; ')}`);
  };
  return {
    load: (name, version, path) => everywhere({ op: 'load', name, version, path }),
    unload: (name, version) => everywhere({ op: 'unload', name, version }),
    knownVersions: (name) => local.knownVersions(name),
  };
}
