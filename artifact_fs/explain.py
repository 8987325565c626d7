"""``explain(uri)``: how a URI resolves — which setting was read from where and what it became.

The sources are :attr:`artifact_fs.Resolved.sources` as the resolver reports them
(``"environment MLFLOW_S3_ENDPOINT_URL"``, ``"uri"``, ``"default"``, a profile...);
values are taken from :meth:`artifact_fs.Resolved.redacted`, so secrets show as ``***``.
"""

from __future__ import annotations

import os
from typing import Any

from .redaction import SECRET_OPTION_NAMES
from .rows import CHANNELS
from .uri import redact_uri

#: option path prefix → the field of ``Resolved.redacted()`` that holds it (no prefix: storage options)
FIELDS = {**CHANNELS, "": "storage_options"}


def option_value(shown: dict[str, Any], path: str, secrets) -> Any:
    """The (redacted) value of a dotted option path such as ``client_kwargs.verify``."""
    channel = next(prefix for prefix in FIELDS if path.startswith(prefix))
    value: Any = shown[FIELDS[channel]]
    dotted = path[len(channel) :]
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    if value is not None and (path in secrets or dotted.rsplit(".", 1)[-1] in SECRET_OPTION_NAMES):
        return "***"
    return value


def explain(uri: str | os.PathLike, **options: Any) -> dict[str, Any]:
    """A plain-data account of how ``uri`` resolves, plus a ``text`` rendering of it.

    >>> e = explain("s3://bkt/x", endpoint_url="http://127.0.0.1:9000")
    >>> e["url"], e["options"][-1]
    ('s3://bkt/x', {'option': 'endpoint_url', 'value': 'http://127.0.0.1:9000', 'source': 'override'})
    """
    from .api import locate

    uri = os.fspath(uri)
    location = locate(uri, **options)
    data: dict[str, Any] = {"uri": redact_uri(uri)}
    lines = [f"uri             {data['uri']}"]
    if location.tracked is not None:
        tracked = location.tracked
        target, key, _inner = tracked.target(uri)
        data["tracking_uri"] = redact_uri(tracked.tracking_uri)
        data["artifact_root"] = redact_uri(target.artifact_uri)
        lines += [
            f"tracking server {data['tracking_uri']}",
            f"artifact root   {data['artifact_root']}  ({tracked.protocol} {key}, asked the tracking server)",
        ]
    resolved = location.resolved
    shown = resolved.redacted()
    rows = [
        {"option": path, "value": option_value(shown, path, resolved.secrets), "source": source}
        for path, source in resolved.sources.items()
    ]
    data.update(
        url=shown["url"],
        implementation=resolved.row.client.impl,
        storage_options=shown["storage_options"],
        options=rows,
    )
    lines += [f"fsspec URL      {data['url']}", f"implementation  {data['implementation']}"]
    if resolved.engine:
        data["engine"] = resolved.engine
        lines.append(f"engine          {resolved.engine}")
    data["profile"] = shown.get("profile")
    lines.append(f"matched         {data['profile'] or 'no profile'}")
    if location.cache is not None:
        data["cache_dir"] = location.cache.directory
        lines.append(f"read cache      {location.cache.directory}")
    lines.append("options         (each as set by the layer that won)" if rows else "options         none")
    width = max((len(row["option"]) for row in rows), default=0)
    for row in rows:
        lines.append(f"  {row['option']:<{width}} = {row['value']!r:<30} from {row['source']}")
    return {**data, "text": "\n".join(lines)}
