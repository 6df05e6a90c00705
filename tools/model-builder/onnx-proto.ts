/**
 * A hand-written encoder for the subset of onnx.proto the model builder needs.
 *
 * Field numbers are the official ones from onnx/onnx.proto (proto2). Writing the wire format
 * directly with protobufjs's Writer keeps the builder free of .proto files, code generation and
 * downloads; onnxruntime is the judge of whether the bytes are right (see the builder tests).
 */
import protobuf from 'protobufjs/minimal.js';

/** TensorProto.DataType values used by the builder. */
export const OnnxDataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
} as const;

export type OnnxDataTypeCode = (typeof OnnxDataType)[keyof typeof OnnxDataType];

/** AttributeProto.AttributeType values. */
export const AttributeType = {
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
} as const;

export interface OperatorSetIdProto {
  /** Empty string is the default ai.onnx domain. */
  readonly domain: string;
  readonly version: number;
}

export interface TensorProto {
  readonly name: string;
  readonly dataType: OnnxDataTypeCode;
  readonly dims: readonly number[];
  /** Little-endian element bytes; for every type but STRING. */
  readonly rawData?: Uint8Array;
  /** UTF-8 elements; STRING tensors only (raw_data must not be used for them). */
  readonly stringData?: readonly Uint8Array[];
}

/** A dimension is fixed (`dimValue`), symbolic (`dimParam`), or unknown (neither). */
export interface DimensionProto {
  readonly dimValue?: number;
  readonly dimParam?: string;
}

export interface ValueInfoProto {
  readonly name: string;
  readonly elemType: OnnxDataTypeCode;
  /** Omitted means the rank itself is unknown. */
  readonly shape?: readonly DimensionProto[];
}

export type AttributeProto =
  | { readonly name: string; readonly type: typeof AttributeType.FLOAT; readonly f: number }
  | { readonly name: string; readonly type: typeof AttributeType.INT; readonly i: number }
  | { readonly name: string; readonly type: typeof AttributeType.STRING; readonly s: string }
  | { readonly name: string; readonly type: typeof AttributeType.TENSOR; readonly t: TensorProto }
  | { readonly name: string; readonly type: typeof AttributeType.FLOATS; readonly floats: readonly number[] }
  | { readonly name: string; readonly type: typeof AttributeType.INTS; readonly ints: readonly number[] }
  | { readonly name: string; readonly type: typeof AttributeType.STRINGS; readonly strings: readonly string[] };

export interface NodeProto {
  readonly name: string;
  readonly opType: string;
  readonly domain?: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes?: readonly AttributeProto[];
}

export interface GraphProto {
  readonly name: string;
  readonly nodes: readonly NodeProto[];
  readonly initializers: readonly TensorProto[];
  readonly inputs: readonly ValueInfoProto[];
  readonly outputs: readonly ValueInfoProto[];
}

export interface ModelProto {
  readonly irVersion: number;
  readonly opsetImports: readonly OperatorSetIdProto[];
  readonly producerName: string;
  readonly producerVersion: string;
  readonly modelVersion?: number;
  readonly docString?: string;
  readonly graph: GraphProto;
}

type Writer = protobuf.Writer;

const WIRE_VARINT = 0;
const WIRE_FIXED32 = 5;
const WIRE_LENGTH_DELIMITED = 2;

function tag(field: number, wireType: number): number {
  return ((field << 3) | wireType) >>> 0;
}

/** Writes a nested message as a length-delimited field. */
function message<T>(writer: Writer, field: number, value: T, encode: (writer: Writer, value: T) => void): void {
  writer.uint32(tag(field, WIRE_LENGTH_DELIMITED)).fork();
  encode(writer, value);
  writer.ldelim();
}

function encodeOperatorSetId(writer: Writer, opset: OperatorSetIdProto): void {
  writer.uint32(tag(1, WIRE_LENGTH_DELIMITED)).string(opset.domain);
  writer.uint32(tag(2, WIRE_VARINT)).int64(opset.version);
}

function encodeTensor(writer: Writer, tensor: TensorProto): void {
  // proto2 `repeated int64 dims = 1` without [packed]: one varint per element, as onnx writes it.
  for (const dim of tensor.dims) writer.uint32(tag(1, WIRE_VARINT)).int64(dim);
  writer.uint32(tag(2, WIRE_VARINT)).int32(tensor.dataType);
  for (const element of tensor.stringData ?? []) writer.uint32(tag(6, WIRE_LENGTH_DELIMITED)).bytes(element);
  writer.uint32(tag(8, WIRE_LENGTH_DELIMITED)).string(tensor.name);
  if (tensor.rawData !== undefined) writer.uint32(tag(9, WIRE_LENGTH_DELIMITED)).bytes(tensor.rawData);
}

