import pytest

from collector.heartbeats import DeviceStatus, HeartbeatPolicy, intake_since, liveness

SEED = HeartbeatPolicy(interval=900, grace=0, missed_before_case=10)  # 15 min, 10 in a row
FAST = HeartbeatPolicy(interval=60, grace=30, missed_before_case=5)


@pytest.mark.parametrize(("silent_for", "status", "missed"), [
    (0, DeviceStatus.UP, 0),
    (89, DeviceStatus.UP, 0),          # inside interval + grace
    (90, DeviceStatus.LATE, 1),        # first deadline: 60 + 30
    (149, DeviceStatus.LATE, 1),
    (150, DeviceStatus.LATE, 2),
    (329, DeviceStatus.LATE, 4),
    (330, DeviceStatus.DOWN, 5),       # fifth deadline: 5 * 60 + 30
    (10_000, DeviceStatus.DOWN, 166),
])
def test_status_from_silence(silent_for: float, status: DeviceStatus, missed: int) -> None:
    lv = liveness(last_seen=1000, intake_since=0, policy=FAST, now=1000 + silent_for)
    assert (lv.status, lv.missed) == (status, missed)


def test_down_after_ten_missed_fifteen_minute_checks() -> None:
    assert liveness(0, 0, SEED, now=9 * 900).status is DeviceStatus.LATE
    assert liveness(0, 0, SEED, now=10 * 900 - 1).status is DeviceStatus.LATE
    assert liveness(0, 0, SEED, now=10 * 900).status is DeviceStatus.DOWN


def test_next_deadline_is_the_next_missed_check() -> None:
    assert liveness(1000, 0, FAST, now=1000).next_deadline == 1090
    assert liveness(1000, 0, FAST, now=1095).next_deadline == 1150
    assert liveness(1000, 0, FAST, now=1400).next_deadline is None  # down: nothing more due


def test_collector_downtime_is_not_the_devices_fault() -> None:
    # Device last seen at 1000; the collector was down and came back at 5000.
    lv = liveness(last_seen=1000, intake_since=5000, policy=FAST, now=5089)
    assert lv.status is DeviceStatus.UP
    assert lv.next_deadline == 5090
    assert liveness(1000, 5000, FAST, now=5000 + FAST.window).status is DeviceStatus.DOWN


@pytest.mark.parametrize(("started", "last_alive", "expected"), [
    (5000, None, 0.0),    # first start ever: nothing was missed because of us
    (5000, 4990, 0.0),    # a quick restart keeps counting, so restarts cannot hide a dead device
    (5000, 4000, 5000),   # down for 1000 s: deadlines restart from our start
])
def test_intake_since_only_after_a_real_outage(started: float, last_alive: float | None,
                                                expected: float) -> None:
    assert intake_since(started, last_alive, grace=30) == expected
