/**
 * The model builder: ONNX files written from TypeScript, so tests, benchmarks and the demo
 * repository need no downloads and no Python.
 */
export { GraphBuilder, IR_VERSION, ONNX_DATA_TYPE_OF, OPSET_VERSION } from './graph-builder.js';
export type { AttributeValue, DimSpec, GraphBuilderOptions, InitializerData } from './graph-builder.js';
export { buildIdentityModel } from './identity-model.js';
export { buildLinearModel, linearModelWeights } from './linear-model.js';
export type { LinearModelOptions, LinearModelWeights } from './linear-model.js';
export { buildLookupModel, lookupValue } from './lookup-model.js';
export type { LookupModelOptions } from './lookup-model.js';
export { buildMlpModel, mlpModelWeights } from './mlp-model.js';
export type { MlpLayerWeights, MlpModelOptions } from './mlp-model.js';
export { buildMultiIoModel } from './multi-io-model.js';
export { buildNoBatchModel } from './no-batch-model.js';
export { encodeModel, OnnxDataType } from './onnx-proto.js';
export { buildParameterInputModel, PARAMETER_INPUT_OPS } from './parameter-input-model.js';
export type { ParameterInputOp } from './parameter-input-model.js';
export { seededRandom } from './seeded-random.js';
export { writeModelFile } from './write-model-file.js';
