"""The playground: the session logic (plain pytest), the WebSocket and HTTP protocol
(Starlette's TestClient), and the package data in a built wheel."""
import json
import re
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import presets
from scratchnet.playground import data as D
from scratchnet.playground.session import DEFAULTS, NEURON_SIZE, OUTPUT_SIZE, Session

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"n": 400, "batch_size": 20}  # fast sessions for most tests


def parse_frame(frame: bytes):
    """(header, {name: array}) of a binary frame."""
    n = struct.unpack("<I", frame[:4])[0]
    header = json.loads(frame[4:4 + n])
    body = frame[4 + n:]
    arrays = {name: np.frombuffer(body, dtype=dtype, count=length, offset=offset)
              for name, (offset, length, dtype) in header["sections"].items()}
    return header, arrays


# -- session: data --------------------------------------------------------------------
def test_default_session_is_the_tutorials_data_and_defaults(moons):
    s = Session()
    X_train, X_test, y_train, y_test = moons
    np.testing.assert_array_equal(s.X_train, X_train)
    np.testing.assert_array_equal(s.y_test, y_test)
    assert len(s.X_train) == 3750 and len(s.X_test) == 1250
    assert [type(lay).__name__ for lay in s.model.layers] == ["FeatureMap", "Dense", "ReLU", "Dense"]
    assert s.model.params.size == 2 * 64 + 64 + 64 * 2 + 2


@pytest.mark.parametrize("name, classes", [("moons", 2), ("circles", 2), ("xor", 2), ("blobs", 4),
                                           ("spirals", 3), ("regression", None)])
def test_every_dataset_trains_and_draws(name, classes):
    s = Session({"dataset": name, "n": 300, "classes": classes or 2, "batch_size": 30})
    assert s.train(2)
    header, arrays = parse_frame(s.frame())
    channels = 1 if classes is None else classes
    assert arrays["output"].size == OUTPUT_SIZE ** 2 * channels == header["output_channels"] * OUTPUT_SIZE ** 2
    assert arrays["neurons"].size == (2 + 64) * NEURON_SIZE ** 2
    assert arrays["features"].size == 7 * NEURON_SIZE ** 2  # every feature's thumbnail
    assert header["epoch"] == 2
    if classes is None:
        assert s.settings["loss"] == "mse" and header["train_accuracy"] is None
    else:
        assert np.array(header["confusion"]).sum() == len(s.X_test)


def test_training_changes_losses_heatmaps_and_history():
    s = Session(SMALL)
    before, b_arrays = parse_frame(s.frame())
    s.train(3)
    after, a_arrays = parse_frame(s.frame())
    assert after["epoch"] == 3 and after["train_loss"] < before["train_loss"]
    assert not np.array_equal(a_arrays["output"], b_arrays["output"])
    assert after["history"]["epoch"] == [3]
    assert parse_frame(s.frame(history_from=1))[0]["history"]["epoch"] == []


def test_feature_heatmaps_are_the_features():
    s = Session({**SMALL, "features": ["x1", "x1*x2"]})
    _, arrays = parse_frame(s.frame())
    x1 = arrays["neurons"][:NEURON_SIZE ** 2].reshape(NEURON_SIZE, NEURON_SIZE)
    assert (np.diff(x1.astype(int), axis=1) >= 0).all()  # x1 grows to the right
    assert x1[:, 0].max() < 128 < x1[:, -1].min() or x1.min() < x1.max()


