"""The playground's web server: a Starlette app, one WebSocket and one ``Session``
per browser tab, and the static page.

Protocol (JSON text messages, except frames):
  page -> server  {"type": T, "id": n, ...} with T one of hello, settings, play, pause,
                  step, step_batch, reset, regenerate, preset, add_point, set_weight,
                  explain, ack. Every message but ack is answered with its "id".
  server -> page  {"type": "state" | "status" | "explain" | "error", "id": n, ...} and
                  binary frames (``Session.frame``). A frame is sent only once the page
                  has acknowledged ("ack") the one before: when the browser is slower
                  than training, frames are dropped, never queued.
Uploads and downloads go over plain HTTP under the session's secret token.
Limits: 1 MB per WebSocket message, 10 MB / 100,000 rows per upload.
"""
from __future__ import annotations

import asyncio
import html
import json
import logging
import re
import secrets
import socket
import sys
import threading
import time
import webbrowser
from importlib import resources

from ..extras import need
from . import data as D
from .session import Session

need("starlette", "playground")
need("uvicorn", "playground")

import anyio  # noqa: E402 (Starlette's own dependency)
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response  # noqa: E402
from starlette.routing import Mount, Route, WebSocketRoute  # noqa: E402
from starlette.staticfiles import StaticFiles  # noqa: E402
from starlette.websockets import WebSocket, WebSocketDisconnect  # noqa: E402

MAX_MESSAGE = 1024 * 1024  # bytes in one WebSocket message from the page
MAX_RATE = 60  # training iterations per second at most (each is epochs-per-frame epochs)
log = logging.getLogger("scratchnet.playground")
STATIC = resources.files("scratchnet.playground") / "static"


