"""Value converters of the settings rows: each turns one environment value into one option
value, knows nothing about any backend, and raises ValueError with a plain reason. A converter
signals "emit nothing for this value" by returning :data:`SKIP`."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

SKIP = object()  #: a converter's way to say "this value sets no option"

Converter = Callable[[str], Any]

_TRUE, _FALSE = {"true", "1"}, {"false", "0"}


def as_bool(value: str) -> bool:
    """MLflow's boolean grammar: ``true``/``false``/``1``/``0``, any case."""
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"expected one of true, false, 1, 0; got {value!r}")


def false_when_true(value: str) -> Any:
    """``true`` becomes ``False`` (e.g. "ignore TLS" → ``verify=False``); ``false`` sets nothing."""
    return False if as_bool(value) else SKIP


def true_when_true(value: str) -> Any:
    """``true`` becomes ``True``; ``false`` sets nothing."""
    return True if as_bool(value) else SKIP


def as_int(value: str) -> int:
    """A base-10 integer."""
    try:
        return int(value.strip())
    except ValueError:
        raise ValueError(f"expected an integer, got {value!r}") from None


def as_non_negative_int(value: str) -> int:
    """An integer of zero or more."""
    number = as_int(value)
    if number < 0:
        raise ValueError(f"expected an integer of 0 or more, got {value!r}")
    return number


def as_positive_int(value: str) -> int:
    """An integer above zero."""
    number = as_int(value)
    if number <= 0:
        raise ValueError(f"expected a positive integer, got {value!r}")
    return number


def multiple_of(step: int) -> Converter:
    """A positive integer that is a multiple of ``step`` (GCS chunk sizes: 256 KiB)."""

    def parse(value: str) -> int:
        number = as_positive_int(value)
        if number % step:
            raise ValueError(f"expected a multiple of {step}, got {number}")
        return number

    parse.__name__ = f"multiple_of_{step}"
    return parse


def as_timeout(value: str) -> float | None:
    """Seconds as a positive number; ``-1`` means no timeout (``None``), as MLflow's GCS."""
    try:
        seconds = float(value.strip())
    except ValueError:
        raise ValueError(f"expected a number of seconds, got {value!r}") from None
    if not math.isfinite(seconds):
        raise ValueError(f"expected a finite number of seconds or -1, got {value!r}")
    if seconds == -1:
        return None
    if seconds <= 0:
        raise ValueError(f"expected a positive number of seconds or -1, got {value!r}")
    return int(seconds) if seconds.is_integer() else seconds


def as_millis_text(value: str) -> str:
    """Seconds (as :func:`as_timeout`) as milliseconds in text, Hadoop's unit; ``-1`` → ``"0"`` (none)."""
    seconds = as_timeout(value)
    return "0" if seconds is None else str(max(1, round(seconds * 1000)))


def as_json_object(value: str) -> dict:
    """A JSON object (``MLFLOW_S3_UPLOAD_EXTRA_ARGS``)."""
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON ({exc.msg} at position {exc.pos})") from None
    if not isinstance(parsed, dict):
        raise ValueError(f"expected a JSON object, got {type(parsed).__name__}")
    return parsed


def as_key_value_pairs(value: str) -> dict[str, str]:
    """``k=v,k2=v2`` into a dict (``MLFLOW_PYARROW_EXTRA_CONF``)."""
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        key, sep, val = item.partition("=")
        if not sep or not key:
            raise ValueError(f"expected k=v pairs separated by commas, got {item!r}")
        pairs[key.strip()] = val.strip()
    return pairs


def one_of(*choices: str) -> Converter:
    """One of a fixed set of words (case-insensitive), returned lower-cased."""

    def parse(value: str) -> str:
        lowered = value.strip().lower()
        if lowered not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}; got {value!r}")
        return lowered

    parse.__name__ = "one_of_" + "_".join(choices)
    return parse


def except_word(word: str) -> Converter:
    """The value as is, unless it is ``word`` (then nothing is set)."""

    def parse(value: str) -> Any:
        return SKIP if value.strip().lower() == word else value.strip()

    parse.__name__ = f"except_{word}"
    return parse


def constant(result: Any) -> Converter:
    """``result`` whenever the variable is set (a knob implied by another setting)."""

    def parse(value: str) -> Any:
        return result

    parse.__name__ = f"always_{result}"
    return parse


def only_word(word: str, result: Any) -> Converter:
    """``result`` when the value is ``word``, otherwise nothing."""

    def parse(value: str) -> Any:
        return result if value.strip().lower() == word else SKIP

    parse.__name__ = f"only_{word}"
    return parse
