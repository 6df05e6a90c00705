/**
 * Where the registry's warmup plans come from in a running gateway: the mode from the model's
 * config.json (as in force when the load starts) and the samples from its folder in the
 * repository, read afresh at every load, so new samples apply at the next (re)load of a version.
 */
import { readWarmupSamples, type WarmupSampleOptions } from '../repository/warmup-samples.js';
import type { ModelConfigStore } from './model-config-store.js';
import type { WarmupPlan } from './version-warmup.js';

export interface RepositoryWarmupPlansOptions {
  /** The folder of a model in the repository (ModelRepository.modelDir). */
  readonly modelDir: (name: string) => string;
  readonly configs: ModelConfigStore;
  /** Bounds on the sample files. Default: readWarmupSamples's (16 files of 16 MiB). */
  readonly limits?: WarmupSampleOptions;
}

export function repositoryWarmupPlans(options: RepositoryWarmupPlansOptions): (name: string, version: number) => Promise<WarmupPlan> {
  return async (name, version) => {
    const mode = options.configs.get(name).warmup ?? 'auto';
    // `off` runs nothing, so its samples are not read (nor can a bad one fail the load).
    if (mode === 'off') return { mode };
    const { samples } = await readWarmupSamples(options.modelDir(name), version, options.limits);
    return { mode, samples };
  };
}
