"""
Drives a live Switchyard with Triton's own Python HTTP client (tritonclient.http), used exactly as
its documentation shows, and prints one JSON report: {"client": {...}, "checks": [{"name", "ok",
"observed", "expected"}, ...]}. test/v2/tritonclient.test.ts starts the gateway, feeds this script
a JSON spec on stdin (url, admin token, models, the linear model's weights) and asserts on every
check by name. A check that raises is reported as failed with the exception; only a crash of the
script itself leaves no report (the test then fails on the missing checks).

Expected values are computed here with numpy from the inputs (identity models) or from the weights
the model builder wrote (linear), and compared bit for bit: dtype, shape and bytes.
"""
import json
import sys
import traceback
from importlib import metadata as packages

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException, triton_to_np_dtype

SPEC = json.load(sys.stdin)
URL = SPEC["url"]
ADMIN = {"Authorization": "Bearer " + SPEC["adminToken"]}
CHECKS = []


def check(name):
    """Runs fn() -> (ok, observed, expected) as one named check; an exception fails it."""

    def run(fn):
        try:
            ok, observed, expected = fn()
        except Exception as error:  # the report says what went wrong, the next check still runs
            ok, observed, expected = False, "raised " + describe_exception(error), "no exception"
            traceback.print_exc(file=sys.stderr)
        CHECKS.append({"name": name, "ok": bool(ok), "observed": observed, "expected": expected})
        return fn

    return run


def same(observed, expected):
    return observed == expected, observed, expected


def describe_exception(error):
    if isinstance(error, InferenceServerException):
        return "InferenceServerException(status={!r}, message={!r})".format(error.status(), error.message())
    return "{}: {}".format(type(error).__name__, error)


def tensor(array):
    """A numpy array as the report shows it: dtype, shape, and its exact content (bytes in hex)."""
    if array is None:
        return None
    if array.dtype == np.object_:
        elements = [e.encode("utf-8") if isinstance(e, str) else bytes(e) for e in array.flatten()]
        return {"dtype": "object", "shape": list(array.shape), "elements_hex": [e.hex() for e in elements]}
    return {"dtype": str(array.dtype), "shape": list(array.shape), "values": [str(v) for v in array.flatten()], "hex": array.tobytes().hex()}


def raises(fn, status, *fragments):
    """fn() must raise InferenceServerException with this HTTP status and a message holding every fragment."""
    expected = {"status": str(status), "message contains": list(fragments)}
    try:
        result = fn()
    except InferenceServerException as error:
        observed = {"status": error.status(), "message": error.message()}
        ok = observed["status"] == str(status) and all(f in (error.message() or "") for f in fragments)
        return ok, observed, expected
    return False, {"returned": repr(result)}, expected


def infer_input(name, array, datatype, binary_data=True):
    tensor_input = httpclient.InferInput(name, list(array.shape), datatype)
    tensor_input.set_data_from_numpy(array, binary_data=binary_data)
    return tensor_input


client = httpclient.InferenceServerClient(url=URL)

# ---- health and metadata -------------------------------------------------------------------


@check("is_server_live")
def _():
    return same(client.is_server_live(), True)


@check("is_server_ready")
def _():
    return same(client.is_server_ready(), True)


@check("is_model_ready linear")
def _():
    return same(client.is_model_ready("linear"), True)


@check("is_model_ready linear version 1")
def _():
    return same(client.is_model_ready("linear", "1"), True)


@check("is_model_ready unknown model is false")
def _():
    return same(client.is_model_ready("no_such_model"), False)


@check("is_model_ready unknown version is false")
def _():
    return same(client.is_model_ready("linear", "9"), False)


@check("get_server_metadata")
def _():
    metadata = client.get_server_metadata()
    observed = {"name": metadata.get("name"), "version is a string": isinstance(metadata.get("version"), str), "extensions": sorted(metadata.get("extensions", []))}
    return same(observed, {"name": "switchyard", "version is a string": True, "extensions": ["binary_tensor_data", "model_repository", "statistics"]})


def linear_metadata():
    return {
        "name": "linear",
        "versions": ["1", "2"],
        "platform": "onnxruntime_onnx",
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}],
        "outputs": [{"name": "output", "datatype": "FP32", "shape": [-1, 2]}],
    }