# -- session: settings --------------------------------------------------------------------
@pytest.mark.parametrize("changes, message", [
    ({"lr": -1}, "learning rate must be between"), ({"lr": float("nan")}, "learning rate"),
    ({"lr": "fast"}, "learning rate must be a number"), ({"batch_size": 0}, "batch size"),
    ({"hidden": [65]}, "units per layer"), ({"hidden": [4] * 7}, "0 to 6"),
    ({"activation": ["swish"]}, "activation must be one of"), ({"dataset": "mnist"}, "dataset"),
    ({"n": 10**9}, "number of points"), ({"features": []}, "features"), ({"colour": 1}, "unknown setting"),
    ({"dropout": 0.95}, "dropout"), ({"batchnorm": "yes"}, "batchnorm"), ({"dataset": "upload"}, "upload a CSV"),
])
def test_out_of_range_settings_are_refused_by_name(changes, message):
    s = Session(SMALL)
    with pytest.raises(ValueError, match=message):
        s.update(changes)
    assert s.settings["lr"] == DEFAULTS["lr"]


def test_learning_rate_weight_decay_and_optimizer_change_without_reset():
    s = Session(SMALL)
    s.train(2)
    params = s.model.params.copy()
    assert s.update({"lr": 0.05}) == "optimizer"
    assert s.epoch == 2 and s.model.optimizer.lr == 0.05
    np.testing.assert_array_equal(s.model.params, params)
    assert s.update({"weight_decay": 0.01, "l1": 0.001}) == "optimizer"
    assert s.update({"optimizer": "adam"}) == "optimizer"
    s.train(1)
    assert s.epoch == 3 and type(s.model.optimizer).__name__ == "Adam"
    assert s.model.optimizer.weight_decay == 0.01 and s.model.optimizer.l1 == 0.001
    assert s.update({"hidden": [8, 8]}) == "network"
    assert s.epoch == 0 and s.model.params.size == 2 * 8 + 8 + 8 * 8 + 8 + 8 * 2 + 2


def test_presets_are_the_librarys():
    s = Session(SMALL)
    s.apply_preset("tutorial")
    seed = presets.get("seed")
    assert s.settings["lr"] == seed["lr"] and s.settings["init"] == "normal"
    assert s.model.loss.reduction == "sum" and s.settings["batch_size"] == seed["batch_size"]
    s.apply_preset("defaults")
    assert s.settings["lr"] == presets.get("default")["lr"] and s.model.loss.reduction == "mean"
    with pytest.raises(ValueError, match="unknown preset"):
        s.apply_preset("best")


def test_every_layer_option_builds_and_trains():
    s = Session({**SMALL, "hidden": [6, 5, 4], "activation": ["leaky_relu", "gelu", "identity"],
                 "dropout": 0.2, "batchnorm": True, "init": "glorot",
                 "features": list(DEFAULTS["features"]) + ["sin x1", "x2^2"]})
    assert s.train(2)
    names = [type(lay).__name__ for lay in s.model.layers]
    assert names.count("BatchNorm1d") == 3 and names.count("Dropout") == 3
    _, arrays = parse_frame(s.frame())
    assert arrays["neurons"].size == (4 + 6 + 5 + 4) * NEURON_SIZE ** 2
    s.update({"hidden": [], "activation": []})  # logistic regression on the features
    assert s.train(1) and len(s.model.layers) == 2


def test_binary_cross_entropy_has_one_output():
    s = Session({**SMALL, "loss": "binary_cross_entropy"})
    assert s.model.n_outputs_ == 1 and s.train(1)
    assert parse_frame(s.frame())[0]["output_channels"] == 2


# -- session: points, uploads, divergence -----------------------------------------------------
def test_clicked_points_join_the_training_data():
    s = Session(SMALL)
    n = len(s.X_train)
    s.add_point(0.5, -0.25, 1)
    s.add_point(0.0, 0.0, 0, test=True)
    assert len(s.X_train) == n + 1 and s.y_train[-1] == 1 and s.X_test[-1].tolist() == [0, 0]
    assert s.train(1)
    for bad, message in [((float("nan"), 0, 0), "coordinate"), ((0, 0, 5), "point class"),
                         (("a", 0, 0), "coordinate")]:
        with pytest.raises(ValueError, match=message):
            s.add_point(*bad)


