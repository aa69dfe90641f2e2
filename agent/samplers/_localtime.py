"""Time stamps written without a zone or in English words, as log files and tools write them.

Shared by the samplers that read such stamps (`_logfiles`, `_backup_rsnapshot`,
`_backup_borg`, `_antivirus_linux`), so each reads them by the same rule.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
"""English month abbreviations, whatever the agent's locale (strptime's %b follows LC_TIME)."""


def local_timestamp(stamp: datetime, tz: tzinfo | None) -> float:
    """Epoch seconds of `stamp`; one without a zone is in `tz`, or in the host's own zone
    when `tz` is None (where the program that wrote it runs)."""
    if stamp.tzinfo is None and tz is not None:
        stamp = stamp.replace(tzinfo=tz)
    return stamp.timestamp()
