"""ClamAV's signature age read from a database built by ClamAV's own sigtool.

Needs the Debian packages clamav (sigtool); freshclam's download is not needed, nor
possible in CI: sigtool builds an unsigned database with the same header freshclam's
daily.cvd has.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from agent.samplers import SamplerContext
from agent.samplers._antivirus_linux import HEADER_BYTES, parse_header
from agent.samplers.antivirus import AntivirusSampler, AntivirusSettings

pytestmark = pytest.mark.skipif(shutil.which("sigtool") is None,
                                reason="needs ClamAV's sigtool (Debian package clamav)")

EICAR_MD5 = "44d88612fea8a8f36de82e1278abb02f"


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real daily database, as sigtool writes it."""
    build = tmp_path_factory.mktemp("build")
    (build / "COPYING").write_text("test signatures for watchkeeper\n")
    (build / "daily.hdb").write_text(f"{EICAR_MD5}:68:Eicar-Test-Signature\n")
    subprocess.run(["sigtool", f"--datadir={build}", "--build=daily.cud", "--unsigned",
                    "--cvd-version=27450", "--no-cdiff"], cwd=build, input="watchkeeper\n",
                   capture_output=True, text=True, check=True, timeout=60)
    return build / "daily.cud"


def sigtool_build_time(path: Path) -> float:
    """The build time as ClamAV itself reads it ("Build time: 22 Nov 2026 01:46 +0000")."""
    info = subprocess.run(["sigtool", f"--info={path}"], capture_output=True, text=True,
                          check=True, timeout=60).stdout
    found = re.search(r"^Build time: (.+)$", info, re.MULTILINE)
    assert found, info
    return datetime.strptime(found.group(1).strip(), "%d %b %Y %H:%M %z").timestamp()


def test_build_time_agrees_with_sigtools_reading_of_the_header(database: Path) -> None:
    built = parse_header(database.read_bytes()[:HEADER_BYTES])
    assert built is not None
    # sigtool shows minutes; the header's seconds field is within that minute.
    assert 0 <= built - sigtool_build_time(database) < 60


def test_sampler_reports_the_age_of_the_database_in_days(database: Path,
                                                         tmp_path: Path) -> None:
    directory = tmp_path / "clamav"
    directory.mkdir()
    # freshclam's name for it; the header is the same in a .cud and a .cvd.
    shutil.copy(database, directory / "daily.cvd")
    built = parse_header(database.read_bytes()[:HEADER_BYTES])
    assert built is not None
    sampler = AntivirusSampler.create(AntivirusSettings(clamav_database=directory),
                                      SamplerContext(tmp_path, "srv1"))
    (sample,) = sampler.collect(built + 2.5 * 86400)
    assert sample.metric == "av.signature_age_days"
    assert sample.labels == {"product": "clamav"}
    assert sample.value == pytest.approx(2.5)
