"""Triton Inference Server through PyTriton serving the MLP, dynamic batching on, inference in onnxruntime.

Usage: server.py MODEL_PATH PORT. Serves the model as `mlp` on 127.0.0.1:PORT
(/v2/models/mlp/infer, /v2/models/mlp/ready). PyTriton starts the tritonserver binary shipped in
its wheel; Triton's dynamic batcher merges queued requests (up to 64 rows, no queue delay: Triton's
default, and Switchyard's) and hands each batch to the @batch inference function, which runs it
as one onnxruntime session.run in this process. gRPC and metrics listen on free loopback ports;
the statistics API is left open (PyTriton guards it with a token) so the bench can show the batching.
SIGTERM stops Triton and its proxy cleanly (PyTriton itself only handles SIGINT).
"""
import os
import signal
import socket
import sys
import sysconfig

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from pytriton.decorators import batch  # noqa: E402
from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor  # noqa: E402
from pytriton.triton import DEFAULT_PROTECTED_ENDPOINTS, Triton, TritonConfig, TritonSecurityConfig  # noqa: E402

from onnx_session import open_session  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def use_this_libpython() -> None:
    """Triton's Python backend stub links libpython3.X.so dynamically and takes whichever the loader
    finds first (here Debian's 3.11.2) while it imports this venv's standard library (here pyenv's
    3.11.7): the two disagree (AttributeError: '_thread.RLock' object has no attribute
    '_recursion_count') and the model fails to load. Putting this interpreter's own shared libpython
    first on LD_LIBRARY_PATH, which tritonserver and the stub inherit, makes them match."""
    libdir = sysconfig.get_config_var("LIBDIR")
    ldlibrary = sysconfig.get_config_var("LDLIBRARY") or ""
    if libdir and ldlibrary.endswith(".so") and os.path.exists(os.path.join(libdir, ldlibrary)):
        current = os.environ.get("LD_LIBRARY_PATH")
        os.environ["LD_LIBRARY_PATH"] = libdir + (":" + current if current else "")


def main() -> None:
    use_this_libpython()
    model_path, port = sys.argv[1], int(sys.argv[2])
    session = open_session(model_path)
    input_name = session.get_inputs()[0].name
    output_name = session.get_outputs()[0].name
    width_in = session.get_inputs()[0].shape[1]
    width_out = session.get_outputs()[0].shape[1]

    @batch
    def infer(**inputs: np.ndarray):
        return {output_name: session.run(None, {input_name: inputs[input_name]})[0]}

    def on_sigterm(signum, frame):
        raise KeyboardInterrupt  # what Triton.serve() stops on

    signal.signal(signal.SIGTERM, on_sigterm)
    config = TritonConfig(
        http_address="127.0.0.1",
        http_port=port,
        grpc_address="127.0.0.1",
        grpc_port=free_port(),
        metrics_address="127.0.0.1",
        metrics_port=free_port(),
        log_verbose=0,
    )
    # PyTriton puts Triton's statistics behind a generated token; the bench reads them (rows per
    # execution, i.e. the batching) on loopback, so they alone are left open.
    security = TritonSecurityConfig(restricted_endpoints=[e for e in DEFAULT_PROTECTED_ENDPOINTS if e != "statistics"])
    with Triton(config=config, security_config=security) as triton:
        triton.bind(
            model_name="mlp",
            infer_func=infer,
            inputs=[Tensor(name=input_name, dtype=np.float32, shape=(width_in,))],
            outputs=[Tensor(name=output_name, dtype=np.float32, shape=(width_out,))],
            config=ModelConfig(max_batch_size=64, batcher=DynamicBatcher(max_queue_delay_microseconds=0)),
            strict=True,
        )
        triton.serve()


if __name__ == "__main__":
    main()
