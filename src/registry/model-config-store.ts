/**
 * The live config.json of every model. A config that fails to parse is reported (and shown with
 * the model) while the last good one stays in force, so a typo never changes how a model serves.
 */
import { EventEmitter } from 'node:events';
import { ModelConfigError, readModelConfig, sessionSettingsDiffer, type ModelConfig } from '../repository/model-config.js';

export interface ModelConfigStoreEvents {
  /** A model's config changed; `sessionSettingsChanged` means its versions must reload to apply it. */
  changed: [{ name: string; config: ModelConfig; sessionSettingsChanged: boolean }];
  invalid: [{ name: string; reason: string }];
}

export class ModelConfigStore extends EventEmitter<ModelConfigStoreEvents> {
  readonly #configs = new Map<string, ModelConfig>();
  readonly #errors = new Map<string, string>();

  /** The config in force; {} (all defaults) for a model without one. */
  get(name: string): ModelConfig {
    return this.#configs.get(name) ?? {};
  }

  /** Why the model's config.json was refused, while it is. */
  error(name: string): string | undefined {
    return this.#errors.get(name);
  }

  has(name: string): boolean {
    return this.#configs.has(name) || this.#errors.has(name);
  }

  /** (Re)reads a model's config file; a missing file means defaults. Never throws. */
  async load(name: string, path: string): Promise<void> {
    let config: ModelConfig;
    try {
      config = await readModelConfig(path);
    } catch (error) {
      const reason = error instanceof ModelConfigError ? error.message : String(error);
      this.#errors.set(name, reason);
      this.emit('invalid', { name, reason });
      return;
    }
    const previous = this.#configs.get(name);
    this.#errors.delete(name);
    this.#configs.set(name, config);
    if (previous === undefined || JSON.stringify(previous) !== JSON.stringify(config)) {
      this.emit('changed', { name, config, sessionSettingsChanged: previous !== undefined && sessionSettingsDiffer(previous, config) });
    }
  }
}