@check("get_model_metadata linear")
def _():
    return same(client.get_model_metadata("linear"), linear_metadata())


@check("get_model_metadata linear version 1")
def _():
    return same(client.get_model_metadata("linear", "1"), linear_metadata())


@check("get_model_metadata multi_io")
def _():
    metadata = client.get_model_metadata("multi_io")
    io = lambda tensors: [(t["name"], t["datatype"], t["shape"]) for t in tensors]
    observed = {"inputs": io(metadata["inputs"]), "outputs": io(metadata["outputs"])}
    return same(
        json.loads(json.dumps(observed)),
        {
            "inputs": [["x", "FP32", [-1, 4]], ["ids", "INT64", [-1, 3]], ["mask", "BOOL", [-1, 3]], ["text", "BYTES", [-1, 2]]],
            "outputs": [["sum", "FP32", [-1, 1]], ["ids_plus_one", "INT64", [-1, 3]], ["mask_not", "BOOL", [-1, 3]], ["text_copy", "BYTES", [-1, 2]]],
        },
    )


@check("get_model_metadata identity models")
def _():
    observed = {}
    expected = {}
    for datatype, model in SPEC["identity"].items():
        metadata = client.get_model_metadata(model)
        observed[model] = [metadata["inputs"], metadata["outputs"]]
        expected[model] = [[{"name": "input", "datatype": datatype, "shape": [-1, 3]}], [{"name": "output", "datatype": datatype, "shape": [-1, 3]}]]
    return same(observed, expected)


@check("get_model_config is not served: 404 naming the endpoint")
def _():
    return raises(lambda: client.get_model_config("linear"), 404, "no endpoint GET /v2/models/linear/config")


# ---- inference: the linear model against its known weights -------------------------------

WEIGHTS = {
    version: (np.array(w["weight"], dtype=np.float32).reshape(w["inputSize"], w["outputSize"]), np.array(w["bias"], dtype=np.float32))
    for version, w in SPEC["linear"].items()
}
# Halves and small integers times quarter-step weights: every product and sum is exact in FP32,
# so numpy's answer and onnxruntime's must agree bit for bit whatever the summation order.
X = np.array([[1, 2, 3, 4], [0.5, -1, 0, 2], [-3, 0.25, 8, -0.5]], dtype=np.float32)


def linear_expected(version, x=X):
    weight, bias = WEIGHTS[version]
    return (x @ weight + bias).astype(np.float32)


@check("infer linear: no outputs requested, binary input, all outputs binary")
def _():
    result = client.infer("linear", [infer_input("input", X, "FP32")])
    output = result.get_output("output")
    observed = {"output": output, "as_numpy": tensor(result.as_numpy("output")), "model_version": result.get_response()["model_version"]}
    expected = {
        "output": {"name": "output", "datatype": "FP32", "shape": [3, 2], "parameters": {"binary_data_size": 24}},
        "as_numpy": tensor(linear_expected("2")),  # no version: the default route, else latest (2)
        "model_version": "2",
    }
    return same(observed, expected)


@check("infer linear: JSON input, InferRequestedOutput binary_data=False")
def _():
    result = client.infer("linear", [infer_input("input", X, "FP32", binary_data=False)], model_version="1", outputs=[httpclient.InferRequestedOutput("output", binary_data=False)])
    output = result.get_output("output")
    observed = {"has data": "data" in output, "parameters": output.get("parameters"), "as_numpy": tensor(result.as_numpy("output"))}
    return same(observed, {"has data": True, "parameters": None, "as_numpy": tensor(linear_expected("1"))})


@check("infer linear: InferRequestedOutput binary_data=True")
def _():
    result = client.infer("linear", [infer_input("input", X, "FP32", binary_data=False)], model_version="1", outputs=[httpclient.InferRequestedOutput("output", binary_data=True)])
    output = result.get_output("output")
    observed = {"has data": "data" in output, "parameters": output.get("parameters"), "as_numpy": tensor(result.as_numpy("output"))}
    return same(observed, {"has data": False, "parameters": {"binary_data_size": 24}, "as_numpy": tensor(linear_expected("1"))})


