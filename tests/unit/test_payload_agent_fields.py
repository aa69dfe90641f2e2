"""The report fields agents send besides samples: events, inventory and spool drops."""

from __future__ import annotations

import json

import pytest

from collector.api.payload import (
    MAX_EVENTS,
    MAX_INVENTORY_BYTES,
    Dropped,
    PayloadError,
    parse_json,
    parse_report,
)
from rules.model import Event, EventLevel

BASE = {"seq": 9, "sent_at": 1_800_000_000.0, "samples": [], "transitions": [],
        "samplers": [], "rules_version": "abc"}
EVENT = {"at": 1_800_000_000.5, "log": "System", "source": "Service Control Manager",
         "id": 7034, "level": "error",
         "message": "The Print Spooler service terminated unexpectedly."}
INVENTORY = {"at": 1_800_000_000.0, "hash": "9f86d081884c7d659a2feaa0c55ad015",
             "doc": {"os": {"name": "Ubuntu 22.04.4 LTS", "version": "22.04"}}}


def parse(**fields: object):
    # Through JSON, as the collector receives it.
    return parse_report(json.loads(json.dumps({**BASE, **fields})))


def test_a_report_from_an_older_agent_without_the_new_fields_still_parses() -> None:
    report = parse_report({"seq": 1, "sent_at": 5.0, "samples": []})
    assert report.events == () and report.inventory is None and report.dropped == Dropped()
    assert not report.dropped.any


def test_events_inventory_and_drops_parse_into_their_types() -> None:
    report = parse(events=[EVENT, {**EVENT, "source": "", "message": "", "id": 0,
                                   "level": "critical"}],
                   inventory=INVENTORY,
                   dropped={"samples": 120, "events": 3, "transitions": 0, "reports": 2})
    assert report.events[0] == Event(1_800_000_000.5, "System", "Service Control Manager", 7034,
                                     EventLevel.ERROR, EVENT["message"])
    assert report.events[1].level is EventLevel.CRITICAL and report.events[1].source == ""
    assert report.inventory is not None
    assert report.inventory.hash == INVENTORY["hash"]
    assert report.inventory.doc == INVENTORY["doc"] and report.inventory.at == 1_800_000_000.0
    assert report.dropped == Dropped(samples=120, events=3, transitions=0, reports=2)
    assert report.dropped.describe() == "120 samples, 3 events, 2 reports"


def test_an_explicit_null_inventory_means_none_sent() -> None:
    assert parse(inventory=None).inventory is None


def test_missing_drop_counts_are_zero_and_unknown_ones_are_ignored() -> None:
    assert parse(dropped={"events": 1, "inventories": 4}).dropped == Dropped(events=1)


def test_a_hash_in_capitals_is_stored_in_lower_case() -> None:
    report = parse(inventory={**INVENTORY, "hash": "ABCDEF01"})
    assert report.inventory is not None and report.inventory.hash == "abcdef01"


def test_a_lone_surrogate_in_an_event_message_is_replaced_not_refused() -> None:
    # Legal JSON, but not storable as UTF-8: a badly decoded message must not lose the report.
    raw = json.dumps({**BASE, "events": [{**EVENT, "message": "bad \ud800 byte \U0001f600"}],
                      "inventory": {**INVENTORY, "doc": {"os": {"name": "\udcff"}}}})
    assert "\\ud800" in raw and "\\ud83d\\ude00" in raw  # as an agent's json.dumps sends them
    report = parse_report(parse_json(raw.encode()))
    assert report.events[0].message == "bad ? byte \U0001f600"
    assert report.inventory is not None and report.inventory.doc == {"os": {"name": "?"}}


@pytest.mark.parametrize(("change", "path"), [
    ({"events": {"a": 1}}, "events"),
    ({"events": ["x"]}, r"events\[0\]"),
    ({"events": [EVENT, {**EVENT, "level": "notice"}]}, r"events\[1\].level"),
    ({"events": [{**EVENT, "level": None}]}, r"events\[0\].level"),
    ({"events": [{**EVENT, "at": "yesterday"}]}, r"events\[0\].at"),
    ({"events": [{**EVENT, "log": ""}]}, r"events\[0\].log"),
    ({"events": [{**EVENT, "log": "L" * 257}]}, r"events\[0\].log"),
    ({"events": [{**EVENT, "source": "S" * 257}]}, r"events\[0\].source"),
    ({"events": [{**EVENT, "source": None}]}, r"events\[0\].source"),
    ({"events": [{**EVENT, "id": -1}]}, r"events\[0\].id"),
    ({"events": [{**EVENT, "id": 2**32}]}, r"events\[0\].id"),
    ({"events": [{**EVENT, "id": True}]}, r"events\[0\].id"),
    ({"events": [{**EVENT, "id": 1.5}]}, r"events\[0\].id"),
    ({"events": [{**EVENT, "message": "m" * 2001}]}, r"events\[0\].message"),
    ({"events": [{**EVENT, "message": 42}]}, r"events\[0\].message"),
    ({"inventory": "Ubuntu"}, "inventory"),
    ({"inventory": {**INVENTORY, "hash": "not-hex"}}, r"inventory.hash"),
    ({"inventory": {**INVENTORY, "hash": ""}}, r"inventory.hash"),
    ({"inventory": {**INVENTORY, "hash": "a" * 65}}, r"inventory.hash"),
    ({"inventory": {**INVENTORY, "doc": ["os"]}}, r"inventory.doc"),
    ({"inventory": {**INVENTORY, "at": None}}, r"inventory.at"),
    ({"dropped": 5}, "dropped"),
    ({"dropped": {"samples": -1}}, r"dropped.samples"),
    ({"dropped": {"reports": "2"}}, r"dropped.reports"),
    ({"dropped": {"events": False}}, r"dropped.events"),
])
def test_each_bad_field_is_a_400_naming_its_path(change: dict, path: str) -> None:
    with pytest.raises(PayloadError, match=f"^{path}: ") as err:
        parse(**change)
    assert err.value.status == 400


def test_the_level_error_lists_the_levels_there_are() -> None:
    with pytest.raises(PayloadError) as err:
        parse(events=[{**EVENT, "level": "notice"}])
    assert str(err.value) == ("events[0].level: must be one of critical, error, warning, info,"
                              " debug")


def test_too_many_events_is_a_413() -> None:
    with pytest.raises(PayloadError, match=f"^events: {MAX_EVENTS + 1} entries") as err:
        parse(events=[EVENT] * (MAX_EVENTS + 1))
    assert err.value.status == 413


def test_an_inventory_document_past_the_size_limit_is_a_413_naming_it() -> None:
    packages = [{"name": f"pkg{i}", "version": "1.0" * 20} for i in range(20_000)]
    with pytest.raises(PayloadError, match=r"^inventory\.doc: \d+ bytes of JSON, more than"
                                           r" the 1048576 allowed$") as err:
        parse(inventory={**INVENTORY, "doc": {"packages": packages}})
    assert err.value.status == 413
    assert len(json.dumps(packages)) > MAX_INVENTORY_BYTES
