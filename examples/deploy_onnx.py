"""Export a scratchnet model to ONNX and serve its predictions with onnxruntime alone.

    .venv/bin/python examples/deploy_onnx.py                  # train on moons, export, serve on :8000
    .venv/bin/python examples/deploy_onnx.py --model runs/mine/model.npz --port 8080
    curl -s localhost:8000/predict -d '{"rows": [[0.5, 0.2], [-1.0, 1.0]]}'
    # {"probabilities": [[p0, p1], [p0, p1]], "label": [0, 0]}   (a regressor: "predictions")
    .venv/bin/python examples/deploy_onnx.py --check          # serve, ask once, compare, stop

Step 1 (``export_model``) uses scratchnet. Step 2 (``Predictor`` and ``serve``) imports
only onnxruntime, NumPy and the standard library: copy it with model.onnx to a machine
that has no scratchnet.
"""
import argparse
import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np


# -- step 1: scratchnet -> model.onnx ----------------------------------------------------
def export_model(model_path, onnx_path):
    """Load ``model_path`` (or train a small moons classifier) and write ``onnx_path``."""
    import scratchnet as sn
    from scratchnet.data import tutorial_moons
    from scratchnet.export import to_onnx

    if model_path:
        model = sn.load(model_path)
    else:
        X_train, _, y_train, _ = tutorial_moons()
        model = sn.MLP(hidden=(64,), lr=0.2, seed=0).fit(X_train, y_train, epochs=10, batch_size=10)
    to_onnx(model, onnx_path)
    return model


# -- step 2: model.onnx -> predictions, without scratchnet -----------------------------------
class Predictor:
    """An ONNX model exported by scratchnet: rows (N, F) -> its outputs, as lists."""

    def __init__(self, path):
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        self.classes = json.loads(meta["classes"]) if "classes" in meta else None  # None: a regressor
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.n_features = self.session.get_inputs()[0].shape[1]

    def __call__(self, rows) -> dict:
        X = np.asarray(rows, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"rows must be a list of rows of {self.n_features} numbers")
        return {name: value.tolist()
                for name, value in zip(self.outputs, self.session.run(None, {"X": X}))}


def serve(predictor, port=8000, host="127.0.0.1") -> ThreadingHTTPServer:
    """An HTTP server answering POST /predict {"rows": [[...], ...]} with the model's outputs."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            try:
                if self.path != "/predict":
                    raise LookupError(f"no such endpoint {self.path}: POST /predict")
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                reply, status = predictor(json.loads(body)["rows"]), 200
            except LookupError as e:
                reply, status = {"error": str(e)}, 404
            except (ValueError, KeyError, TypeError) as e:
                reply, status = {"error": f"bad request: {e}"}, 400
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):  # quiet
            pass

    return ThreadingHTTPServer((host, port), Handler)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a scratchnet model file (default: train one on moons)")
    parser.add_argument("--onnx", default="model.onnx", help="where to write the ONNX model")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--check", action="store_true",
                        help="serve on a free port, ask once, compare with scratchnet, stop")
    args = parser.parse_args(argv)

    model = export_model(args.model, args.onnx)
    predictor = Predictor(args.onnx)
    server = serve(predictor, 0 if args.check else args.port)
    port = server.server_address[1]
    if not args.check:
        print(f"serving {args.onnx} on http://127.0.0.1:{port}/predict (Ctrl-C stops)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        return None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rows = np.random.default_rng(0).uniform(-1.5, 2.5, size=(20, predictor.n_features))
    request = urllib.request.Request(f"http://127.0.0.1:{port}/predict",
                                     data=json.dumps({"rows": rows.tolist()}).encode())
    with urllib.request.urlopen(request) as response:
        reply = json.loads(response.read())
    server.shutdown()
    server.server_close()
    key = "label" if "label" in reply else "predictions"
    expected = model.predict(rows).tolist()
    same = reply[key] == expected if key == "label" else np.allclose(reply[key], expected, rtol=1e-5)
    print(f"served {len(rows)} predictions over HTTP; equal to scratchnet's predict: {same}")
    return reply, same


if __name__ == "__main__":
    main()