class Connection:
    """One tab: its session, whether it plays, and the frame flow control."""

    def __init__(self, websocket: WebSocket, sessions: dict):
        self.ws = websocket
        self.sessions = sessions
        self.token = secrets.token_urlsafe(16)
        self.session: Session | None = None
        self.lock = asyncio.Lock()  # one session operation at a time
        self.playing = False
        self.wake = asyncio.Event()
        self.training = None  # the epoch in flight (a thread's), if any
        self.ready = True  # the page has drawn the last frame
        self.sent_version = None
        self.sent_history = 0
        self.send_lock = asyncio.Lock()
        self.closed = False

    async def run(self):
        await self.ws.accept()
        self.session = await asyncio.to_thread(Session)
        self.sessions[self.token] = self
        player = asyncio.create_task(self.player())
        try:
            while not self.closed:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                await self.handle(message.get("text"), message.get("bytes"))
        except Exception as e:
            if not self.gone(e):
                raise
        finally:
            self.closed = True
            self.playing = False
            player.cancel()
            try:
                if self.training is not None:  # a thread can't be cancelled: its epoch ends
                    # first, even where the server cancels this task (anyio cancels every
                    # await of a cancelled scope: shielded, with a bound)
                    with anyio.move_on_after(30, shield=True):
                        await asyncio.wait([self.training])
            finally:
                self.sessions.pop(self.token, None)

    # -- messages ------------------------------------------------------------------
    async def handle(self, text, raw):
        msg_id = None
        try:
            if raw is not None or text is None:
                raise ValueError("messages must be JSON text")
            if len(text) > MAX_MESSAGE:
                raise ValueError(f"message of {len(text):,} bytes refused: the limit is 1 MB "
                                 f"(upload files with the upload button)")
            try:
                msg = json.loads(text)
            except json.JSONDecodeError:
                raise ValueError("message is not valid JSON") from None
            if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
                raise ValueError('a message must be an object with a "type"')
            msg_id = msg.get("id")
            await self.dispatch(msg, msg_id)
        except ValueError as e:
            await self.send_json({"type": "error", "id": msg_id, "message": str(e)})
        except Exception as e:  # never let one bad message end the tab's session
            if self.gone(e):  # the tab closed while its answer was on the way
                self.closed = True
                return
            log.exception("playground message failed")
            await self.send_json({"type": "error", "id": msg_id,
                                  "message": f"internal error: {type(e).__name__}: {e}"})

    async def dispatch(self, msg, msg_id):
        kind = msg["type"]
        s = self.session
        if kind == "ack":
            self.ready = True
            return
        if kind == "pause":  # answered at once, without waiting for the training step
            self.playing = False
            self.wake.clear()
            await self.send_status(msg_id)
            return
        if kind == "play":
            if s.diverged:
                raise ValueError("training diverged: press reset first")
            self.playing = True
            s.stopped_early = None
            self.wake.set()
            await self.send_status(msg_id)
            return
        simple = {"step": lambda: s.train(1), "step_batch": s.step_batch,
                  "reset": s.reset, "regenerate": s.regenerate}
        if kind == "hello":  # settings from the URL: a bad one is reported, the page still loads
            try:
                if msg.get("settings"):
                    await self.locked(s.update, _dict(msg, "settings"))
            finally:
                await self.send_state(msg_id)
        elif kind == "settings":
            what = await self.locked(s.update, _dict(msg, "changes"))
            await self.send_state(msg_id, what)
        elif kind in simple:
            if kind == "step" and s.diverged:
                raise ValueError("training diverged: press reset first")
            if kind in ("reset", "regenerate"):
                self.playing = False
            await self.locked(simple[kind])
            await self.send_state(msg_id, kind)
        elif kind == "preset":
            self.playing = False
            await self.locked(s.apply_preset, msg.get("name"))
            await self.send_state(msg_id, "network")
        elif kind == "add_point":
            await self.locked(s.add_point, msg.get("x1"), msg.get("x2"), msg.get("label"),
                              bool(msg.get("test", False)))
            await self.send_state(msg_id, "points")
        elif kind == "set_weight":
            await self.locked(s.set_weight, msg.get("layer"), msg.get("i", 0), msg.get("j"),
                              msg.get("value"), msg.get("name", "W"))
            await self.send_status(msg_id, "weight set")
            await self.send_frame(force=True)
        elif kind == "explain":
            result = await self.locked(s.explain, msg.get("layer", 0), msg.get("unit", 0),
                                       msg.get("input", 0))
            await self.send_json({"type": "explain", "id": msg_id, **result})
        else:
            raise ValueError(f"unknown message type {kind!r}")

    async def locked(self, fn, *args):
        async with self.lock:
            return await asyncio.to_thread(fn, *args)

    # -- training --------------------------------------------------------------------
    async def player(self):
        """Train while playing: one epoch at a time (so a button never waits for more),
        epochs-per-frame epochs per iteration, a frame after each if the page is ready."""
        try:
            await self._play()
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self.playing = False
            if self.gone(e):  # the tab went away mid-send
                self.closed = True
                return
            log.exception("playground training loop failed")  # a bug: this tab's training stops
            try:
                await self.send_json({"type": "error", "id": None,
                                      "message": "training stopped on an internal error"})
            except Exception:
                self.closed = True

    def gone(self, exc) -> bool:
        """Whether ``exc`` says the tab has closed (Starlette and uvicorn say it several ways)."""
        from starlette.websockets import WebSocketState

        return isinstance(exc, WebSocketDisconnect) or (
            isinstance(exc, (RuntimeError, OSError)) and WebSocketState.DISCONNECTED in (
                self.ws.client_state, self.ws.application_state))

    async def _play(self):
        while True:
            await self.wake.wait()
            started = time.perf_counter()
            s = self.session
            going = True
            for _ in range(s.settings["epochs_per_frame"]):
                if not self.playing:
                    break
                async with self.lock:
                    # shielded: a closing tab cancels this task, not the epoch in flight,
                    # which it then waits for (run), so training stops with the session
                    self.training = asyncio.ensure_future(asyncio.to_thread(s.train, 1))
                    going = await asyncio.shield(self.training)
                if not going:
                    break
            if not going:
                self.playing = False
                self.wake.clear()
                await self.send_status(None, s.diverged or s.stopped_early)
                await self.send_frame(force=True)
                continue
            await self.send_frame()
            await asyncio.sleep(max(0.0, 1 / MAX_RATE - (time.perf_counter() - started)))

    # -- sending -----------------------------------------------------------------------
    async def send_json(self, obj):
        async with self.send_lock:
            await self.ws.send_text(json.dumps(obj, allow_nan=False))

    async def send_status(self, msg_id, message=None):
        s = self.session
        await self.send_json({"type": "status", "id": msg_id, "playing": self.playing,
                              "epoch": s.epoch, "diverged": s.diverged,
                              "stopped_early": s.stopped_early, "message": message})

    async def send_state(self, msg_id, what=None):
        async with self.lock:
            state = await asyncio.to_thread(self.session.state)
        await self.send_json({**state, "id": msg_id, "what": what, "token": self.token,
                              "playing": self.playing, "diverged": self.session.diverged,
                              "limits": {"message_bytes": MAX_MESSAGE,
                                         "upload_bytes": D.MAX_UPLOAD_BYTES,
                                         "upload_rows": D.MAX_POINTS}})
        await self.send_frame(force=True)

    async def send_frame(self, force=False):
        """A frame if the page has drawn the last one (or ``force``: after a change the
        page must see); otherwise this frame is dropped."""
        if not (self.ready or force):
            return
        self.ready = False
        s = self.session
        async with self.lock:
            if self.sent_version != s.version:
                self.sent_version, self.sent_history = s.version, 0
            start = self.sent_history
            frame = await asyncio.to_thread(s.frame, start)
            self.sent_history = len(s.history["epoch"])
        async with self.send_lock:
            await self.ws.send_bytes(frame)


