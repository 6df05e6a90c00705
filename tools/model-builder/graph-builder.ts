/**
 * A small graph-building API over the onnx-proto encoder: declare inputs, outputs, initializers
 * and nodes in gateway vocabulary (src/tensor.ts datatypes, -1 for dynamic dims), get .onnx bytes.
 *
 * Pinned to ir_version 8 and opset 13 of the default domain, which every onnxruntime the project
 * supports loads, so generated test models never depend on the runtime's newest features.
 */
import type { Datatype } from '../../src/tensor.js';
import {
  AttributeType,
  encodeModel,
  OnnxDataType,
  type AttributeProto,
  type DimensionProto,
  type NodeProto,
  type OnnxDataTypeCode,
  type TensorProto,
  type ValueInfoProto,
} from './onnx-proto.js';

export const IR_VERSION = 8;
export const OPSET_VERSION = 13;

/** Gateway datatype -> TensorProto.DataType. */
export const ONNX_DATA_TYPE_OF: Readonly<Record<Datatype, OnnxDataTypeCode>> = {
  BOOL: OnnxDataType.BOOL,
  UINT8: OnnxDataType.UINT8,
  UINT16: OnnxDataType.UINT16,
  UINT32: OnnxDataType.UINT32,
  UINT64: OnnxDataType.UINT64,
  INT8: OnnxDataType.INT8,
  INT16: OnnxDataType.INT16,
  INT32: OnnxDataType.INT32,
  INT64: OnnxDataType.INT64,
  FP16: OnnxDataType.FLOAT16,
  FP32: OnnxDataType.FLOAT,
  FP64: OnnxDataType.DOUBLE,
  BYTES: OnnxDataType.STRING,
};

/**
 * A dim: a non-negative number is fixed, a string is a named symbolic dim, -1 is a dynamic dim
 * named `batch` when it comes first (so every batched input shares one symbol) or `dim_<i>`.
 */
export type DimSpec = number | string;

export type InitializerData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | readonly string[];

export type AttributeValue = number | string | readonly number[] | { readonly floats: readonly number[] } | { readonly float: number };

export interface GraphBuilderOptions {
  /** Graph name written into the model. Default 'switchyard'. */
  readonly name?: string;
  /** Model doc_string. Default none. */
  readonly docString?: string;
}

function toDimensions(shape: readonly DimSpec[]): DimensionProto[] {
  return shape.map((dim, index) => {
    if (typeof dim === 'string') return { dimParam: dim };
    if (dim === -1) return { dimParam: index === 0 ? 'batch' : `dim_${index}` };
    if (!Number.isInteger(dim) || dim < 0) throw new RangeError(`invalid dim ${dim} at index ${index}`);
    return { dimValue: dim };
  });
}

function toAttribute(name: string, value: AttributeValue): AttributeProto {
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new TypeError(`attribute ${name}: use { float } for non-integers`);
    return { name, type: AttributeType.INT, i: value };
  }
  if (typeof value === 'string') return { name, type: AttributeType.STRING, s: value };
  if ('float' in value) return { name, type: AttributeType.FLOAT, f: value.float };
  if ('floats' in value) return { name, type: AttributeType.FLOATS, floats: value.floats };
  return { name, type: AttributeType.INTS, ints: value };
}

function littleEndianBytes(datatype: Datatype, data: Exclude<InitializerData, readonly string[]>): Uint8Array {
  // Typed arrays use host byte order; write element by element so the bytes are little-endian anywhere.
  const size = data.BYTES_PER_ELEMENT;
  const out = new Uint8Array(data.length * size);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) {
    const value = data[i] as number | bigint;
    const offset = i * size;
    if (typeof value === 'bigint') {
      if (datatype === 'UINT64') view.setBigUint64(offset, value, true);
      else view.setBigInt64(offset, value, true);
      continue;
    }
    switch (data.constructor) {
      case Float32Array: view.setFloat32(offset, value, true); break;
      case Float64Array: view.setFloat64(offset, value, true); break;
      case Int8Array: view.setInt8(offset, value); break;
      case Uint8Array: view.setUint8(offset, value); break;
      case Int16Array: view.setInt16(offset, value, true); break;
      case Uint16Array: view.setUint16(offset, value, true); break;
      case Int32Array: view.setInt32(offset, value, true); break;
      case Uint32Array: view.setUint32(offset, value, true); break;
      default: throw new TypeError(`unsupported initializer storage ${data.constructor.name}`);
    }
  }
  return out;
}

export class GraphBuilder {
  private readonly name: string;
  private readonly docString: string | undefined;
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly nodes: NodeProto[] = [];

  constructor(options: GraphBuilderOptions = {}) {
    this.name = options.name ?? 'switchyard';
    this.docString = options.docString;
  }

  input(name: string, datatype: Datatype, shape: readonly DimSpec[]): this {
    this.inputs.push({ name, elemType: ONNX_DATA_TYPE_OF[datatype], shape: toDimensions(shape) });
    return this;
  }

  output(name: string, datatype: Datatype, shape: readonly DimSpec[]): this {
    this.outputs.push({ name, elemType: ONNX_DATA_TYPE_OF[datatype], shape: toDimensions(shape) });
    return this;
  }

  /** A constant tensor; `dims` of [] makes a scalar. Data is row-major. */
  initializer(name: string, datatype: Datatype, dims: readonly number[], data: InitializerData): this {
    const count = dims.reduce((product, dim) => product * dim, 1);
    if (data.length !== count) throw new RangeError(`initializer ${name}: ${data.length} elements for dims [${dims.join(',')}]`);
    const dataType = ONNX_DATA_TYPE_OF[datatype];
    if (isStringArray(data)) {
      if (datatype !== 'BYTES') throw new TypeError(`initializer ${name}: strings need datatype BYTES`);
      const encoder = new TextEncoder();
      this.initializers.push({ name, dataType, dims, stringData: data.map((s) => encoder.encode(s)) });
    } else {
      if (datatype === 'BYTES') throw new TypeError(`initializer ${name}: BYTES needs string data`);
      this.initializers.push({ name, dataType, dims, rawData: littleEndianBytes(datatype, data) });
    }
    return this;
  }

  /** Adds a node; names are generated from the op type and position so graphs stay deterministic. */
  node(opType: string, inputs: readonly string[], outputs: readonly string[], attributes: Readonly<Record<string, AttributeValue>> = {}): this {
    this.nodes.push({
      name: `${opType.toLowerCase()}_${this.nodes.length}`,
      opType,
      inputs,
      outputs,
      attributes: Object.entries(attributes).map(([name, value]) => toAttribute(name, value)),
    });
    return this;
  }

  build(): Uint8Array {
    return encodeModel({
      irVersion: IR_VERSION,
      opsetImports: [{ domain: '', version: OPSET_VERSION }],
      producerName: 'switchyard-model-builder',
      producerVersion: '1',
      ...(this.docString === undefined ? {} : { docString: this.docString }),
      graph: {
        name: this.name,
        nodes: this.nodes,
        initializers: this.initializers,
        inputs: this.inputs,
        outputs: this.outputs,
      },
    });
  }
}

function isStringArray(data: InitializerData): data is readonly string[] {
  return Array.isArray(data);
}