@check("infer linear: model_version 1 and 2 answer their own weights")
def _():
    observed = {}
    for version in ("1", "2"):
        response = client.infer("linear", [infer_input("input", X, "FP32")], model_version=version)
        observed[version] = {"model_version": response.get_response()["model_version"], "output": tensor(response.as_numpy("output"))}
    expected = {version: {"model_version": version, "output": tensor(linear_expected(version))} for version in ("1", "2")}
    return same(observed, expected)


@check("infer: request_id is echoed as id")
def _():
    response = client.infer("linear", [infer_input("input", X, "FP32")], request_id="tritonclient-42").get_response()
    return same(response.get("id"), "tritonclient-42")


@check("infer: without request_id the response has no id")
def _():
    response = client.infer("linear", [infer_input("input", X, "FP32")]).get_response()
    return same("id" in response, False)


@check("infer: timeout (microseconds) long enough is honoured")
def _():
    result = client.infer("linear", [infer_input("input", X, "FP32")], model_version="1", timeout=30_000_000)
    return same(tensor(result.as_numpy("output")), tensor(linear_expected("1")))


@check("infer: get_response lists exactly the requested outputs, in request order")
def _():
    x = np.array([[1, 2, 3, 4]], dtype=np.float32)
    ids = np.array([[1, -2, 9007199254740993]], dtype=np.int64)
    mask = np.array([[True, False, True]])
    text = np.array([["héllo".encode(), b"w"]], dtype=np.object_)
    outputs = [httpclient.InferRequestedOutput("text_copy"), httpclient.InferRequestedOutput("sum", binary_data=False), httpclient.InferRequestedOutput("ids_plus_one")]
    result = client.infer(
        "multi_io",
        [infer_input("x", x, "FP32"), infer_input("ids", ids, "INT64"), infer_input("mask", mask, "BOOL", binary_data=False), infer_input("text", text, "BYTES")],
        outputs=outputs,
    )
    observed = {
        "names": [o["name"] for o in result.get_response()["outputs"]],
        "sum": tensor(result.as_numpy("sum")),
        "ids_plus_one": tensor(result.as_numpy("ids_plus_one")),
        "text_copy": tensor(result.as_numpy("text_copy")),
        "mask_not (not requested)": tensor(result.as_numpy("mask_not")),
    }
    expected = {
        "names": ["text_copy", "sum", "ids_plus_one"],
        "sum": tensor(x.sum(axis=1, keepdims=True)),
        "ids_plus_one": tensor(ids + 1),
        "text_copy": tensor(text),
        "mask_not (not requested)": None,
    }
    return same(observed, expected)


@check("infer: request_compression_algorithm gzip and deflate, response compression asked")
def _():
    observed = {}
    for algorithm in ("gzip", "deflate"):
        result = client.infer(
            "linear", [infer_input("input", X, "FP32")], model_version="1", request_compression_algorithm=algorithm, response_compression_algorithm=algorithm
        )
        observed[algorithm] = tensor(result.as_numpy("output"))
    return same(observed, {algorithm: tensor(linear_expected("1")) for algorithm in ("gzip", "deflate")})


@check("infer: sequence_id, priority and custom parameters are accepted")
def _():
    result = client.infer("linear", [infer_input("input", X, "FP32")], model_version="1", sequence_id=7, sequence_start=True, priority=1, parameters={"note": "ignored"})
    return same(tensor(result.as_numpy("output")), tensor(linear_expected("1")))


@check("async_infer: concurrent requests over the client's connection pool")
def _():
    pooled = httpclient.InferenceServerClient(url=URL, concurrency=4)
    try:
        rows = [X * (i + 1) for i in range(8)]
        pending = [pooled.async_infer("linear", [infer_input("input", x, "FP32")], model_version="1", request_id=str(i)) for i, x in enumerate(rows)]
        results = [p.get_result(timeout=60) for p in pending]
        observed = [[r.get_response()["id"], tensor(r.as_numpy("output"))] for r in results]
        expected = [[str(i), tensor(linear_expected("1", x))] for i, x in enumerate(rows)]
        return same(observed, expected)
    finally:
        pooled.close()


# ---- every datatype through identity models, bit for bit ---------------------------------