function encodeDimension(writer: Writer, dim: DimensionProto): void {
  if (dim.dimValue !== undefined) writer.uint32(tag(1, WIRE_VARINT)).int64(dim.dimValue);
  if (dim.dimParam !== undefined) writer.uint32(tag(2, WIRE_LENGTH_DELIMITED)).string(dim.dimParam);
}

function encodeShape(writer: Writer, shape: readonly DimensionProto[]): void {
  for (const dim of shape) message(writer, 1, dim, encodeDimension);
}

function encodeTensorType(writer: Writer, info: ValueInfoProto): void {
  writer.uint32(tag(1, WIRE_VARINT)).int32(info.elemType);
  if (info.shape !== undefined) message(writer, 2, info.shape, encodeShape);
}

function encodeType(writer: Writer, info: ValueInfoProto): void {
  message(writer, 1, info, encodeTensorType); // TypeProto.tensor_type
}

function encodeValueInfo(writer: Writer, info: ValueInfoProto): void {
  writer.uint32(tag(1, WIRE_LENGTH_DELIMITED)).string(info.name);
  message(writer, 2, info, encodeType);
}

function encodeAttribute(writer: Writer, attribute: AttributeProto): void {
  writer.uint32(tag(1, WIRE_LENGTH_DELIMITED)).string(attribute.name);
  switch (attribute.type) {
    case AttributeType.FLOAT:
      writer.uint32(tag(2, WIRE_FIXED32)).float(attribute.f);
      break;
    case AttributeType.INT:
      writer.uint32(tag(3, WIRE_VARINT)).int64(attribute.i);
      break;
    case AttributeType.STRING:
      writer.uint32(tag(4, WIRE_LENGTH_DELIMITED)).bytes(new TextEncoder().encode(attribute.s));
      break;
    case AttributeType.TENSOR:
      message(writer, 5, attribute.t, encodeTensor);
      break;
    case AttributeType.FLOATS:
      for (const f of attribute.floats) writer.uint32(tag(7, WIRE_FIXED32)).float(f);
      break;
    case AttributeType.INTS:
      for (const i of attribute.ints) writer.uint32(tag(8, WIRE_VARINT)).int64(i);
      break;
    case AttributeType.STRINGS:
      for (const s of attribute.strings) writer.uint32(tag(9, WIRE_LENGTH_DELIMITED)).bytes(new TextEncoder().encode(s));
      break;
  }
  writer.uint32(tag(20, WIRE_VARINT)).int32(attribute.type);
}

function encodeNode(writer: Writer, node: NodeProto): void {
  for (const input of node.inputs) writer.uint32(tag(1, WIRE_LENGTH_DELIMITED)).string(input);
  for (const output of node.outputs) writer.uint32(tag(2, WIRE_LENGTH_DELIMITED)).string(output);
  writer.uint32(tag(3, WIRE_LENGTH_DELIMITED)).string(node.name);
  writer.uint32(tag(4, WIRE_LENGTH_DELIMITED)).string(node.opType);
  for (const attribute of node.attributes ?? []) message(writer, 5, attribute, encodeAttribute);
  if (node.domain !== undefined) writer.uint32(tag(7, WIRE_LENGTH_DELIMITED)).string(node.domain);
}

function encodeGraph(writer: Writer, graph: GraphProto): void {
  for (const node of graph.nodes) message(writer, 1, node, encodeNode);
  writer.uint32(tag(2, WIRE_LENGTH_DELIMITED)).string(graph.name);
  for (const initializer of graph.initializers) message(writer, 5, initializer, encodeTensor);
  for (const input of graph.inputs) message(writer, 11, input, encodeValueInfo);
  for (const output of graph.outputs) message(writer, 12, output, encodeValueInfo);
}

/** Serialises a ModelProto to the bytes of a .onnx file. */
export function encodeModel(model: ModelProto): Uint8Array {
  const writer = protobuf.Writer.create();
  writer.uint32(tag(1, WIRE_VARINT)).int64(model.irVersion);
  writer.uint32(tag(2, WIRE_LENGTH_DELIMITED)).string(model.producerName);
  writer.uint32(tag(3, WIRE_LENGTH_DELIMITED)).string(model.producerVersion);
  if (model.modelVersion !== undefined) writer.uint32(tag(5, WIRE_VARINT)).int64(model.modelVersion);
  if (model.docString !== undefined) writer.uint32(tag(6, WIRE_LENGTH_DELIMITED)).string(model.docString);
  message(writer, 7, model.graph, encodeGraph);
  for (const opset of model.opsetImports) message(writer, 8, opset, encodeOperatorSetId);
  // Buffer from the Node writer is a Uint8Array subclass; copy so callers get a plain Uint8Array.
  return new Uint8Array(writer.finish());
}
