/**
 * A lookup model whose failure depends on the data, not the shape: each row holds an index into a
 * constant table, and an index outside the table makes onnxruntime refuse the run. A batch that
 * merges one bad row with good ones fails as a whole, while every good row alone succeeds, which
 * is what tests of the batcher's split-on-failure need.
 */
import { GraphBuilder } from './graph-builder.js';

export interface LookupModelOptions {
  /** Entries in the table; valid indices are 0..size-1 (and -size..-1, counted from the end). Default 8. */
  readonly size?: number;
}

/** The value the table holds at index i (exact in float32). */
export function lookupValue(index: number): number {
  return 0.5 * index + 1;
}

/** Input `index` INT64 [-1, 1] -> output `value` FP32 [-1, 1] = table[index], table[i] = lookupValue(i). */
export function buildLookupModel(options: LookupModelOptions = {}): Uint8Array {
  const size = options.size ?? 8;
  return new GraphBuilder({ name: 'lookup' })
    .input('index', 'INT64', [-1, 1])
    .output('value', 'FP32', [-1, 1])
    .initializer('table', 'FP32', [size], Float32Array.from({ length: size }, (_, i) => lookupValue(i)))
    .node('Gather', ['table', 'index'], ['value'], { axis: 0 })
    .build();
}