def csv_text(n=60, seed=0, label=lambda X: (X[:, 0] > 0).astype(int)):
    X = np.random.default_rng(seed).normal(size=(n, 2)) * 100 + 500  # raw units: scaled in the model
    y = label(X - 500)
    return "a,b,kind\n" + "".join(f"{p},{q},{c}\n" for (p, q), c in zip(X.tolist(), y.tolist())), X, y


def test_uploaded_csv_trains_scaled_and_chooses_the_task():
    s = Session(SMALL)
    text, X, y = csv_text()
    info = s.load_csv(text.replace("kind\n", "kind\n", 1), filename="mine.csv")
    assert info == {"header": ["a", "b", "kind"], "rows": 60, "task": "classification"}
    assert s.settings["dataset"] == "upload" and s.model.scaler is not None
    assert s.train(5) and s.metrics["train_accuracy"] > 0.7
    reg_text, _, _ = csv_text(label=lambda X: X[:, 0] * 0.01 + 0.001 * np.arange(len(X)))
    assert s.load_csv(reg_text)["task"] == "regression" and s.settings["loss"] == "mse"
    # other columns by name
    info = s.load_csv("p,label,q\n1,a,2\n2,b,3\n3,a,1\n4,b,0\n5,a,5\n", x1="p", x2="q", label="label")
    assert s.classes.tolist() == ["a", "b"]


@pytest.mark.parametrize("text, message", [
    ("\x00\x01binary", "not a CSV"), ("only,two\n1,2\n", "at least 3 columns"),
    ("a,b,c\n1,2,0\n1,x,1\n2,2,0\n3,3,1\n", "non-numeric"), ("a,b,c\n1,nan,0\n2,2,1\n3,3,0\n4,4,1\n", "not finite"),
    ("a,b,c\n1,2,0\n", "at least 4"), ("a,b,c\n" + "".join(f"{i},{i},s{i}\n" for i in range(30)), "at most 10 classes"),
    ("a,b,c\n1,2,0\n3,4\n", "fields"),
])
def test_bad_uploads_are_refused_clearly(text, message):
    s = Session(SMALL)
    with pytest.raises(ValueError, match=message):
        s.load_csv(text, filename="bad.csv")
    assert s.settings["dataset"] == "moons"  # the session is as it was


def test_upload_limits(monkeypatch):
    s = Session(SMALL)
    monkeypatch.setattr(D, "MAX_UPLOAD_BYTES", 1000)
    with pytest.raises(ValueError, match="larger than the upload limit"):
        s.load_csv("a,b,c\n" + "1,2,0\n" * 400)
    monkeypatch.setattr(D, "MAX_UPLOAD_BYTES", 10**7)
    monkeypatch.setattr(D, "MAX_POINTS", 50)
    with pytest.raises(ValueError, match="more than 50 rows"):
        s.load_csv("a,b,c\n" + "1,2,0\n2,1,1\n" * 40)


def test_divergence_is_reported_with_finite_weights_and_reset_recovers():
    s = Session({**SMALL, "dataset": "regression", "lr": 10.0, "reduction": "sum", "batch_size": 100})
    going = True
    for _ in range(20):
        going = s.train(1)
        if not going:
            break
    assert not going and "diverged" in s.diverged
    assert np.isfinite(s.model.params).all()
    header, arrays = parse_frame(s.frame())  # frames never carry NaN
    assert header["diverged"] and arrays["output"].dtype == np.uint8
    s.update({"lr": 0.01})
    s.reset()
    assert s.diverged is None and s.train(1)


