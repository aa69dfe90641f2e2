"""The one place the samplers choose platform-specific code (STYLE habit 3).

Each `_*_linux.py` / `_*_windows.py` pair shares one signature; logic modules import from
here and never test `sys.platform` themselves. Named with a leading underscore so it does
not read as (or shadow) the standard library's `platform`.
"""

from __future__ import annotations

import sys

if sys.platform == "win32":
    from agent.samplers._system_volume_windows import system_mount
else:
    from agent.samplers._system_volume_linux import system_mount

__all__ = ["system_mount"]
