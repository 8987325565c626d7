"""Secrets never appear in a message, a repr or a log record: the one list of secret names,
the scrubbing of text, and the process-wide log-record scrubber.

:data:`SECRET_OPTION_NAMES` are storage options that hold a credential whatever the scheme;
:func:`looks_secret` is the wider net for names nobody listed (an unknown fsspec protocol's
options, a cache key); :data:`SECRET_QUERY_PARAMETERS` are the ``name=value`` pairs whose
value is a credential wherever it appears (SAS query strings, connection strings, presigned
URLs). :func:`register_secrets` scrubs the values of a built repository from every log
record made in the process from then on.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

#: Options that hold a credential, whatever the scheme (also when a URI's own text carries them).
SECRET_OPTION_NAMES = frozenset(
    {
        "key",
        "secret",
        "token",
        "password",
        "account_key",
        "connection_string",
        "sas_token",
        "client_secret",
        "SSECustomerKey",
    }
)

#: Words that mark an option or variable name as possibly holding a credential.
SECRET_WORDS = ("key", "secret", "token", "password", "credential", "sas", "signature", "connection_string")

#: Query-string and connection-string parameters whose value is a credential.
SECRET_QUERY_PARAMETERS = (
    "sig",
    "AccountKey",
    "SharedAccessSignature",
    "SharedAccessKey",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
    "X-Amz-Credential",
    "Credential",
    "Signature",
    "password",
    "secret",
    "token",
)


def looks_secret(name: str) -> bool:
    """True when ``name`` (an option or variable name) contains one of :data:`SECRET_WORDS`."""
    lowered = name.lower()
    return name in SECRET_OPTION_NAMES or any(word in lowered for word in SECRET_WORDS)


_SECRET_PAIRS = re.compile(rf"(?i)\b({'|'.join(map(re.escape, SECRET_QUERY_PARAMETERS))})=([^&;\s'\"]+)")
_MIN_SECRET = 4  #: shorter values are not scrubbed (they would mangle ordinary text)
_registered: set[str] = set()
_registered_lock = threading.Lock()


def _forms(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote(secret)} if len(secret) >= _MIN_SECRET else set()


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with each of ``secrets`` (also percent-encoded) and every ``sig=``,
    ``AccountKey=``, ``X-Amz-Signature=``... value replaced by ``***``."""
    forms = set().union(*(_forms(s) for s in {*secrets, *_registered} if s))
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, "***")
    return _SECRET_PAIRS.sub(lambda m: f"{m.group(1)}=***", text)


def secret_values(options: Mapping[str, Any], secret_paths: Iterable[str]) -> tuple[str, ...]:
    """The text of every secret option (dotted ``secret_paths``) in a storage-options tree."""
    paths, found = set(secret_paths), []

    def walk(tree: Mapping[str, Any], prefix: str) -> None:
        for key, value in tree.items():
            if isinstance(value, Mapping):
                walk(value, f"{prefix}{key}.")
            elif isinstance(value, str) and f"{prefix}{key}" in paths:
                found.append(value)

    walk(options, "")
    return tuple(found)


def register_secrets(secrets: Iterable[str]) -> None:
    """Scrub ``secrets`` from every log record made in this process from now on, at any level
    and from any logger (botocore logs request headers at DEBUG, the access key among them)."""
    fresh = {s for s in secrets if s and len(s) >= _MIN_SECRET}
    with _registered_lock:
        if fresh <= _registered:
            return
        first = not _registered
        _registered.update(fresh)
    if first:
        _install_record_factory()


def _install_record_factory() -> None:
    previous = logging.getLogRecordFactory()

    def scrubbing_factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a record that cannot format is left alone
            return record
        clean = scrub(message, tuple(_registered))
        if clean != message:
            record.msg, record.args = clean, ()
        return record

    logging.setLogRecordFactory(scrubbing_factory)
