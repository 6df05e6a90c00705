"""The onnxruntime session every peer runs: the same options as Switchyard's defaults.

Switchyard opens its sessions with one intra-op thread, one inter-op thread and every graph
optimisation (src/runtime/inference-runtime.ts DEFAULT_SESSION_OPTIONS), so the peers do too: the
benchmark then compares the servers around onnxruntime, not onnxruntime's thread pools.
"""
import onnxruntime as ort


def open_session(model_path: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
