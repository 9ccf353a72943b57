"""A bare HTTP/1.1 server on 127.0.0.1 that misbehaves on purpose, for the channels' connection
handling: it notes which connection carried each request, and can close a connection right
after answering (without saying so) or drop it without answering at all."""

from __future__ import annotations

import socket
import socketserver
import threading
from dataclasses import dataclass, field
from typing import Literal

Mode = Literal["keep", "close_after_answer", "drop"]

_BODY = b'{"sid": "SMraw", "ok": true}'
ANSWER = (
    b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
    % (
        len(_BODY),
        _BODY,
    )
)


@dataclass
class RawHttpServer:
    mode: Mode = "keep"
    requests: list[tuple[int, bytes]] = field(default_factory=list)  # (connection no., body)
    connections: int = 0
    closed_by_client: int = 0
    closed_by_server: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with outer._lock:
                    outer.connections += 1
                    number = outer.connections
                sock: socket.socket = self.request
                buffer = b""
                while True:
                    while b"\r\n\r\n" not in buffer:
                        chunk = sock.recv(65536)
                        if not chunk:
                            with outer._lock:
                                outer.closed_by_client += 1
                            return
                        buffer += chunk
                    head, _, buffer = buffer.partition(b"\r\n\r\n")
                    length = 0
                    for line in head.split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value)
                    while len(buffer) < length:
                        buffer += sock.recv(65536)
                    body, buffer = buffer[:length], buffer[length:]
                    with outer._lock:
                        outer.requests.append((number, body))
                    if outer.mode == "drop":
                        return  # the request arrived; no answer, the connection closes
                    sock.sendall(ANSWER)
                    if outer.mode == "close_after_answer" or b"connection: close" in head.lower():
                        sock.close()
                        with outer._lock:
                            outer.closed_by_server += 1
                        return

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
