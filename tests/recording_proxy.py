"""A loopback TCP proxy that records which AWS access key ids (and Authorization headers) pass through it.

Put in front of a real S3 server, it shows which credentials a client sent to that
server (SigV4's ``Credential=<key id>/...`` in the Authorization header or query) without
touching either side: bytes are forwarded unchanged.
"""

from __future__ import annotations

import re
import socket
import threading
from urllib.parse import urlsplit

_CREDENTIAL = re.compile(rb"Credential=([A-Za-z0-9]+)(?:/|%2F)")
_AUTHORIZATION = re.compile(rb"\r\n[Aa]uthorization: ([^\r\n]+)\r\n")


class RecordingProxy:
    """Forward ``127.0.0.1:<port>`` to ``target_url``'s host and port; ``key_ids`` is what was seen."""

    def __init__(self, target_url: str):
        parts = urlsplit(target_url)
        self.target = (parts.hostname, parts.port)
        self.key_ids: set[str] = set()
        self.authorizations: set[str] = set()  #: every Authorization header value seen
        self.requests = 0
        self.in_flight = self.peak_in_flight = 0
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.endpoint_url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        """Stop accepting connections (open ones end with their peers)."""
        self._server.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, record: bool) -> None:
        token = b"HTTP/1.1\r\n" if record else b"HTTP/1.1 "  # a request line's end, a status line's start
        tail = b""
        try:
            while chunk := source.recv(65536):
                window = tail + chunk
                seen = window.count(token) - tail.count(token)
                with self._lock:
                    if record:
                        self.requests += seen
                        self.key_ids.update(m.decode() for m in _CREDENTIAL.findall(window))
                        self.authorizations.update(m.decode() for m in _AUTHORIZATION.findall(window))
                        self.in_flight += seen
                        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
                    else:
                        self.in_flight -= seen
                tail = window[-256:]
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
