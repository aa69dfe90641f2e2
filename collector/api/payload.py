"""Turning a request body into a validated report, with errors that say what and where.

Pure: bytes in, a typed Report or a PayloadError out.
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass
from typing import Any

from rules.model import MAX_MESSAGE, Event, EventLevel, Sample, Transition, TransitionKind

MAX_SAMPLES = 20_000
MAX_TRANSITIONS = 1_000
MAX_EVENTS = 5_000
MAX_LABELS = 16
MAX_TEXT = 256
# An inventory of a host with thousands of packages is a few hundred KiB of JSON.
MAX_INVENTORY_BYTES = 1 << 20
MAX_HASH = 64
_HEX = frozenset("0123456789abcdefABCDEF")
_LEVELS = ", ".join(level.value for level in EventLevel)


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


def _scrub(v: Any) -> Any:
    """Replace lone surrogates, which UTF-8 (hence SQLite) cannot store, with "?"."""
    if isinstance(v, str):
        return v.encode("utf-8", "replace").decode("utf-8")
    if isinstance(v, list):
        return [_scrub(x) for x in v]
    if isinstance(v, dict):
        return {_scrub(k): _scrub(x) for k, x in v.items()}
    return v


def parse_json(raw: bytes) -> Any:
    try:
        # Decode first: json.loads on bytes would also accept UTF-16 and UTF-32.
        text = raw.decode("utf-8")
        doc = json.loads(text, parse_constant=_reject_constant)
        # JSON may spell a lone surrogate as an escape (a badly decoded event message, say):
        # storing it would fail the whole report. Only a \uD... escape can make one, so the
        # walk runs only when the text has one; a valid pair (an emoji, say) is left as it is.
        return _scrub(doc) if "\\ud" in text or "\\uD" in text else doc
    except RecursionError:
        raise PayloadError(400, "the JSON is nested too deeply") from None
    except UnicodeDecodeError:
        raise PayloadError(400, "the body is not UTF-8 text") from None
    except ValueError as exc:
        raise PayloadError(400, f"the body is not valid JSON: {exc}") from None


@dataclass(frozen=True, slots=True)
class InventoryDoc:
    """The device's configuration document. `hash` is the agent's digest of `doc`: the
    collector compares it with the device's previous one to tell a change from a repeat."""

    at: float
    hash: str
    doc: dict[str, Any]

    def text(self) -> str:
        """The document as stored: compact, keys sorted. ASCII-escaped, so a lone surrogate
        (legal in JSON, not in UTF-8) is stored as its escape instead of failing the insert."""
        return json.dumps(self.doc, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Dropped:
    """What the agent's full spool threw away just before this report was made."""

    samples: int = 0
    events: int = 0
    transitions: int = 0
    reports: int = 0

    @property
    def any(self) -> bool:
        return (self.samples, self.events, self.transitions, self.reports) != (0, 0, 0, 0)

    def describe(self) -> str:
        """'120 samples, 1 event': the non-zero counts, for a log line or the CLI."""
        return ", ".join(f"{n} {what if n != 1 else what[:-1]}" for n, what in (
            (self.samples, "samples"), (self.events, "events"),
            (self.transitions, "transitions"), (self.reports, "reports")) if n) or "nothing"


@dataclass(frozen=True, slots=True)
class Report:
    seq: int
    sent_at: float
    samples: tuple[Sample, ...]
    transitions: tuple[Transition, ...]
    rules_version: str | None
    # Older agents send none of these.
    events: tuple[Event, ...] = ()
    inventory: InventoryDoc | None = None
    dropped: Dropped = Dropped()


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


def _string(d: dict, key: str, path: str, limit: int) -> str:
    """Like _text, but empty is allowed: an event may have no source or no message."""
    v = d.get(key)
    if not isinstance(v, str) or len(v) > limit:
        raise _fail(f"{path}.{key}", f"must be a string of at most {limit} characters")
    return v


def _count(d: dict, key: str, path: str, top: int) -> int:
    v = d.get(key, 0)
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= top:
        raise _fail(f"{path}.{key}", f"must be a whole number from 0 to {top}, got {v!r}"[:200])
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
                  version, _events(doc), _inventory(doc.get("inventory")),
                  _dropped(doc.get("dropped")))


def _events(doc: dict) -> tuple[Event, ...]:
    events = []
    for i, e in enumerate(_list(doc, "events", MAX_EVENTS)):
        path = f"events[{i}]"
        if not isinstance(e, dict):
            raise _fail(path, "must be an object")
        try:
            level = EventLevel(e.get("level"))
        except ValueError:
            raise _fail(f"{path}.level", f"must be one of {_LEVELS}") from None
        events.append(Event(
            _number(e, "at", path), _text(e, "log", path), _string(e, "source", path, MAX_TEXT),
            _count(e, "id", path, 2**32 - 1), level,
            _string(e, "message", path, MAX_MESSAGE)))
    return tuple(events)


def _inventory(v: Any) -> InventoryDoc | None:
    if v is None:
        return None
    if not isinstance(v, dict):
        raise _fail("inventory", "must be an object with at, hash and doc, or null")
    digest = v.get("hash")
    if not isinstance(digest, str) or not 0 < len(digest) <= MAX_HASH or not _HEX.issuperset(
            digest):
        raise _fail("inventory.hash", f"must be a hexadecimal string of at most {MAX_HASH}"
                                      " characters")
    doc = v.get("doc")
    if not isinstance(doc, dict):
        raise _fail("inventory.doc", "must be an object")
    inventory = InventoryDoc(_number(v, "at", "inventory"), digest.lower(), doc)
    size = len(inventory.text().encode())
    if size > MAX_INVENTORY_BYTES:
        raise PayloadError(413, f"inventory.doc: {size} bytes of JSON, more than the"
                                f" {MAX_INVENTORY_BYTES} allowed")
    return inventory


def _dropped(v: Any) -> Dropped:
    if v is None:
        return Dropped()
    if not isinstance(v, dict):
        raise _fail("dropped", "must be an object of counts")
    # A missing count is 0; unknown keys are ignored, like unknown report fields, so a newer
    # agent counting something more is not refused.
    top = 2**63 - 1
    return Dropped(samples=_count(v, "samples", "dropped", top),
                   events=_count(v, "events", "dropped", top),
                   transitions=_count(v, "transitions", "dropped", top),
                   reports=_count(v, "reports", "dropped", top))
