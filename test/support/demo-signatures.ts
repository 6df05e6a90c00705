/**
 * The tensor metadata the builder's models must report, written out by hand from the graphs in
 * tools/model-builder (not read back from them), for the metadata tests of both protocols.
 */

export const MULTI_IO_SIGNATURE = {
  inputs: [
    { name: 'x', datatype: 'FP32', shape: [-1, 4] },
    { name: 'ids', datatype: 'INT64', shape: [-1, 3] },
    { name: 'mask', datatype: 'BOOL', shape: [-1, 3] },
    { name: 'text', datatype: 'BYTES', shape: [-1, 2] },
  ],
  outputs: [
    { name: 'sum', datatype: 'FP32', shape: [-1, 1] },
    { name: 'ids_plus_one', datatype: 'INT64', shape: [-1, 3] },
    { name: 'mask_not', datatype: 'BOOL', shape: [-1, 3] },
    { name: 'text_copy', datatype: 'BYTES', shape: [-1, 2] },
  ],
};
