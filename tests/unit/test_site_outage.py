"""When the silence of a site's devices stands for the site's: one outage, one case."""

from __future__ import annotations

import pytest

from alerting.site_outage import SiteDevice, site_verdict

INTERVAL, GRACE = 60.0, 30.0
SPAN = INTERVAL + GRACE
CUT = 10_000.0  # the site's link goes down


def device(n: int, last_seen: float) -> SiteDevice:
    return SiteDevice(f"d{n}", last_seen, last_seen + INTERVAL + GRACE)


def site(silent: int, total: int, long_dead: int = 0) -> list[SiteDevice]:
    """`silent` devices cut off at CUT, each last heard at its own point of its cycle; the
    rest keep reporting; `long_dead` went silent a day before."""
    cut = [device(i, CUT - 6 * i) for i in range(silent)]
    alive = [device(100 + i, CUT + 400) for i in range(total - silent - long_dead)]
    dead = [device(200 + i, CUT - 86_400) for i in range(long_dead)]
    return cut + alive + dead


# The first of them goes down five missed heartbeats after its last report.
NOW = CUT + 5 * INTERVAL + GRACE


@pytest.mark.parametrize(("silent", "total", "long_dead", "out"), [
    (8, 10, 0, True),    # most of the site
    (6, 10, 0, True),
    (5, 10, 0, False),   # half is not most
    (2, 10, 0, False),
    (3, 3, 0, True),     # a whole small site
    (2, 2, 0, False),    # too few devices to vouch for a site
    (4, 10, 4, True),    # 4 of the 6 that were reporting; the long dead say nothing
    (2, 4, 2, False),    # only 2 were reporting: below the minimum
])
def test_most_of_a_site_silent_together_is_a_site_outage(silent: int, total: int,
                                                         long_dead: int, out: bool) -> None:
    devices = site(silent, total, long_dead)
    verdict = site_verdict(devices, "d0", NOW, SPAN)
    assert verdict.out is out
    assert len(verdict.silent) == silent
    assert verdict.counted == total - long_dead


def test_devices_not_yet_down_count_once_they_have_missed_a_deadline() -> None:
    # When the first device is declared down the others cut off with it are still only late:
    # they count, so the site case opens at once instead of after a page per device.
    devices = site(6, 10)
    first = max(devices[:6], key=lambda d: CUT - d.last_seen)  # heard from earliest
    verdict = site_verdict(devices, first.id, first.last_seen + 5 * INTERVAL + GRACE, SPAN)
    assert verdict.out
    assert verdict.silent[0] == first.id and verdict.since == first.last_seen


def test_a_device_that_has_not_missed_a_deadline_yet_does_not_count() -> None:
    devices = site(6, 10)
    # Down after one missed deadline: the others of the outage have not missed theirs yet.
    verdict = site_verdict(devices, "d5", devices[5].silent_from, SPAN)
    assert verdict.silent == ("d5",) and not verdict.out


def test_silence_outside_one_heartbeat_window_is_another_outage() -> None:
    # Six devices silent, but three of them an hour earlier: two events of three, not most.
    devices = [device(i, CUT) for i in range(3)] + [device(3 + i, CUT - 3600) for i in
                                                      range(3)] + \
              [device(100 + i, CUT + 400) for i in range(4)]
    verdict = site_verdict(devices, "d0", NOW, SPAN)
    assert verdict.silent == ("d0", "d1", "d2")
    assert verdict.counted == 7  # the three silent since an hour were down already
    assert not verdict.out


def test_threshold_and_minimum_are_parameters() -> None:
    devices = site(3, 10)
    assert not site_verdict(devices, "d0", NOW, SPAN).out
    assert site_verdict(devices, "d0", NOW, SPAN, threshold_fraction=0.25).out
    assert not site_verdict(site(3, 3), "d0", NOW, SPAN, min_devices=4).out
