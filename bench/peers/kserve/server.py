"""KServe's Python ModelServer serving the MLP with onnxruntime over the V2 protocol (REST).

Usage: server.py MODEL_PATH PORT. Serves the model as `mlp` on 127.0.0.1:PORT
(/v2/models/mlp/infer, /v2/health/ready). KServe's ModelServer has no batching of its own
(KServe batches in a separate agent container in front of it), so each request runs alone.
Per-request log lines (latency logging, uvicorn access log) are off, as Switchyard's are in the
bench; gRPC is off (the bench speaks REST).
"""
import logging
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import kserve  # noqa: E402
import kserve.logging  # noqa: E402
import uvicorn  # noqa: E402
from kserve import InferOutput, InferRequest, InferResponse  # noqa: E402
from kserve.utils.utils import generate_uuid  # noqa: E402

from onnx_session import open_session  # noqa: E402


class LoopbackConfig(uvicorn.Config):
    """kserve's RESTServer binds 0.0.0.0 with no option to change it; the bench binds loopback only."""

    def __init__(self, *args, **kwargs):
        kwargs["host"] = "127.0.0.1"
        super().__init__(*args, **kwargs)


uvicorn.Config = LoopbackConfig


class OnnxModel(kserve.Model):
    def __init__(self, name: str, model_path: str):
        super().__init__(name)
        self.model_path = model_path
        self.load()

    def load(self) -> bool:
        self.session = open_session(self.model_path)
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name
        self.ready = True
        return self.ready

    def predict(self, payload: InferRequest, headers=None, response_headers=None) -> InferResponse:
        output = self.session.run(None, {self.input_name: payload.inputs[0].as_numpy()})[0]
        infer_output = InferOutput(name=self.output_name, shape=list(output.shape), datatype="FP32")
        infer_output.set_data_from_numpy(output, binary_data=False)
        return InferResponse(response_id=payload.id or generate_uuid(), model_name=self.name, infer_outputs=[infer_output])


def main() -> None:
    # fastapi warns once that kserve still answers with ORJSONResponse: nothing the bench can change.
    warnings.filterwarnings("ignore", message="ORJSONResponse is deprecated")
    model_path, port = sys.argv[1], int(sys.argv[2])
    kserve.logging.configure_logging()
    for name in ("kserve", "kserve.trace", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.WARNING)
    server = kserve.ModelServer(http_port=port, enable_grpc=False, enable_latency_logging=False)
    server.start([OnnxModel("mlp", model_path)])


if __name__ == "__main__":
    main()