def sample(datatype):
    """A [2,3] array of `datatype` with its extremes; values JSON can carry (no NaN or infinity)."""
    if datatype == "BOOL":
        return np.array([[True, False, True], [False, False, True]])
    if datatype == "BYTES":
        return np.array([["héllo".encode(), b"", "€ 5".encode()], [b"a b", "日本語".encode(), b"x" * 40]], dtype=np.object_)
    np_dtype = triton_to_np_dtype(datatype)
    if np.issubdtype(np_dtype, np.integer):
        info = np.iinfo(np_dtype)
        middle = 2**53 + 1 if info.bits == 64 else info.max // 3  # beyond 2^53: a double would round it
        return np.array([[info.min, info.max, 0], [1, info.max - 1, middle]], dtype=np_dtype)
    info = np.finfo(np_dtype)
    return np.array([[info.max, -info.tiny, info.smallest_subnormal], [-0.0, 0.1, -1.5]], dtype=np_dtype)


for datatype in SPEC["datatypes"]:
    for binary_in in (True, False):
        for binary_out in (True, False):
            name = "roundtrip {} in={} out={}".format(datatype, "binary" if binary_in else "json", "binary" if binary_out else "json")

            @check(name)
            def _(datatype=datatype, binary_in=binary_in, binary_out=binary_out):
                array = sample(datatype)
                result = client.infer(
                    SPEC["identity"][datatype],
                    [infer_input("input", array, datatype, binary_data=binary_in)],
                    outputs=[httpclient.InferRequestedOutput("output", binary_data=binary_out)],
                )
                output = result.get_output("output")
                observed = {"datatype": output["datatype"], "binary": "parameters" in output, "as_numpy": tensor(result.as_numpy("output"))}
                return same(observed, {"datatype": datatype, "binary": binary_out, "as_numpy": tensor(array)})


for datatype in ("FP16", "FP32", "FP64"):

    @check("roundtrip {} NaN and infinities in=binary out=binary".format(datatype))
    def _(datatype=datatype):
        array = np.array([[np.nan, np.inf, -np.inf], [-np.nan, 1, 0]], dtype=triton_to_np_dtype(datatype))
        result = client.infer(SPEC["identity"][datatype], [infer_input("input", array, datatype)])
        return same(tensor(result.as_numpy("output")), tensor(array))


# ---- error paths: InferenceServerException with the status and a message that says what ----


def linear_input(array=X, datatype="FP32", name="input"):
    return infer_input(name, array, datatype)


@check("error: unknown model")
def _():
    return raises(lambda: client.infer("no_such_model", [linear_input()]), 404, "no_such_model")


@check("error: unknown version")
def _():
    return raises(lambda: client.infer("linear", [linear_input()], model_version="9"), 404, "linear", "version 9")


@check("error: wrong shape")
def _():
    return raises(lambda: client.infer("linear", [linear_input(np.ones((1, 5), np.float32))]), 400, "input", "[1,5]", "[-1,4]")


@check("error: wrong datatype")
def _():
    return raises(lambda: client.infer("linear", [linear_input(X.astype(np.float64), "FP64")]), 400, "FP64", "FP32")


@check("error: missing input")
def _():
    x = np.array([[1, 2, 3, 4]], dtype=np.float32)
    return raises(lambda: client.infer("multi_io", [infer_input("x", x, "FP32")]), 400, "missing inputs", "ids", "mask", "text")


@check("error: unknown input name")
def _():
    return raises(lambda: client.infer("linear", [linear_input(name="inputs")]), 400, "unknown input 'inputs'", "input (FP32 [-1,4])")


@check("error: unknown requested output")
def _():
    return raises(lambda: client.infer("linear", [linear_input()], outputs=[httpclient.InferRequestedOutput("logits")]), 400, "unknown output 'logits'")


@check("error: BYTES element with a NUL byte")
def _():
    text = np.array([[b"a\x00b"]], dtype=np.object_)
    return raises(lambda: client.infer(SPEC["identity"]["BYTES"], [infer_input("input", np.repeat(text, 3, axis=1), "BYTES")]), 400, "NUL")


@check("error: negative timeout")
def _():
    return raises(lambda: client.infer("linear", [linear_input()], timeout=-1), 400, '"timeout"', "-1")


