"""What a device's configuration inventory says, and what changed between two versions.

Pure: documents in, summaries and differences out. The document is the one the agent's
inventory sampler builds (agent/samplers/inventory.py `document`); these parts have a
meaning here, and any of them may be missing, which reads as "unknown":

    os        {"name": "Debian GNU/Linux 12 (bookworm)", "version": "12",
               "kernel": "6.1.0-18-amd64", ...}
    hardware  {"cpu_model": "...", "cpu_physical": 8, "cpu_logical": 16,
               "memory_bytes": 34359738368, "disks": [{"mount": "/", ...}], ...}
    software  {"manager": "dpkg", "packages": [{"name": "openssl", "version": "3.0.11-1",
               "arch": "amd64"}, ...]}

Every other field is compared too, value by value, so a change is reported even in a part of
the document this module does not know (hostname, boot time, a field added later).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alerting.messages import when

# Keys that name an item of a list (an interface by name, a disk by mount point), so that a
# list that gains an item in the middle is read as one addition rather than as every later
# item changing.
_ITEM_KEYS = ("name", "mount", "device", "id")
GIB = 1024**3


@dataclass(frozen=True, slots=True)
class Summary:
    os: str | None
    kernel: str | None
    cpu: str | None
    memory_bytes: int | None
    packages: int | None
    package_manager: str | None


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One value: `old` is None when it appeared, `new` is None when it went away."""

    path: str
    old: str | None
    new: str | None

    def describe(self) -> str:
        if self.old is None:
            return f"{self.path}: added, {self.new}"
        if self.new is None:
            return f"{self.path}: removed (was {self.old})"
        return f"{self.path}: {self.old} -> {self.new}"


@dataclass(frozen=True, slots=True)
class PackageChange:
    name: str
    old: str | None
    new: str | None


@dataclass(frozen=True, slots=True)
class InventoryDiff:
    added: tuple[PackageChange, ...]
    removed: tuple[PackageChange, ...]
    # The version changed. Mostly upgrades, but versions are not ordered here: dpkg, rpm and
    # Windows each order them differently, and a downgrade is worth the same look.
    upgraded: tuple[PackageChange, ...]
    os: tuple[FieldChange, ...]
    hardware: tuple[FieldChange, ...]
    other: tuple[FieldChange, ...]

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.upgraded or self.os or self.hardware
                    or self.other)


def _get(doc: Mapping[str, Any], *path: str) -> Any:
    value: Any = doc
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _str(value: Any) -> str | None:
    return str(value) if isinstance(value, str | int | float) and value != "" else None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _package_list(doc: Mapping[str, Any]) -> list[Mapping[str, Any]] | None:
    raw = _get(doc, "software", "packages")
    return [p for p in raw if isinstance(p, Mapping)] if isinstance(raw, list) else None


def packages(doc: Mapping[str, Any]) -> dict[str, str] | None:
    """name -> version, or None when the document lists no software. A name installed more
    than once (two kernels, libc6 for two architectures) reads as its versions joined, each
    with its architecture where they differ."""
    listed = _package_list(doc)
    if listed is None:
        return None
    found: dict[str, list[tuple[str, str]]] = {}
    for p in listed:
        if (name := _str(p.get("name"))) is not None:
            found.setdefault(name, []).append((_str(p.get("version")) or "",
                                               _str(p.get("arch")) or ""))
    out = {}
    for name, entries in found.items():
        several_arches = len({arch for _, arch in entries}) > 1
        out[name] = ", ".join(sorted(f"{version} ({arch})" if several_arches and arch
                                     else version for version, arch in entries))
    return out


def summarise(doc: Mapping[str, Any]) -> Summary:
    name, version = _str(_get(doc, "os", "name")), _str(_get(doc, "os", "version"))
    # The name is often the pretty one that already holds the version ("Ubuntu 22.04.4 LTS").
    os_text = name if not version or (name and version in name) else \
        f"{name or 'unknown OS'} ({version})"
    model = _str(_get(doc, "hardware", "cpu_model"))
    counts = [f"{n} {what}" for n, what in (
        (_count(_get(doc, "hardware", "cpu_physical")), "cores"),
        (_count(_get(doc, "hardware", "cpu_logical")), "threads")) if n is not None]
    cpu = ", ".join([model or "unknown model", *counts]) if counts else model
    listed = _package_list(doc)
    return Summary(
        os=os_text, kernel=_str(_get(doc, "os", "kernel")), cpu=cpu,
        memory_bytes=_count(_get(doc, "hardware", "memory_bytes")),
        packages=None if listed is None else len(listed),
        package_manager=_str(_get(doc, "software", "manager")))


def gib(n: int) -> str:
    return f"{n / GIB:.1f} GiB"


def _show(path: str, value: Any) -> str:
    if path.endswith("_bytes") and _count(value) is not None:
        return gib(value)
    if path.endswith("_time") and _count(value) is not None:
        return when(value)
    return value if isinstance(value, str) else json.dumps(value)


def _item_key(item: Any, index: int) -> str:
    if isinstance(item, Mapping):
        for key in _ITEM_KEYS:
            if _str(item.get(key)) is not None:
                return str(item[key])
        return str(index)
    return str(item)  # a list of plain values is a set: its items name themselves


def _flatten(value: Any, path: str, out: dict[str, str]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(item, f"{path}.{key}" if path else str(key), out)
    elif isinstance(value, list):
        seen: set[str] = set()
        for index, item in enumerate(value):
            key = _item_key(item, index)
            if key in seen:  # two items of one name: keep both, told apart by position
                key = f"{key}#{index}"
            seen.add(key)
            _flatten(item, f"{path}[{key}]", out)
    else:
        out[path] = _show(path, value)


def _top(path: str) -> str:
    return path.split(".", 1)[0].split("[", 1)[0]


def _values(doc: Mapping[str, Any]) -> dict[str, str]:
    """Every value by its path, but the packages, which are compared as packages."""
    software = doc.get("software")
    if _package_list(doc) is not None and isinstance(software, Mapping):
        doc = {**doc, "software": {k: v for k, v in software.items() if k != "packages"}}
    out: dict[str, str] = {}
    _flatten(doc, "", out)
    return out


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> InventoryDiff:
    """What changed from `old` to `new`, each part sorted by name."""
    was, now = packages(old) or {}, packages(new) or {}
    before, after = _values(old), _values(new)
    fields = [FieldChange(path, before.get(path), after.get(path))
              for path in sorted(before.keys() | after.keys())
              if before.get(path) != after.get(path)]
    return InventoryDiff(
        added=tuple(PackageChange(n, None, now[n]) for n in sorted(now.keys() - was.keys())),
        removed=tuple(PackageChange(n, was[n], None) for n in sorted(was.keys() - now.keys())),
        upgraded=tuple(PackageChange(n, was[n], now[n]) for n in sorted(was.keys() & now.keys())
                       if was[n] != now[n]),
        os=tuple(f for f in fields if _top(f.path) == "os"),
        hardware=tuple(f for f in fields if _top(f.path) == "hardware"),
        other=tuple(f for f in fields if _top(f.path) not in ("os", "hardware")),
    )


def describe(d: InventoryDiff) -> list[str]:
    """The changes as lines for a person: OS first, then hardware, packages, the rest."""
    lines = [f.describe() for f in (*d.os, *d.hardware)]
    lines += [f"package added: {p.name} {p.new}" for p in d.added]
    lines += [f"package removed: {p.name} {p.old}" for p in d.removed]
    lines += [f"package upgraded: {p.name} {p.old} -> {p.new}" for p in d.upgraded]
    lines += [f.describe() for f in d.other]
    return lines
