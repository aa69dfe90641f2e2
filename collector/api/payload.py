"""Turning a request body into a validated report, with errors that say what and where.

Pure: bytes in, a typed Report or a PayloadError out.
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass
from typing import Any

from rules.model import Sample, Transition, TransitionKind

MAX_SAMPLES = 20_000
MAX_TRANSITIONS = 1_000
MAX_LABELS = 16
MAX_TEXT = 256


class PayloadError(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def gunzip(body: bytes, limit: int) -> bytes:
    """Inflate a gzip body without ever holding more than `limit` bytes of output."""
    if body[:2] != b"\x1f\x8b":
        raise PayloadError(400, "the body is not gzip-compressed (send it gzipped, with"
                                " Content-Encoding: gzip)")
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise PayloadError(400, f"the gzip body is corrupt: {exc}") from None
    if len(out) > limit:
        raise PayloadError(413, f"the report inflates to more than {limit} bytes, the limit")
    if not inflater.eof:
        raise PayloadError(400, "the gzip body is truncated")
    if inflater.unused_data:
        raise PayloadError(400, "the body holds data after the gzip stream (one member only)")
    return out


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def parse_json(raw: bytes) -> Any:
    try:
        # Decode first: json.loads on bytes would also accept UTF-16 and UTF-32.
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except RecursionError:
        raise PayloadError(400, "the JSON is nested too deeply") from None
    except UnicodeDecodeError:
        raise PayloadError(400, "the body is not UTF-8 text") from None
    except ValueError as exc:
        raise PayloadError(400, f"the body is not valid JSON: {exc}") from None


@dataclass(frozen=True, slots=True)
class Report:
    seq: int
    sent_at: float
    samples: tuple[Sample, ...]
    transitions: tuple[Transition, ...]
    rules_version: str | None


def _fail(path: str, reason: str) -> PayloadError:
    return PayloadError(400, f"{path}: {reason}")


def _number(d: dict, key: str, path: str) -> float:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise _fail(f"{path}.{key}", f"must be a finite number, got {v!r}"[:200])
    return float(v)


def _text(d: dict, key: str, path: str, limit: int = MAX_TEXT) -> str:
    v = d.get(key)
    if not isinstance(v, str) or not v or len(v) > limit:
        raise _fail(f"{path}.{key}", f"must be a non-empty string of at most {limit} characters")
    return v


def _labels(d: dict, path: str) -> dict[str, str]:
    v = d.get("labels", {})
    if not isinstance(v, dict) or len(v) > MAX_LABELS or not all(
            isinstance(k, str) and isinstance(x, str) and len(k) <= 64 and len(x) <= MAX_TEXT
            for k, x in v.items()):
        raise _fail(f"{path}.labels", f"must map at most {MAX_LABELS} names to short strings")
    return v


def _list(d: dict, key: str, limit: int) -> list:
    v = d.get(key, [])
    if not isinstance(v, list):
        raise _fail(key, "must be a list")
    if len(v) > limit:
        raise PayloadError(413, f"{key}: {len(v)} entries, more than the {limit} allowed")
    return v


def parse_report(doc: Any) -> Report:
    if not isinstance(doc, dict):
        raise _fail("report", "must be a JSON object")
    seq = doc.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq < 2**63:
        raise _fail("seq", f"must be a whole number from 0, got {seq!r}"[:200])
    samples = []
    for i, s in enumerate(_list(doc, "samples", MAX_SAMPLES)):
        path = f"samples[{i}]"
        if not isinstance(s, dict):
            raise _fail(path, "must be an object")
        samples.append(Sample(_text(s, "metric", path), _number(s, "value", path),
                              _number(s, "at", path), _labels(s, path)))
    transitions = []
    for i, t in enumerate(_list(doc, "transitions", MAX_TRANSITIONS)):
        path = f"transitions[{i}]"
        if not isinstance(t, dict):
            raise _fail(path, "must be an object")
        try:
            kind = TransitionKind(t.get("state"))
        except ValueError:
            raise _fail(f"{path}.state", "must be 'firing' or 'resolved'") from None
        severity = t.get("severity")
        if severity not in (1, 2, 3) or isinstance(severity, bool):
            raise _fail(f"{path}.severity", "must be 1, 2 or 3")
        transitions.append(Transition(
            _text(t, "rule", path), kind, _number(t, "at", path), _number(t, "value", path),
            severity, _text(t, "summary", path, 1000), _labels(t, path)))
    version = doc.get("rules_version")
    if version is not None and not isinstance(version, str):
        raise _fail("rules_version", "must be a string")
    return Report(seq, _number(doc, "sent_at", "report"), tuple(samples), tuple(transitions),
                  version)
