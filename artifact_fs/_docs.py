"""The README's URI and settings tables, generated from the scheme table.

``python -m artifact_fs._docs`` prints them; ``python -m artifact_fs._docs --write README.md``
rewrites the marked sections in place. A test fails when the README has drifted.
"""

from __future__ import annotations

import re
import sys

from .backends import BUILTIN_SCHEMES_VAR, SCHEMES
from .profiles import PROFILES_VAR
from .settings import BUDGET_SETTINGS, ENGINE_VAR, TRANSFER_SETTINGS


def _option(path: str) -> str:
    channel, sep, rest = path.partition(":")
    return f"`{rest}` (per {channel})" if sep else f"`{path}`"


def _converter_name(parse) -> str:
    return getattr(parse, "__name__", "str").lstrip("_")


def schemes_markdown() -> str:
    """A Markdown table: MLflow scheme → accepted URI forms, fsspec protocol, package."""
    lines = ["| scheme | accepted forms | fsspec protocol | implementation | install |", "|---|---|---|---|---|"]
    for row in SCHEMES:
        name = f"`{row.name}`" if row.name else "(plain path)"
        extra = f"`artifact_fs[{row.client.extra}]`" if row.client.extra else "built in"
        lines.append(f"| {name} | {row.uri.form} | `{row.client.protocol}` | `{row.client.impl}` | {extra} |")
    return "\n".join(lines)


def _engine(row) -> bool:
    """A row whose alternatives are picked by ``ARTIFACT_FS_ENGINE`` (their settings are on docs/engines.md)."""
    return row.variant_var == ENGINE_VAR


def _settings_rows(rows) -> list[str]:
    """Table lines: each (variable, option, converter...) once, with the schemes that read it."""
    merged: dict[tuple, list[str]] = {}
    for label, row in rows:
        for s in row.client.settings:
            key = (s.var, s.option, _converter_name(s.parse), s.secret, s.unless, s.doc)
            merged.setdefault(key, []).append(label)
    lines = ["| variable | schemes | becomes | value | notes |", "|---|---|---|---|---|"]
    for (var, option, parse, secret, unless, doc), schemes in merged.items():
        notes = [doc] if doc else []
        if secret:
            notes.append("secret: redacted everywhere")
        if unless:
            notes.append("ignored when " + ", ".join(f"`{u}`" for u in unless) + " is set")
        lines.append(f"| `{var}` | {', '.join(schemes)} | {_option(option)} | {parse} | {'; '.join(notes)} |")
    return lines


def settings_markdown() -> str:
    """A Markdown table: environment variable → storage option, per scheme, in precedence order
    (the default engine's rows; the obstore engine's are on docs/engines.md)."""
    rows = [(row.name, row) for row in SCHEMES]
    rows += [(f"{row.name} ({n})", alt) for row in SCHEMES if not _engine(row) for n, alt in row.alternatives.items()]
    lines = _settings_rows(rows)
    lines += [
        (
            f"| `{BUILTIN_SCHEMES_VAR}` | all | (registry) | comma list or `*` | schemes left to MLflow's own "
            f"repositories |"
        ),
        (
            f"| `{PROFILES_VAR}` | all | (profiles) | path; `none` = off | the profiles file (default "
            f"`$XDG_CONFIG_HOME/artifact_fs/profiles.toml`) |"
        ),
    ]
    lines += [f"| `{s.var}` | all | (transfers) | {_converter_name(s.parse)} | {s.doc} |" for s in TRANSFER_SETTINGS]
    lines += [
        f"| `{s.var}` | all | {_option(s.option)} | {_converter_name(s.parse)} | {s.doc} |" for s in BUDGET_SETTINGS
    ]
    switches: dict[tuple, list[str]] = {}
    for row in SCHEMES:
        if row.variant_var and row.alternatives:
            key = (row.variant_var, row.preferred or row.variant, row.variant, *row.alternatives)
            switches.setdefault(key, []).append(row.name)
    for (var, default, *choices), names in switches.items():
        shown = ", ".join(f"`{c}`" for c in choices)
        note = f"default `{default}`"
        lines.append(
            f"| `{var}` | {', '.join(sorted(names))} | (client) | {shown} | {note}{_preferred_note(default)} |"
        )
    return "\n".join(lines)


def _preferred_note(default: str) -> str:
    if default == "obstore":
        return " where it is installed and honours every setting given, else `fsspec` (docs/engines.md)"
    return ""


def engine_settings_markdown() -> str:
    """The obstore engine's settings table (docs/engines.md), in the same form."""
    rows = [(row.name, alt) for row in SCHEMES if _engine(row) for alt in row.alternatives.values()]
    return "\n".join(_settings_rows(rows))


SECTIONS = {"schemes": schemes_markdown, "settings": settings_markdown, "engine-settings": engine_settings_markdown}


def render_into(text: str) -> str:
    """``text`` with every ``<!-- NAME:start -->…<!-- NAME:end -->`` section regenerated."""
    for name, render in SECTIONS.items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
        table = render()
        text = pattern.sub(lambda m, table=table: m.group(1) + table + "\n" + m.group(2), text)
    return text


def main(argv: list[str]) -> int:
    """Print the tables, or rewrite them into the file named after ``--write``."""
    if argv[:1] == ["--write"] and len(argv) == 2:
        with open(argv[1], encoding="utf-8") as handle:
            text = handle.read()
        rendered = render_into(text)  # before opening for writing: a failure keeps the file
        with open(argv[1], "w", encoding="utf-8") as handle:
            handle.write(rendered)
        return 0
    print(schemes_markdown() + "\n\n" + settings_markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
