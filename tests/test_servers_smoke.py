"""Smoke tests: each real S3 server of ``tests/servers/s3.py`` (conftest's ``seaweedfs`` and
``moto``) starts and stores objects.

They fail (never skip) when a server cannot start.
"""

from __future__ import annotations

import pytest
import s3fs

from .servers.s3 import S3Server

pytestmark = pytest.mark.s3


def _round_trip(server: S3Server, bucket: str) -> None:
    server.create_bucket(bucket)
    fs = s3fs.S3FileSystem(**server.storage_options(), skip_instance_cache=True)
    fs.pipe(f"{bucket}/dir/small.txt", b"hello")
    assert fs.cat(f"{bucket}/dir/small.txt") == b"hello"
    # 12 MiB with 5 MiB blocks: a 3-part multipart upload.
    data = bytes(range(256)) * (12 * 4096)
    with fs.open(f"{bucket}/dir/big.bin", "wb", block_size=5 * 2**20) as f:
        f.write(data)
    assert fs.info(f"{bucket}/dir/big.bin")["size"] == len(data)
    assert fs.cat(f"{bucket}/dir/big.bin") == data
    assert sorted(fs.ls(f"{bucket}/dir")) == [f"{bucket}/dir/big.bin", f"{bucket}/dir/small.txt"]


def test_seaweedfs_round_trip(seaweedfs: S3Server) -> None:
    server = seaweedfs
    assert server.env()["MLFLOW_S3_ENDPOINT_URL"] == server.endpoint_url
    _round_trip(server, "smoke-one")
    _round_trip(server, "smoke-two")  # each bucket needs volumes of its own
    wrong = {**server.storage_options(), "secret": "wrong"}
    with pytest.raises(OSError):  # credentials are enforced
        s3fs.S3FileSystem(**wrong, skip_instance_cache=True).cat("smoke-one/dir/small.txt")


def test_moto_round_trip(moto: S3Server) -> None:
    assert moto.env()["AWS_ACCESS_KEY_ID"] == "testing"
    _round_trip(moto, "smoke-one")