def _dict(msg, key):
    value = msg.get(key)
    if not isinstance(value, dict):
        raise ValueError(f'"{key}" must be an object of setting: value')
    return value


# -- HTTP ------------------------------------------------------------------------------
def create_app() -> Starlette:
    sessions: dict[str, Connection] = {}

    async def index(request):
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))

    async def math_page(request):
        return HTMLResponse(render_markdown((STATIC / "math.md").read_text(encoding="utf-8")))

    def connection(request) -> Connection:
        conn = sessions.get(request.path_params["token"])
        if conn is None:
            raise LookupError
        return conn

    async def download(request):
        try:
            conn = connection(request)
        except LookupError:
            return PlainTextResponse("no such session (is its tab still open?)", status_code=404)
        kind = request.path_params["what"]
        makers = {"model.npz": (conn.session.model_bytes, "application/octet-stream"),
                  "data.csv": (conn.session.data_csv, "text/csv"),
                  "replay.py": (conn.session.script, "text/x-python")}
        if kind not in makers:
            return PlainTextResponse("unknown download", status_code=404)
        make, media = makers[kind]
        async with conn.lock:
            try:
                body = await asyncio.to_thread(make)
            except ValueError as e:
                return PlainTextResponse(str(e), status_code=400)
        return Response(body, media_type=media,
                        headers={"Content-Disposition": f'attachment; filename="{kind}"'})

    async def upload(request: Request):
        try:
            conn = connection(request)
        except LookupError:
            return JSONResponse({"error": "no such session"}, status_code=404)
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > D.MAX_UPLOAD_BYTES:
            return JSONResponse({"error": f"the file is larger than the upload limit of "
                                          f"{D.MAX_UPLOAD_BYTES // 2**20} MB"}, status_code=413)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > D.MAX_UPLOAD_BYTES:
                return JSONResponse({"error": f"the file is larger than the upload limit of "
                                              f"{D.MAX_UPLOAD_BYTES // 2**20} MB"}, status_code=413)
        q = request.query_params
        name = q.get("filename", "upload.csv")[:200]
        try:
            text = bytes(body).decode("utf-8-sig")
        except UnicodeDecodeError:
            return JSONResponse({"error": f"{name} is not a CSV file (not UTF-8 text)"},
                                status_code=400)
        conn.playing = False
        try:
            info = await conn.locked(conn.session.load_csv, text, q.get("x1") or None,
                                     q.get("x2") or None, q.get("label") or None, name)
        except ValueError as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        await conn.send_state(None, "data")
        return JSONResponse(info)

    async def websocket(ws: WebSocket):
        await Connection(ws, sessions).run()

    app = Starlette(routes=[
        Route("/", index),
        Route("/math", math_page),
        Route("/download/{token}/{what}", download),
        Route("/upload/{token}", upload, methods=["POST"]),
        WebSocketRoute("/ws", websocket),
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
    ])
    app.state.sessions = sessions
    return app