# -- explain step -------------------------------------------------------------------------------
@pytest.mark.parametrize("settings", [
    {}, {"optimizer": "adam", "lr": 0.01}, {"optimizer": "momentum", "weight_decay": 0.01, "l1": 0.001},
    {"hidden": [5, 4], "activation": ["tanh", "sigmoid"], "batchnorm": True, "dropout": 0.3},
    {"reduction": "sum", "init": "normal", "lr": 1e-4}, {"loss": "binary_cross_entropy"},
    {"dataset": "regression"},
])
def test_explain_equals_the_next_real_step(settings):
    s = Session({**SMALL, **settings})
    s.train(1)
    last = len(s.dense_index) - 1
    for layer, unit, inp in [(0, 1, 0), (0, 2, None), (last, 0, 1)]:
        before = s.model.params.copy()
        e = s.explain(layer, unit, inp)
        np.testing.assert_array_equal(s.model.params, before)  # explaining changes nothing
        assert e["before"] != e["after"] or e["gradient"] == 0
        steps = {st["title"].split(" (")[0]: st for st in e["steps"]}
        assert "Gradient at the logits" in steps and all(st["doc"].startswith("eq-") for st in e["steps"])
    e = s.explain(0, 1, 0)
    s.step_batch()
    dense = s.model.layers[s.dense_index[0]]
    assert dense.params["W"][0, 1] == e["after"]  # bit for bit
    e = s.explain(last, 0, None)
    s.step_batch()
    assert s.model.layers[s.dense_index[last]].params["b"][0] == e["after"]


def test_explain_shows_the_reduction_actually_used():
    s = Session({**SMALL, "reduction": "sum"})
    grad = next(st for st in s.explain()["steps"] if st["title"] == "Gradient at the logits")
    assert "(Z_out − Y)" in grad["equation"] and "/ B" not in grad["equation"]
    s.update({"reduction": "mean"})
    grad = next(st for st in s.explain()["steps"] if st["title"] == "Gradient at the logits")
    assert "/ B" in grad["equation"]
    with pytest.raises(ValueError, match="unit"):
        s.explain(0, 64, 0)


