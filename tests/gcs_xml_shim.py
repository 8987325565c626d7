"""GCS's XML upload requests, translated for fake-gcs-server (which lacks them).

obstore (Rust's ``object_store``) uploads to GCS through the XML API: ``PUT /<bucket>/<name>``
for one piece, and ``POST ?uploads`` / ``PUT ?partNumber=&uploadId=`` / ``POST ?uploadId=``
for a multipart upload. fake-gcs-server (v1.54, and upstream still: fsouza/fake-gcs-server
PR #1164 is open) answers those with ``400 invalid uploadType``. :class:`GCSXMLShim` sits in
front of it: those requests become JSON-API media uploads (a multipart upload's parts are
held here, then uploaded as one object on completion, its Content-Type the one the upload
began with); every other request (HEAD, GET, ranged GET, listings, DELETE) is forwarded to
the emulator byte for byte, status and headers unchanged, so reads, listings, deletes and
their errors are the emulator's own.
"""

from __future__ import annotations

import http.client
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

_HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


class GCSXMLShim:
    """Listen on ``127.0.0.1:<port>`` (:attr:`endpoint_url`), forwarding to ``target_url``."""

    def __init__(self, target_url: str):
        parts = urlsplit(target_url)
        self.target = (parts.hostname, parts.port)
        self.uploads: dict[str, dict] = {}  #: multipart uploads in progress: parts and headers
        self.translated = 0  #: upload requests answered by translation
        self.lock = threading.Lock()
        shim = self

        class Handler(_Handler):
            owner = shim

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def request(self, method: str, path: str, body: bytes = b"", headers: dict | None = None):
        """One request to the emulator: ``(status, headers, body)``."""
        connection = http.client.HTTPConnection(*self.target, timeout=120)
        try:
            connection.request(method, path, body=body or None, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def media_upload(self, bucket: str, name: str, body: bytes, headers) -> tuple[int, dict, bytes]:
        """A JSON-API ``uploadType=media`` upload of ``name``: ``(status, object resource, body)``."""
        query = f"uploadType=media&name={quote(name, safe='')}"
        if headers.get("x-goog-if-generation-match") is not None:
            query += f"&ifGenerationMatch={headers['x-goog-if-generation-match']}"
        content_type = headers.get("content-type") or "application/octet-stream"
        status, _headers, data = self.request(
            "POST", f"/upload/storage/v1/b/{quote(bucket, safe='')}/o?{query}", body, {"Content-Type": content_type}
        )
        with self.lock:
            self.translated += 1
        try:
            resource = json.loads(data) if status == 200 else {}
        except ValueError:
            resource = {}
        return status, resource, data


class _Server(ThreadingHTTPServer):
    #: a client opening a hundred connections at once (fsspec's batch) must not overflow the
    #: listen backlog (http.server's is 5): dropped SYNs come back after 1, 3, 7... 31 s
    request_queue_size = 1024

    def handle_error(self, request, client_address) -> None:
        """A client that gave up (its timeout) closed the connection: nothing to report."""
        import sys

        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError, TimeoutError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: GCSXMLShim

    def log_message(self, *_args) -> None:  # the emulator logs every request already
        pass

    def _body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reply(self, status: int, headers, body: bytes = b"") -> None:
        self.send_response(status)
        length = str(len(body))
        for name, value in headers:
            if name.lower() == "content-length" and self.command == "HEAD":
                length = value  # the object's size, as the emulator answered
            elif name.lower() not in _HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", length)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _forward(self, body: bytes | None = None) -> None:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        self._reply(*self.owner.request(self.command, self.path, self._body() if body is None else body, headers))

    def _split(self) -> tuple[str, str, dict]:
        parts = urlsplit(self.path)
        bucket, _, name = parts.path.lstrip("/").partition("/")
        return unquote(bucket), unquote(name), parse_qs(parts.query, keep_blank_values=True)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._forward()

    do_HEAD = do_GET

    def do_DELETE(self) -> None:  # noqa: N802
        bucket, name, query = self._split()
        if "uploadId" in query:  # abort a multipart upload: drop its parts
            with self.owner.lock:
                self.owner.uploads.pop(query["uploadId"][0], None)
            self._reply(204, [])
            return
        self._forward()

    def do_PUT(self) -> None:  # noqa: N802
        bucket, name, query = self._split()
        body, headers = self._body(), {k.lower(): v for k, v in self.headers.items()}
        if not name or "x-goog-copy-source" in headers:
            self._reply(501, [], b"not translated by the shim")
            return
        if "uploadId" in query:  # one part of a multipart upload
            import hashlib

            with self.owner.lock:
                upload = self.owner.uploads.get(query["uploadId"][0])
                if upload is not None:
                    upload["parts"][int(query["partNumber"][0])] = body
            if upload is None:
                self._reply(404, [], b"no such upload")
                return
            self._reply(200, [("ETag", f'"{hashlib.md5(body).hexdigest()}"')])
            return
        status, resource, data = self.owner.media_upload(bucket, name, body, headers)
        self._reply(status, _put_headers(resource), b"" if status == 200 else data)

    def do_POST(self) -> None:  # noqa: N802
        bucket, name, query = self._split()
        body = self._body()  # completing: its XML part list (the parts held here are all of it)
        headers = {k.lower(): v for k, v in self.headers.items()}
        if "uploads" in query:  # begin a multipart upload
            upload_id = uuid.uuid4().hex
            with self.owner.lock:
                self.owner.uploads[upload_id] = {"parts": {}, "headers": headers}
            xml = (
                f"<InitiateMultipartUploadResult><Bucket>{bucket}</Bucket><Key>{name}</Key>"
                f"<UploadId>{upload_id}</UploadId></InitiateMultipartUploadResult>"
            )
            self._reply(200, [("Content-Type", "application/xml")], xml.encode())
            return
        if "uploadId" in query:  # complete it: the parts as one object
            with self.owner.lock:
                upload = self.owner.uploads.pop(query["uploadId"][0], None)
            if upload is None:
                self._reply(404, [], b"no such upload")
                return
            whole = b"".join(upload["parts"][number] for number in sorted(upload["parts"]))
            status, resource, data = self.owner.media_upload(bucket, name, whole, upload["headers"])
            if status != 200:
                self._reply(status, [], data)
                return
            etag = f'"{resource.get("md5Hash", "")}"'
            xml = f"<CompleteMultipartUploadResult><ETag>{etag}</ETag></CompleteMultipartUploadResult>"
            self._reply(200, [("Content-Type", "application/xml"), *_put_headers(resource)], xml.encode())
            return
        self._forward(body)


def _put_headers(resource: dict) -> list[tuple[str, str]]:
    """What GCS's XML PUT answers: the ETag (the emulator's, its base64 MD5) and generation."""
    if not resource:
        return []
    return [("ETag", f'"{resource.get("md5Hash", "")}"'), ("x-goog-generation", str(resource.get("generation", "")))]
