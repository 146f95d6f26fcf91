"""Stream servers on 127.0.0.1 for tests: an HTTP server with a good, a dropping and a slow stream
of the sample clip, a server that accepts connections but never answers, and a closed port."""

from __future__ import annotations

import http.server
import io
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import av

from tests.batch_helpers import SAMPLE

SAMPLE_FRAMES = 96


def sample_as_mpegts() -> bytes:
    """The sample clip remuxed (no re-encoding) into MPEG-TS, a format read front to back."""
    buf = io.BytesIO()
    with av.open(str(SAMPLE)) as src, av.open(buf, "w", format="mpegts") as out:
        video = src.streams.video[0]
        stream = out.add_stream_from_template(video)
        for packet in src.demux(video):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return buf.getvalue()


class _Handler(http.server.BaseHTTPRequestHandler):
    """/full.mp4: the clip; /drop.ts: half of it, then the connection closes early; /slow.ts:
    the clip, its second half a little at a time over about 30 s."""

    mp4 = SAMPLE.read_bytes()
    ts = sample_as_mpegts()

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = {"/full.mp4": self.mp4, "/drop.ts": self.ts, "/slow.ts": self.ts}.get(
            self.path.split("?")[0]
        )
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        half = len(body) // 2
        try:
            if self.path.startswith("/full"):
                self.wfile.write(body)
            elif self.path.startswith("/drop"):
                self.wfile.write(body[:half])
            else:
                self.wfile.write(body[:half])
                for i in range(half, len(body), 1024):
                    self.wfile.flush()
                    time.sleep(0.7)
                    self.wfile.write(body[i : i + 1024])
        except OSError:  # the client went away
            pass
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def http_streams() -> Iterator[str]:
    """Serves the streams; yields the base URL `http://127.0.0.1:PORT`."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def silent_server() -> Iterator[str]:
    """A port that accepts connections and never sends a byte; yields `127.0.0.1:PORT`."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def closed_port() -> str:
    """`127.0.0.1:PORT` of a port nothing listens on."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    address = f"127.0.0.1:{sock.getsockname()[1]}"
    sock.close()
    return address
