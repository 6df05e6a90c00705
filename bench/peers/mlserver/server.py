"""MLServer serving the MLP through the onnxruntime custom runtime (runtime.py), adaptive batching on.

Usage: server.py MODEL_PATH PORT. Serves the model as `mlp` on 127.0.0.1:PORT
(/v2/models/mlp/infer, /v2/health/ready), with model-settings.json beside this file (batching:
max_batch_size, max_batch_time) and its uri set to MODEL_PATH. parallel_workers is 0: inference runs in the
server's own process, which measured faster here than MLServer's default of one separate worker
process (one run each: 1,552 against 1,264 req/s at 64 connections, 301 against 219 at 1).
max_batch_time is 1 ms: with 0.5 or 2 ms the 64-connection req/s was the same, with 5 ms lower,
and every millisecond of it is added to a lone request's latency. Other defaults are kept: metrics on
(on a free loopback port), gRPC on (on a free loopback port: MLServer always starts it). debug is
off, which turns off the per-request access log, as Switchyard's is in the bench.
"""
import asyncio
import json
import os
import shutil
import socket
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from mlserver import MLServer  # noqa: E402
from mlserver.settings import ModelSettings, Settings  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def main() -> None:
    model_path, port = os.path.abspath(sys.argv[1]), int(sys.argv[2])
    scratch = tempfile.mkdtemp(prefix="mlserver-bench-")
    settings = Settings(
        debug=False,
        parallel_workers=0,
        host="127.0.0.1",
        http_port=port,
        grpc_port=free_port(),
        metrics_port=free_port(),
        metrics_dir=os.path.join(scratch, "metrics"),
        environments_dir=os.path.join(scratch, "envs"),
        model_repository_root=scratch,
        load_models_at_startup=False,
    )
    with open(os.path.join(HERE, "model-settings.json")) as file:
        raw = json.load(file)
    raw["parameters"]["uri"] = model_path
    try:
        await MLServer(settings).start([ModelSettings(**raw)])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
