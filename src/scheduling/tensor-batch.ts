/**
 * Merging requests along dimension 0 and splitting the results back. Only requests whose inputs
 * agree on every name, datatype and trailing dimension share a batch (their batch key); outputs
 * come back as views into the batch's output buffers, not copies.
 */
import { elementCount, TYPED_ARRAY_OF, type Tensor, type TensorData } from '../tensor.js';
import type { BufferPool } from './buffer-pool.js';

type TypedArray = Exclude<TensorData, string[]>;

/** Rows of a request (its common first dimension), or undefined when it can not be batched. */
export function rowsOf(inputs: Readonly<Record<string, Tensor>>): number | undefined {
  let rows: number | undefined;
  for (const name in inputs) {
    const shape = inputs[name]!.shape;
    if (shape.length === 0) return undefined;
    if (rows === undefined) rows = shape[0];
    else if (shape[0] !== rows) return undefined;
  }
  return rows;
}

/** Inputs that may share a batch have equal keys: names, datatypes and trailing dims. */
export function batchKey(inputs: Readonly<Record<string, Tensor>>): string {
  let key = '';
  for (const name of Object.keys(inputs).sort()) {
    const { datatype, shape } = inputs[name]!;
    key += `${name}\u0000${datatype}\u0000${shape.slice(1).join(',')}\u0001`;
  }
  return key;
}

/** One tensor per input name, the parts' rows stacked in order, in buffers from `pool` when given. */
export function mergeInputs(
  parts: ReadonlyArray<Readonly<Record<string, Tensor>>>,
  totalRows: number,
  pool?: BufferPool,
): Record<string, Tensor> {
  const merged: Record<string, Tensor> = {};
  const first = parts[0]!;
  for (const name in first) {
    const { datatype, shape } = first[name]!;
    const mergedShape = [totalRows, ...shape.slice(1)];
    if (datatype === 'BYTES') {
      const data: string[] = [];
      for (const part of parts) for (const s of part[name]!.data as string[]) data.push(s);
      merged[name] = { datatype, shape: mergedShape, data };
      continue;
    }
    const length = elementCount(mergedShape);
    const data = pool ? pool.take(datatype, length) : (new TYPED_ARRAY_OF[datatype](length) as TypedArray);
    let offset = 0;
    for (const part of parts) {
      const source = part[name]!.data as TypedArray;
      (data as { set(array: ArrayLike<number | bigint>, offset: number): void }).set(source, offset);
      offset += source.length;
    }
    merged[name] = { datatype, shape: mergedShape, data };
  }
  return merged;
}

/**
 * The rows [firstRow, firstRow + rows) of each named output, as views. Throws when an output is
 * not batched along dimension 0 (its first dim is not the batch's row count).
 */
export function sliceOutputs(
  outputs: Readonly<Record<string, Tensor>>,
  names: readonly string[],
  totalRows: number,
  firstRow: number,
  rows: number,
): Record<string, Tensor> {
  const sliced: Record<string, Tensor> = {};
  for (const name of names) {
    const tensor = outputs[name];
    if (!tensor) throw new Error(`the model did not return output '${name}'`);
    if (tensor.shape[0] !== totalRows) {
      throw new Error(`output '${name}' has shape [${tensor.shape.join(',')}], not ${totalRows} rows along dimension 0`);
    }
    const rowSize = totalRows === 0 ? 0 : tensor.data.length / totalRows;
    const start = firstRow * rowSize;
    const end = start + rows * rowSize;
    const data = Array.isArray(tensor.data) ? tensor.data.slice(start, end) : (tensor.data as TypedArray).subarray(start, end);
    sliced[name] = { datatype: tensor.datatype, shape: [rows, ...tensor.shape.slice(1)], data };
  }
  return sliced;
}