# -- take it with you ---------------------------------------------------------------------------
def test_downloaded_model_loads_and_predicts_from_two_columns(tmp_path, capsys):
    from scratchnet.cli import main

    s = Session({**SMALL, "features": ["x1", "x2", "x1*x2", "sin x2"]})
    s.train(2)
    path = tmp_path / "model.npz"
    path.write_bytes(s.model_bytes())
    model = sn.load(path)
    np.testing.assert_array_equal(model.params, s.model.params)
    np.testing.assert_array_equal(model.predict(s.X_test), s.model.predict(s.X_test))
    csv = tmp_path / "new.csv"
    csv.write_text("x1,x2\n" + "".join(f"{a!r},{b!r}\n" for a, b in s.X_test[:10].tolist()))
    assert main(["predict", "--model", str(path), "--data", str(csv), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["predictions"] == s.model.predict(s.X_test[:10]).tolist()
    data = s.data_csv().splitlines()
    assert data[0] == "x1,x2,label,split" and len(data) == 1 + len(s.X_train) + len(s.X_test)


@pytest.mark.parametrize("upload", [False, True])
def test_replay_script_gives_bit_identical_weights(tmp_path, upload):
    s = Session({**SMALL, "n": 200})
    if upload:
        s.load_csv(csv_text(40)[0], filename="mine.csv")
    s.train(2)
    s.update({"lr": 0.05})
    s.train(1)
    s.step_batch()
    s.set_weight(0, 1, 3, 0.5)
    s.set_weight(1, None, 0, -0.25, name="b")
    s.add_point(0.1, 0.2, 1)
    s.train(1)
    s.update({"optimizer": "adam", "l1": 1e-3})
    s.train(2)
    s.update({"lr": 0.002, "weight_decay": 0.01})
    s.train(1)
    script = tmp_path / "replay.py"
    script.write_text(s.script())
    subprocess.run([sys.executable, str(script)], cwd=tmp_path, check=True, capture_output=True,
                   timeout=120)
    replayed = sn.load(tmp_path / "replayed.npz")
    np.testing.assert_array_equal(replayed.params, s.model.params)


# -- the WebSocket protocol ------------------------------------------------------------------------
from conftest import require  # noqa: E402


@pytest.fixture
def client():
    require("starlette")
    from starlette.testclient import TestClient

    from scratchnet.playground.server import create_app

    with TestClient(create_app()) as c:
        yield c


class Tab:
    """A test's browser tab: sends messages, collects replies and frames."""

    def __init__(self, ws):
        self.ws, self.next_id, self.frames = ws, 1, []

    def send(self, **msg):
        msg["id"] = self.next_id
        self.next_id += 1
        self.ws.send_text(json.dumps(msg))
        return msg["id"]

    def reply(self, msg_id, ack=True):
        """Read until the answer to ``msg_id`` (frames on the way are kept, and acked)."""
        while True:
            m = self.ws.receive()
            if m.get("bytes") is not None:
                self.frames.append(parse_frame(m["bytes"]))
                if ack:
                    self.ws.send_text('{"type": "ack"}')
                continue
            obj = json.loads(m["text"])
            if obj.get("id") == msg_id:
                return obj

    def frame(self):
        while True:
            m = self.ws.receive()
            if m.get("bytes") is not None:
                self.frames.append(parse_frame(m["bytes"]))
                self.ws.send_text('{"type": "ack"}')
                return self.frames[-1]


def hello(ws, **settings):
    tab = Tab(ws)
    state = tab.reply(tab.send(type="hello", settings={**SMALL, **settings}))
    tab.frame()
    return tab, state


def test_websocket_state_frames_and_steps(client):
    with client.websocket_connect("/ws") as ws:
        tab, state = hello(ws)
        assert state["type"] == "state" and state["widths"] == [2, 64, 2] and state["epoch"] == 0
        assert state["limits"]["message_bytes"] == 2**20
        assert tab.reply(tab.send(type="step"))["epoch"] == 1
        header, _ = tab.frame()
        assert header["epoch"] == 1
        st = tab.reply(tab.send(type="settings", changes={"lr": 0.01}))
        assert st["what"] == "optimizer" and st["epoch"] == 1
        explain = tab.reply(tab.send(type="explain", layer=0, unit=3, input=1))
        assert explain["type"] == "explain" and explain["parameter"] == "W1[1, 3]"
        tab.reply(tab.send(type="step_batch"))
        tab.reply(tab.send(type="set_weight", layer=0, i=0, j=0, value=0.75))
        header, arrays = tab.frame()
        assert arrays["W0"][0] == np.float32(0.75)


def test_junk_and_oversized_messages_get_errors_and_the_tab_keeps_working(client):
    with client.websocket_connect("/ws") as ws:
        tab, _ = hello(ws)
        for junk in ["not json", "[1, 2]", '{"type": 5}', json.dumps({"type": "fly", "id": 99}),
                     "x" * (2**20 + 10)]:
            ws.send_text(junk)
            m = json.loads(ws.receive_text())
            assert m["type"] == "error" and m["message"]
        ws.send_bytes(b"\x00\x01")
        assert "JSON text" in json.loads(ws.receive_text())["message"]
        err = tab.reply(tab.send(type="settings", changes={"lr": 1e9}))
        assert err["type"] == "error" and "learning rate" in err["message"]
        err = tab.reply(tab.send(type="settings", changes="fast"))
        assert err["type"] == "error"
        assert tab.reply(tab.send(type="step"))["epoch"] == 1


def test_frames_are_dropped_not_queued_and_pause_answers_at_once(client):
    with client.websocket_connect("/ws") as ws:
        tab, _ = hello(ws)
        tab.reply(tab.send(type="play"))
        first = None
        while first is None:  # the first frame while playing; not acknowledged
            m = ws.receive()
            if m.get("bytes") is not None:
                first = parse_frame(m["bytes"])[0]
        time.sleep(0.6)  # training goes on; the page "draws" slowly
        sent = time.perf_counter()
        pause = tab.send(type="pause")
        frames_between = 0
        while True:
            m = ws.receive()
            if m.get("bytes") is not None:
                frames_between += 1
                continue
            obj = json.loads(m["text"])
            if obj.get("id") == pause:
                break
        latency = time.perf_counter() - sent
        assert frames_between == 0  # no frame sent without an ack
        assert obj["playing"] is False and obj["epoch"] > first["epoch"]  # trained meanwhile
        assert latency < 1.0  # the benchmark measures it properly; this box is shared


def test_tabs_are_independent_and_a_closed_tab_stops(client):
    app_sessions = client.app.state.sessions
    with client.websocket_connect("/ws") as ws1, client.websocket_connect("/ws") as ws2:
        tab1, s1 = hello(ws1)
        tab2, s2 = hello(ws2)
        assert s1["token"] != s2["token"] and len(app_sessions) == 2
        tab1.reply(tab1.send(type="step"))
        assert tab2.reply(tab2.send(type="hello"))["epoch"] == 0
        session = app_sessions[s1["token"]].session
        tab1.reply(tab1.send(type="play"))
    # both closed: no session left, and the played one stops training
    deadline = time.time() + 5
    while app_sessions and time.time() < deadline:
        time.sleep(0.05)
    assert not app_sessions
    epoch = session.epoch
    time.sleep(0.5)
    assert session.epoch == epoch


def test_upload_and_downloads_over_http(client, tmp_path):
    with client.websocket_connect("/ws") as ws:
        tab, state = hello(ws)
        token = state["token"]
        text, _, _ = csv_text()
        r = client.post(f"/upload/{token}?filename=mine.csv&x1=a&x2=b&label=kind", content=text)
        assert r.status_code == 200 and r.json()["task"] == "classification"
        r = client.post(f"/upload/{token}?filename=bad.csv", content=b"\xff\xfe\x00junk")
        assert r.status_code == 400 and "not a CSV" in r.json()["error"]
        r = client.post(f"/upload/{token}?filename=big.csv", content=b"a" * (D.MAX_UPLOAD_BYTES + 1))
        assert r.status_code == 413 and "10 MB" in r.json()["error"]
        tab.reply(tab.send(type="step"))
        r = client.get(f"/download/{token}/model.npz")
        assert r.status_code == 200
        (tmp_path / "m.npz").write_bytes(r.content)
        assert sn.load(tmp_path / "m.npz").params.size > 0
        assert client.get(f"/download/{token}/data.csv").text.startswith("x1,x2,label,split")
        assert "make_dataset" in client.get(f"/download/{token}/replay.py").text or \
            "uploaded" in client.get(f"/download/{token}/replay.py").text
        assert client.get("/download/nope/model.npz").status_code == 404
        assert client.post("/upload/nope", content=b"a,b,c").status_code == 404


STABLE_IDS = ["play", "pause", "step", "step-batch", "reset", "epoch", "train-loss", "test-loss",
              "train-accuracy", "test-accuracy", "output", "learning-rate", "optimizer", "loss",
              "batch-size", "weight-decay", "dataset", "upload", "point-class", "add-layer",
              "remove-layer", "preset-tutorial", "preset-defaults", "show-test", "discretize",
              "hide-controls", "explain", "explain-output", "download-model", "download-data",
              "download-script", "error"]


def test_page_has_the_stable_ids_and_loads_nothing_from_outside(client):
    page = client.get("/").text
    for element_id in STABLE_IDS:
        assert f'id="{element_id}"' in page, element_id
    assert '<input id="learning-rate" type="number"' in page and '<input id="upload" type="file"' in page
    assert re.findall(r'<option value="(\w+)"', page.split('id="dataset"')[1].split("</select>")[0]) == \
        ["moons", "circles", "xor", "blobs", "spirals", "regression", "upload"]
    for asset in ("/static/app.js", "/static/style.css"):
        text = client.get(asset).text
        assert client.get(asset).status_code == 200
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), asset
    assert not re.search(r'(src|href)="(https?:)?//', page)
    math = client.get("/math").text
    assert 'id="eq-13"' in math and 'id="eq-5"' in math and "Cross-entropy" in math


def test_the_command_line():
    from scratchnet.cli import build_parser

    args = build_parser().parse_args(["playground", "--no-browser", "--port", "0"])
    assert args.no_browser and args.port == 0 and args.host is None


def test_a_built_wheel_holds_the_page_and_the_math(tmp_path):
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                          "-q", "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    wheel, = tmp_path.glob("scratchnet-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        for f in ("index.html", "app.js", "style.css", "math.md"):
            assert f"scratchnet/playground/static/{f}" in names, f
        math = z.read("scratchnet/playground/static/math.md").decode()
    assert math == (ROOT / "docs" / "math.md").read_text()


def test_early_stopping_pauses_when_the_test_loss_stops_improving(monkeypatch):
    s = Session({**SMALL, "early_stopping": 2})
    losses = iter([0.5, 0.4, 0.45, 0.46, 0.47])
    real = s.evaluate
    monkeypatch.setattr(s, "evaluate", lambda: {**real(), "test_loss": next(losses)})
    assert s.train(1) and s.train(1) and s.train(1)
    assert not s.train(1)  # two epochs without beating 0.4
    assert "Early stopping" in s.stopped_early and "epoch 2" in s.stopped_early


def test_cli_without_the_extra_names_the_pip_command(monkeypatch, capsys):
    from scratchnet.cli import main

    monkeypatch.setitem(sys.modules, "starlette", None)  # as if not installed
    assert main(["playground", "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'scratchnet[playground]'" in err and len(err.strip().splitlines()) == 1


def test_cli_warns_before_listening_beyond_this_machine(monkeypatch, capsys):
    require("starlette")
    from scratchnet.cli import main
    from scratchnet.playground import server

    calls = []
    monkeypatch.setattr(server, "serve", lambda host, port, open_browser, on_url: calls.append(
        (host, port, open_browser)) or "http://x/")
    assert main(["playground", "--host", "0.0.0.0", "--port", "8765", "--no-browser"]) == 0
    assert calls == [("0.0.0.0", 8765, False)] and "warning" in capsys.readouterr().err
    assert main(["playground", "--no-browser"]) == 0
    assert calls[-1] == ("127.0.0.1", 0, False) and "warning" not in capsys.readouterr().err
    assert main(["playground", "--port", "70000"]) == 2


def test_launch_serves_in_the_background():
    require("starlette")
    import urllib.request

    from scratchnet.playground import launch

    url = launch(inline=False)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url)
    with urllib.request.urlopen(url, timeout=10) as r:
        assert 'id="output"' in r.read().decode()


@pytest.mark.parametrize("name", ["moons", "circles", "blobs"])
def test_playground_data_is_scikit_learns_for_the_seed(name):
    """The playground's sets come from scratchnet.datasets, with scikit-learn's own seed:
    the same rows as before they moved there (replay scripts depend on it)."""
    from sklearn.datasets import make_blobs, make_circles, make_moons
    from sklearn.model_selection import train_test_split

    X, y = {"moons": lambda: make_moons(300, noise=0.2, random_state=7),
            "circles": lambda: make_circles(300, noise=0.2, factor=0.5, random_state=7),
            "blobs": lambda: make_blobs(300, centers=3, cluster_std=0.3 + 3 * 0.2, center_box=(-4, 4),
                                        random_state=7)}[name]()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=1 - 0.6, random_state=7)
    got = D.make_dataset(name, n=300, noise=0.2, seed=7, train_fraction=0.6, classes=3)
    for a, b in zip(got, (X_train, y_train, X_test, y_test)):
        np.testing.assert_array_equal(a, b)
