"""An MLServer custom runtime that runs an ONNX file with onnxruntime.

MLServer's adaptive batcher (max_batch_size / max_batch_time in model-settings.json) merges
queued single-row requests along dimension 0 before predict, so one session.run serves a batch.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mlserver import MLModel  # noqa: E402
from mlserver.codecs import NumpyCodec  # noqa: E402
from mlserver.types import InferenceRequest, InferenceResponse  # noqa: E402

from onnx_session import open_session  # noqa: E402


class OnnxRuntime(MLModel):
    async def load(self) -> bool:
        self.session = open_session(self.settings.parameters.uri)
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        inputs = NumpyCodec.decode_input(payload.inputs[0])
        output = self.session.run(None, {self.input_name: inputs})[0]
        return InferenceResponse(
            model_name=self.name,
            model_version=self.version,
            id=payload.id,
            outputs=[NumpyCodec.encode_output(self.output_name, output)],
        )
