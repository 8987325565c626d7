"""SFTP client adjustments (sshfs)."""

from __future__ import annotations


def sftp_put_skipping_made_parents(fs) -> None:
    """sshfs's ``put_file`` makes the parent directory before every file, and asyncssh's
    ``makedirs`` stats every component of the path: ~8 round trips per file, 80 % of a
    200-file upload. artifact_fs's uploads make each parent once, before the batch
    (``transfer.upload``), and pass ``parents_exist=True`` (the row's upload option); any
    other caller of the (possibly cached) instance gets sshfs's own behaviour."""
    if getattr(fs._put_file, "skips_made_parents", False):
        return  # fsspec's cache handed back an instance prepared already
    from sshfs.utils import WRITE_BLOCK_SIZE, wrap_exceptions

    sshfs_put_file = fs._put_file

    @wrap_exceptions
    async def put_file(lpath, rpath, parents_exist=False, block_size=WRITE_BLOCK_SIZE, **kwargs):
        if not parents_exist:
            return await sshfs_put_file(lpath, rpath, block_size=block_size, **kwargs)
        async with fs._pool.get() as channel:
            await channel.put(lpath, rpath, block_size=block_size)

    put_file.skips_made_parents = True
    fs._put_file = put_file
