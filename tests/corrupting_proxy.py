"""A loopback HTTP/1.1 proxy that flips one byte of a chosen request or response body.

Put in front of a real store (``endpoint_url`` instead of the store's), it forwards every
byte unchanged until a test arms it: ``proxy.corrupt_next("response", match="GET ")``
flips one byte in the middle of the body of the next response whose request line
contains ``match`` (``"request"``: the next request body, e.g. ``"PUT "`` or
``"partNumber=2"``). Headers are never touched, so lengths and the store's or the
client's own checksums headers still describe the original bytes: only an end-to-end
digest can notice. After ``count`` flips it is healthy again.

It understands just enough HTTP/1.1 to find bodies on a kept-alive connection:
``Content-Length`` and ``Transfer-Encoding: chunked`` bodies (the flip lands in chunk
data, never in the framing), bodiless answers to ``HEAD`` and ``1xx``/``204``/``304``
statuses, and responses delimited by the connection's close.
"""

from __future__ import annotations

import collections
import socket
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class _Arm:
    direction: str  #: "request" or "response"
    match: str  #: a substring of the request line (method and target)
    skip: int  #: matching messages to let through first
    count: int  #: messages to corrupt


class CorruptingProxy:
    """Forward ``127.0.0.1:<port>`` to ``target_url``'s host and port, flipping bytes on demand."""

    def __init__(self, target_url: str):
        parts = urlsplit(target_url)
        self.target = (parts.hostname, parts.port)
        self._lock = threading.Lock()
        self._arms: list[_Arm] = []
        self.flipped: list[tuple[str, str]] = []  #: (direction, request line) of every corrupted message
        self.request_lines: list[str] = []  #: every request line seen, in order
        self._server = socket.create_server(("127.0.0.1", 0))
        self.endpoint_url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    # --- the test's side ---------------------------------------------------------------------

    def corrupt_next(self, direction: str, match: str = "", *, skip: int = 0, count: int = 1) -> None:
        """Flip one byte in each of the next ``count`` bodies going ``direction`` whose request
        line contains ``match`` (after letting ``skip`` matching ones through)."""
        if direction not in ("request", "response"):
            raise ValueError(f"direction must be 'request' or 'response', not {direction!r}")
        with self._lock:
            self._arms.append(_Arm(direction, match, skip, count))

    def healthy(self) -> None:
        """Disarm: forward everything unchanged from now on."""
        with self._lock:
            self._arms.clear()

    @property
    def armed(self) -> bool:
        """Some corruption is still waiting for its message."""
        with self._lock:
            return bool(self._arms)

    def close(self) -> None:
        """Stop accepting connections (open ones end with their peers)."""
        self._server.close()

    def __enter__(self) -> CorruptingProxy:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    # --- plumbing ------------------------------------------------------------------------------

    def _should_flip(self, direction: str, request_line: str) -> bool:
        with self._lock:
            for arm in self._arms:
                if arm.direction != direction or arm.match not in request_line:
                    continue
                if arm.skip:
                    arm.skip -= 1
                    return False
                arm.count -= 1
                if arm.count <= 0:
                    self._arms.remove(arm)
                self.flipped.append((direction, request_line))
                return True
        return False

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            pending: collections.deque = collections.deque()  # request lines awaiting their response
            ready = threading.Condition()
            threading.Thread(target=self._pump_requests, args=(client, upstream, pending, ready), daemon=True).start()
            threading.Thread(target=self._pump_responses, args=(upstream, client, pending, ready), daemon=True).start()

    def _pump_requests(self, source, sink, pending, ready) -> None:
        reader = _Reader(source)
        try:
            while True:
                head = reader.head()
                if head is None:
                    return
                line, headers = _parse_head(head)
                with self._lock:
                    self.request_lines.append(line)
                with ready:
                    pending.append(line)
                    ready.notify_all()
                sink.sendall(head)
                flip = self._should_flip("request", line)
                if headers.get("transfer-encoding", "").lower().endswith("chunked"):
                    _copy_chunked(reader, sink, flip)
                else:
                    _copy_length(reader, sink, int(headers.get("content-length", "0") or 0), flip)
        except OSError:
            pass
        finally:
            _close(source, sink)
            with ready:
                pending.append(None)
                ready.notify_all()

    def _pump_responses(self, source, sink, pending, ready) -> None:
        reader = _Reader(source)
        try:
            while True:
                head = reader.head()
                if head is None:
                    return
                status_line, headers = _parse_head(head)
                status = int(status_line.split()[1])
                with ready:
                    ready.wait_for(lambda: pending, timeout=30)
                    request_line = pending[0] if pending else None
                    if status >= 200 and pending:
                        pending.popleft()
                sink.sendall(head)
                method = (request_line or "").split(" ", 1)[0]
                if 100 <= status < 200 or status in (204, 304) or method == "HEAD":
                    continue
                flip = request_line is not None and self._should_flip("response", request_line)
                if headers.get("transfer-encoding", "").lower().endswith("chunked"):
                    _copy_chunked(reader, sink, flip)
                elif "content-length" in headers:
                    _copy_length(reader, sink, int(headers["content-length"]), flip)
                else:  # delimited by the connection's close
                    _copy_until_close(reader, sink, flip)
                    return
        except OSError:
            pass
        finally:
            _close(source, sink)


class _Reader:
    """Buffered reads from a socket."""

    def __init__(self, sock: socket.socket):
        self.sock, self.buffer = sock, b""

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def head(self) -> bytes | None:
        """The next message head (start line and headers, with the blank line), None at EOF."""
        while b"\r\n\r\n" not in self.buffer:
            if not self._fill():
                return None
        end = self.buffer.index(b"\r\n\r\n") + 4
        head, self.buffer = self.buffer[:end], self.buffer[end:]
        return head

    def line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            if not self._fill():
                raise ConnectionResetError("connection closed inside a chunked body")
        end = self.buffer.index(b"\r\n") + 2
        line, self.buffer = self.buffer[:end], self.buffer[end:]
        return line

    def some(self, most: int) -> bytes:
        """Up to ``most`` bytes (at least one), b"" at EOF."""
        if not self.buffer and not self._fill():
            return b""
        out, self.buffer = self.buffer[:most], self.buffer[most:]
        return out


def _parse_head(head: bytes) -> tuple[str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return lines[0], headers


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def _copy_length(reader: _Reader, sink, length: int, flip: bool) -> None:
    """Forward ``length`` body bytes, the one in the middle flipped when ``flip``."""
    target, done = length // 2, 0
    while done < length:
        data = reader.some(min(65536, length - done))
        if not data:
            raise ConnectionResetError("connection closed inside a body")
        if flip and done <= target < done + len(data):
            data = _flip(data, target - done)
        sink.sendall(data)
        done += len(data)


def _copy_chunked(reader: _Reader, sink, flip: bool) -> None:
    """Forward a chunked body; with ``flip``, the middle byte of its first data chunk is flipped."""
    while True:
        size_line = reader.line()
        sink.sendall(size_line)
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while (trailer := reader.line()) != b"\r\n":  # trailers, then the blank line
                sink.sendall(trailer)
            sink.sendall(b"\r\n")
            return
        _copy_length(reader, sink, size, flip)
        flip = False
        sink.sendall(reader.line())  # the CRLF after the chunk's data


def _copy_until_close(reader: _Reader, sink, flip: bool) -> None:
    first = True
    while data := reader.some(65536):
        if flip and first:
            data = _flip(data, len(data) // 2)
        first = False
        sink.sendall(data)


def _close(*socks: socket.socket) -> None:
    for sock in socks:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
