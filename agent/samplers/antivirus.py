"""Antivirus health: enabled, real-time protection, signature age, and detections.

The product depends on the platform, chosen in `platform_product` only: Microsoft
Defender on Windows (`_antivirus_windows`: status from Get-MpComputerStatus, detections
from its event channel as `Event`s), ClamAV's signature databases on Linux
(`_antivirus_linux`). Samples are labelled `product` ("defender", "clamav") and carry only
what the product really has: ClamAV, an on-demand scanner, has no "enabled" switch.

A host without the product yields nothing; a product that is there but cannot be read
(Defender's cmdlet failing for another reason, ClamAV without any database) fails the run.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from agent.samplers import Configurable, Observation, SamplerContext, register
from watchkeeper.tomlconf import Table


@dataclass(frozen=True, slots=True)
class AntivirusSettings:
    clamav_database: Path | None = None
    """ClamAV's DatabaseDirectory; None: /var/lib/clamav, where its absence means "no
    ClamAV". Once set, a missing directory is an error."""


class Product(Protocol):
    """The platform's antivirus, as `_antivirus_<platform>.product` builds it."""

    def collect(self, now: float) -> Sequence[Observation]: ...


def platform_product(settings: AntivirusSettings, ctx: SamplerContext) -> Product:
    # Imported here: only this platform's module is loaded (and with it, on Windows, the
    # event-log reader); the agent on Linux never imports the Defender code.
    if sys.platform == "win32":
        from agent.samplers._antivirus_windows import product
    else:
        from agent.samplers._antivirus_linux import product
    return product(settings, ctx)


@register("antivirus")
class AntivirusSampler(Configurable):
    name = "antivirus"
    interval = 900.0

    def __init__(self, product: Product) -> None:
        self.product = product

    @classmethod
    def configure(cls, t: Table) -> AntivirusSettings:
        # Optional with no default value: Table.str(name, None) would call a missing key
        # "not a string", so it is read only when present.
        database = t.str("clamav_database") if "clamav_database" in t.data else None
        if database is not None:
            if not Path(database).is_absolute():
                t.problem("clamav_database", f"{database!r} is not an absolute path")
            elif not Path(database).is_dir():
                t.problem("clamav_database", f"{database!r} is not a directory")
        t.done()
        return AntivirusSettings(clamav_database=Path(database) if database else None)

    @classmethod
    def create(cls, settings: AntivirusSettings | None,
               ctx: SamplerContext) -> AntivirusSampler:
        return cls(platform_product(settings or AntivirusSettings(), ctx))

    def collect(self, now: float) -> list[Observation]:
        return list(self.product.collect(now))
