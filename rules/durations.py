"""Human durations ("90s", "5m", "2h", "1d") used by rule and configuration files."""

from __future__ import annotations

import math
import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def parse_duration(value: object) -> float:
    """Seconds for a duration string or a number of seconds; ValueError names what is wrong."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as '90s' or '5m', got {value!r}")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"a duration must be a finite number of seconds from 0, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a duration such as '90s' or '5m', got {value!r}")
    text = value.strip().lower()
    pos, total = 0, 0.0
    for m in _PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not text or pos != len(text):
        raise ValueError(
            f"{value!r} is not a duration; use a number with s, m, h or d, such as '90s' or '1h30m'"
        )
    return total


def format_duration(seconds: float) -> str:
    """The shortest readable form: 300 -> '5m', 5400 -> '1h30m', 1.5 -> '1.5s'."""
    if seconds < 60 and seconds != int(seconds):
        return f"{seconds:g}s"
    rest = round(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts) or "0s"
