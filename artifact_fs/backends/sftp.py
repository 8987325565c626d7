"""SFTP (``sftp://``) on sshfs/asyncssh: what happens for SFTP.

* **URI.** ``sftp://[user[:password]@]host[:port][/path]``; the password is a secret;
  ``~/.ssh/config`` (HostName, User, Port, IdentityFile) applies.
* **Settings**: host keys checked against ``~/.ssh/known_hosts`` by default,
  ``ARTIFACT_FS_SFTP_KNOWN_HOSTS`` names another file or ``none`` (the explicit opt-out);
  the transfer timeout bounds connecting and, through keepalives, a silent server.
* **Client** (:func:`sftp_put_skipping_made_parents`, the row's ``prepare``): each parent
  made once per upload, not before every file; a dropped connection is replaced on the next
  call (sshfs never reconnects by itself).
* **Paths**: real directories; uploads go to a temporary name and are published with the
  ``posix-rename`` extension (atomic overwrite).
* **Transfers**: downloads read in the server's maximum block (255 KiB on OpenSSH) instead
  of sshfs's 48 KiB; checked by size (SFTP lists no digest).
"""

from __future__ import annotations

from ..converters import as_timeout
from ..rows import Client, PathTraits, Scheme, Setting, UriGrammar
from ..settings import TIMEOUT


def known_hosts_file(value: str):
    """A known_hosts file path; ``none`` turns host-key checking off (explicit opt-out)."""
    return None if value.strip().lower() in ("none", "off", "false", "0") else value.strip()


def half_timeout(value: str):
    """Half the timeout, in seconds (``-1``: ``None``, no limit): SSH keepalives sent that
    often, with one allowed to go unanswered, declare a silent server dead after the timeout."""
    seconds = as_timeout(value)
    return None if seconds is None else seconds / 2


def sftp_put_skipping_made_parents(fs) -> None:
    """sshfs's ``put_file`` makes the parent directory before every file, and asyncssh's
    ``makedirs`` stats every component of the path: several round trips per file, most of a
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


SFTP_SETTINGS = (
    Setting(
        "ARTIFACT_FS_SFTP_KNOWN_HOSTS",
        "known_hosts",
        known_hosts_file,
        doc="known_hosts path; `none` turns host-key checks off",
    ),
    Setting(TIMEOUT, "connect_timeout", as_timeout, doc="default 30 s; -1 = no timeout"),
    Setting(
        TIMEOUT,
        "keepalive_interval",
        half_timeout,
        doc=(
            "half the timeout, with `keepalive_count_max=1`: a server silent for the timeout drops the connection "
            "(default 30 s)"
        ),
    ),
)

#: Profile keys → the variables they stand for.
PROFILE_KEYS = {"known_hosts": "ARTIFACT_FS_SFTP_KNOWN_HOSTS"}

ROWS = (
    Scheme(
        "sftp",
        UriGrammar("userinfo_host", form="`sftp://[user[:password]@]host[:port][/path]`", secret_options=("password",)),
        Client(
            protocol="sftp",
            impl="sshfs.SSHFileSystem",
            extra="sftp",
            settings=SFTP_SETTINGS,
            # known_hosts=(): asyncssh's default, check ~/.ssh/known_hosts. The timeouts bound a
            # hung server (asyncssh has none by default); they win over ~/.ssh/config's
            # ConnectTimeout / ServerAlive*. download:block_size=-1: asyncssh's own read size.
            defaults={
                "known_hosts": (),
                "connect_timeout": 30,
                "keepalive_interval": 15,
                "keepalive_count_max": 1,
                "upload:parents_exist": True,
                "download:block_size": -1,
            },
            prepare=sftp_put_skipping_made_parents,
            connection_probe="client.is_closed",
        ),
        PathTraits(real_directories=True, atomic_rename=True),
        mlflow_builtin="mlflow.store.artifact.sftp_artifact_repo:SFTPArtifactRepository",
    ),
)