def render_markdown(text: str) -> str:
    """docs/math.md as a plain page: headings with anchors (eq-13 for "(13)–(14) ..."),
    paragraphs, tables and code as preformatted text. Equations stay in TeX."""
    out, block = [], []

    def flush():
        if block:
            out.append("<pre>" + html.escape("\n".join(block)) + "</pre>")
            block.clear()

    for line in text.splitlines():
        m = re.match(r"^(#{1,3}) (.*)", line)
        if m:
            flush()
            title = m.group(2)
            numbers = [int(n) for n in re.findall(r"\((\d+)\)", title)]
            if len(numbers) == 2:
                numbers = list(range(numbers[0], numbers[1] + 1))
            anchors = "".join(f'<a id="eq-{n}"></a>' for n in numbers)
            slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
            level = len(m.group(1))
            out.append(f'{anchors}<h{level} id="{slug}">{html.escape(title)}</h{level}>')
        else:
            block.append(line)
    flush()
    return ("<!doctype html><html><head><meta charset='utf-8'><title>The math behind scratchnet"
            "</title><style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;"
            "padding:0 1rem}pre{white-space:pre-wrap;font:13px/1.45 ui-monospace,monospace}"
            ":target+h2,:target+h1{background:#fff3c4}</style></head><body>"
            + "".join(out) + "</body></html>")


# -- starting it ---------------------------------------------------------------------------
def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    sock.listen(128)
    return sock


def _server(sock):
    import uvicorn

    from uvicorn.config import WS_PROTOCOLS

    ws = "websockets-sansio" if "websockets-sansio" in WS_PROTOCOLS else "websockets"
    # a message over 4 MB closes the connection; over 1 MB the app answers with an error
    config = uvicorn.Config(create_app(), log_level="warning", ws_max_size=4 * MAX_MESSAGE,
                            ws=ws, lifespan="off")
    return uvicorn.Server(config)


def _url(sock) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}/"


def _limit_blas_threads():
    """Small matrices: BLAS threads only fight each other (and other tabs) for the cores."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(1, user_api="blas")


def serve(host: str = "127.0.0.1", port: int = 0, open_browser: bool = True, on_url=print):
    """Run the playground until Ctrl-C (the ``scratchnet playground`` command)."""
    _limit_blas_threads()
    sock = _bind(host, port)
    url = _url(sock)
    on_url(url)
    if open_browser:
        threading.Timer(0.5, webbrowser.open, (url,)).start()
    server = _server(sock)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn shut down cleanly, then re-raised Ctrl-C: done
        pass
    finally:
        sock.close()
    return url


def launch(port: int = 0, host: str = "127.0.0.1", open_browser: bool = False,
           inline: bool | None = None):
    """Start the playground in a background thread and return its URL. In Jupyter the
    page is also shown inline (an IFrame) unless ``inline=False``."""
    _limit_blas_threads()
    sock = _bind(host, port)
    url = _url(sock)
    server = _server(sock)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name="scratchnet-playground")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    if open_browser:
        webbrowser.open(url)
    if inline is None:
        inline = "ipykernel" in sys.modules
    if inline:
        try:
            from IPython.display import IFrame, display

            display(IFrame(url, width="100%", height=800))
        except ImportError:
            pass
    launch.servers = getattr(launch, "servers", []) + [server]
    return url
