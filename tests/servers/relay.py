"""Relays between a TCP port on 127.0.0.1 and a Unix socket file: the test servers, reached
from inside a private network namespace (``unshare --net``: only its own loopback).

A Unix socket file lives in the filesystem, which network namespaces share, so two relays
join them: in the test's namespace :func:`unix_to_tcp` accepts on ``<dir>/<name>.sock`` and
connects each connection to ``127.0.0.1:<port>``; inside the private namespace
:func:`tcp_to_unix` listens on ``127.0.0.1:<port>`` (the same port: URLs stay valid) and
forwards each connection to that file. Neither listens on any other address.

Each relay is a context manager: one thread accepts, two threads per connection copy bytes
(each direction until its end of stream, then half-closes the other side). Leaving the
context stops accepting, shuts every open connection down and joins the threads.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Callable

#: how often the accepting thread looks whether the relay was closed
_POLL_SECONDS = 0.2
_CHUNK = 256 * 1024


class Relay:
    """Accept on ``listener``; for each connection, open ``connect()`` and copy both ways."""

    def __init__(
        self,
        listener: socket.socket,
        connect: Callable[[], socket.socket],
        name: str,
        *,
        socket_file: str | None = None,
    ):
        self.name, self._socket_file = name, socket_file
        self.connections = 0  #: connections accepted so far
        self._listener, self._connect = listener, connect
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        listener.settimeout(_POLL_SECONDS)
        self._acceptor = threading.Thread(target=self._accept, name=f"relay-accept {name}", daemon=True)

    def __enter__(self) -> Relay:
        self._acceptor.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop accepting, shut every open connection down, wait for the threads."""
        self._closed.set()
        if self._acceptor.is_alive():
            self._acceptor.join()
        self._listener.close()
        if self._socket_file:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._socket_file)
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            threads = list(self._threads)
        for thread in threads:
            thread.join()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                accepted, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._closed.is_set():
                    return
                raise
            accepted.settimeout(None)
            try:
                upstream = self._connect()
            except OSError:
                accepted.close()  # the client sees the connection refused as it would directly
                continue
            self.connections += 1
            pair = _Pair(self, accepted, upstream)
            with self._lock:
                if self._closed.is_set():
                    pair.close()
                    return
                self._open |= {accepted, upstream}
                for source, sink in ((accepted, upstream), (upstream, accepted)):
                    thread = threading.Thread(target=pair.copy, args=(source, sink), name=f"relay {self.name}")
                    thread.daemon = True
                    self._threads.append(thread)
                    thread.start()

    def _forget(self, socks) -> None:
        with self._lock:
            self._open -= set(socks)
            self._threads = [t for t in self._threads if t.is_alive() and t is not threading.current_thread()]


class _Pair:
    """One relayed connection: both sockets are closed when both directions have ended."""

    def __init__(self, relay: Relay, a: socket.socket, b: socket.socket):
        self.relay, self.socks, self.running = relay, (a, b), 2
        self.lock = threading.Lock()

    def copy(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(_CHUNK):
                sink.sendall(chunk)
        except OSError:  # reset, or shut down by close(): end both directions
            for sock in self.socks:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        else:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)  # pass the end of stream on
        with self.lock:
            self.running -= 1
            last = self.running == 0
        if last:
            self.close()

    def close(self) -> None:
        for sock in self.socks:
            sock.close()
        self.relay._forget(self.socks)


def unix_to_tcp(path: str | os.PathLike, port: int, host: str = "127.0.0.1") -> Relay:
    """Accept on the Unix socket file ``path`` (created here, removed first if left over) and
    connect each connection to ``host:port``."""
    path = os.fspath(path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    return Relay(listener, lambda: socket.create_connection((host, port)), f"{path} -> {host}:{port}", socket_file=path)


def tcp_to_unix(port: int, path: str | os.PathLike, host: str = "127.0.0.1") -> Relay:
    """Listen on ``host:port`` and forward each connection to the Unix socket file ``path``."""
    path = os.fspath(path)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(64)

    def connect() -> socket.socket:
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.connect(path)
        except OSError:
            upstream.close()
            raise
        return upstream

    return Relay(listener, connect, f"{host}:{port} -> {path}")