@check("error: get_model_metadata of an unknown model")
def _():
    return raises(lambda: client.get_model_metadata("no_such_model"), 404, "no_such_model")


@check("error: get_inference_statistics of an unknown model")
def _():
    return raises(lambda: client.get_inference_statistics("no_such_model"), 404, "no_such_model")


# ---- model repository extension (management: Authorization: Bearer <ADMIN_TOKEN>) ------------


@check("get_model_repository_index")
def _():
    index = client.get_model_repository_index(headers=ADMIN)
    observed = sorted([e["name"], e.get("version"), e["state"], e.get("reason")] for e in index)
    expected = sorted([name, version, "READY", ""] for name, versions in SPEC["models"].items() for version in versions)
    return same(observed, expected)


@check("error: repository index without the admin token")
def _():
    return raises(lambda: client.get_model_repository_index(), 401, "bearer token")


@check("error: repository index with a wrong admin token")
def _():
    return raises(lambda: client.get_model_repository_index(headers={"Authorization": "Bearer wrong"}), 401, "token")


SPARE = SPEC["spare"]


@check("unload_model, then the model is not ready and the index says UNLOADED")
def _():
    returned = client.unload_model(SPARE, headers=ADMIN)
    state = [e["state"] for e in client.get_model_repository_index(headers=ADMIN) if e["name"] == SPARE]
    return same({"returned": returned, "ready": client.is_model_ready(SPARE), "index": state}, {"returned": None, "ready": False, "index": ["UNLOADED"]})


@check("error: infer on an unloaded model")
def _():
    return raises(lambda: client.infer(SPARE, [linear_input()]), 503, SPARE, "not loaded")


@check("load_model, then the model is ready and serves")
def _():
    returned = client.load_model(SPARE, headers=ADMIN)
    output = client.infer(SPARE, [linear_input()]).as_numpy("output")
    state = [e["state"] for e in client.get_model_repository_index(headers=ADMIN) if e["name"] == SPARE]
    observed = {"returned": returned, "ready": client.is_model_ready(SPARE), "index": state, "output": tensor(output)}
    return same(observed, {"returned": None, "ready": True, "index": ["READY"], "output": tensor(linear_expected("1"))})


@check("error: load_model with a config override")
def _():
    return raises(lambda: client.load_model(SPARE, headers=ADMIN, config='{"backend": "onnxruntime"}'), 400, '"config"', "not supported")


@check("error: load_model of an unknown model")
def _():
    return raises(lambda: client.load_model("no_such_model", headers=ADMIN), 404, "no_such_model")


@check("error: unload_model of an unknown model")
def _():
    return raises(lambda: client.unload_model("no_such_model", headers=ADMIN), 404, "no_such_model")


# ---- statistics extension --------------------------------------------------------------------


@check("get_inference_statistics: every model and version")
def _():
    stats = client.get_inference_statistics()["model_stats"]
    expected = sorted([name, version] for name, versions in SPEC["models"].items() for version in versions)
    return same(sorted([s["name"], s["version"]] for s in stats), expected)


@check("get_inference_statistics linear: one entry per version")
def _():
    stats = client.get_inference_statistics("linear")["model_stats"]
    return same(sorted([s["name"], s["version"]] for s in stats), [["linear", "1"], ["linear", "2"]])


@check("get_inference_statistics linear version 1 counts the requests it served")
def _():
    def counters():
        (entry,) = client.get_inference_statistics("linear", "1")["model_stats"]
        stats = entry["inference_stats"]
        return entry["inference_count"], entry["execution_count"], stats["success"]["count"], stats["compute_infer"]["count"]

    before = counters()
    for _ in range(3):  # one after the other: each is its own batch of 3 rows
        client.infer("linear", [linear_input()], model_version="1")
    after = counters()
    delta = [b - a for a, b in zip(before, after)]
    keys = ["inference_count", "execution_count", "success.count", "compute_infer.count"]
    return same(dict(zip(keys, delta)), dict(zip(keys, [9, 3, 3, 3])))


client.close()
print(json.dumps({"client": {"tritonclient": packages.version("tritonclient"), "numpy": np.__version__}, "checks": CHECKS}, allow_nan=False))
