"""Streamed writes to S3 with parts in flight: the tracking server's proxied uploads,
``runs://`` and ``af.open(..., "wb")`` writes.

s3fs's ``S3File`` sends each full block as a part and waits for it before taking more
bytes, so a stream is written one part at a time: 256 MiB took 5.05 s on SeaweedFS where
``put_file``'s parts in flight took 3.69 s (benchmarks/README.md, "Proxied mode"). Here a
full block goes to fsspec's event loop and the writer goes on; at most
:data:`STREAMED_PARTS_IN_FLIGHT` parts are on the way (bounded memory: that many blocks),
and every part but the last is exactly one block. Closing waits for them all, then
completes the upload; a failed part cancels the others and the upload is aborted, so
nothing is published. Each part still carries its Content-MD5 and is checked against the
ETag the store answers (:mod:`.s3_client`'s end-to-end digests).
"""

from __future__ import annotations

import asyncio
import io
from concurrent.futures import FIRST_COMPLETED, Future, wait

from s3fs.core import S3File

#: parts of one streamed write on the way at once. Each costs ~16 MiB of the server's memory
#: (its 8 MiB block, and the request's copy): a proxied 1 GiB upload grew the server by 66,
#: 83 and 99 MiB with 2, 3 and 4 (benchmarks.server_big_file), against the issue's 100
STREAMED_PARTS_IN_FLIGHT = 3


def s3_streamed_parts_in_flight(fs) -> None:
    """Make ``fs``'s write-mode files send their parts :data:`STREAMED_PARTS_IN_FLIGHT` at a time."""
    if getattr(fs._open, "parts_in_flight", False):
        return  # fsspec's cache handed back an instance prepared already
    opener = fs._open

    def _open(path, mode="rb", *args, **kwargs):
        opened = opener(path, mode, *args, **kwargs)
        if "w" in mode and type(opened) is S3File:
            opened.__class__ = S3FileWithPartsInFlight  # same state, its parts sent concurrently
        return opened

    _open.parts_in_flight = True
    fs._open = _open


class S3FileWithPartsInFlight(S3File):
    """s3fs's writer, with each full block sent while the next one fills."""

    def _upload_chunk(self, final=False):
        small = self.autocommit and final and self.tell() < self.blocksize
        if small or self.append_block:
            return super()._upload_chunk(final=final)  # one PUT at commit; appends stay s3fs's
        self.buffer.seek(0)
        while True:
            left = len(self.buffer.getbuffer()) - self.buffer.tell()
            if left == 0 or (left < self.blocksize and not final):
                break
            self._send(self.buffer.read(self.blocksize))
        if final:
            self._wait_for_parts(all_of_them=True)
        if final and self.autocommit:
            self.commit()
        else:
            self.offset += self.buffer.tell()
            self.buffer = io.BytesIO(self.buffer.read())
            self.buffer.seek(0, 2)
        return False

    def _send(self, body: bytes) -> None:
        pending: dict[Future, int] = self.__dict__.setdefault("_pending", {})
        self._wait_for_parts(all_of_them=False)
        number = self.__dict__.get("_numbered", 0) + 1
        self._numbered = number
        call = self.fs._call_s3(
            "upload_part", self.s3_additional_kwargs, getattr(self, "_request_payer_kw", {}),
            Bucket=self.bucket, Key=self.key, PartNumber=number, UploadId=self.mpu["UploadId"], Body=body,
        )  # fmt: skip
        pending[asyncio.run_coroutine_threadsafe(call, self.fs.loop)] = number

    def _wait_for_parts(self, all_of_them: bool) -> None:
        """Collect finished parts: until fewer than the limit are on the way, or all of them."""
        pending: dict[Future, int] = self.__dict__.setdefault("_pending", {})
        while pending and (all_of_them or len(pending) >= STREAMED_PARTS_IN_FLIGHT):
            done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for future in done:
                number = pending.pop(future)
                try:
                    answer = future.result()
                except BaseException:
                    self._cancel_parts()
                    raise
                part = {"PartNumber": number, "ETag": answer["ETag"]}
                if "ChecksumSHA256" in answer:
                    part["ChecksumSHA256"] = answer["ChecksumSHA256"]
                self.parts.append(part)
        self.parts.sort(key=lambda part: part["PartNumber"])

    def _cancel_parts(self) -> None:
        pending: dict[Future, int] = self.__dict__.get("_pending", {})
        for future in pending:
            future.cancel()
        wait(list(pending))
        pending.clear()

    def discard(self):
        """Throw the upload away: parts on the way are cancelled, the multipart upload aborted."""
        self._cancel_parts()
        super().discard()
