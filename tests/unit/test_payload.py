import gzip
import json

import pytest

from collector.api.payload import PayloadError, gunzip, parse_json, parse_report


def test_gunzip_refuses_a_body_that_inflates_past_the_limit() -> None:
    bomb = gzip.compress(b"0" * 10_000_000)  # ~10 KB that inflates to 10 MB
    with pytest.raises(PayloadError) as err:
        gunzip(bomb, limit=1_000_000)
    assert err.value.status == 413 and "inflates to more than 1000000" in str(err.value)


@pytest.mark.parametrize(("body", "words"), [
    (b'{"seq": 1}', "not gzip"),
    (gzip.compress(b"{}")[:-6], "truncated"),
    (b"\x1f\x8b" + b"garbage" * 5, "corrupt"),
    (gzip.compress(b"{}") + gzip.compress(b"{}"), "after the gzip stream"),
])
def test_gunzip_names_the_problem(body: bytes, words: str) -> None:
    with pytest.raises(PayloadError, match=words):
        gunzip(body, limit=1000)


@pytest.mark.parametrize(("raw", "words"), [
    (b"{not json", "not valid JSON"),
    (b'{"seq": NaN}', "not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b"\xff\xfe", "not UTF-8"),
])
def test_bad_json_is_a_400_naming_why(raw: bytes, words: str) -> None:
    with pytest.raises(PayloadError, match=words) as err:
        parse_json(raw)
    assert err.value.status == 400


GOOD = {"seq": 3, "sent_at": 1.0, "samples": [
    {"metric": "cpu.percent", "value": 5, "at": 1.0, "labels": {"core": "0"}}]}


@pytest.mark.parametrize(("change", "path"), [
    ({"seq": -1}, "seq"),
    ({"seq": True}, "seq"),
    ({"sent_at": "now"}, "report.sent_at"),
    ({"samples": [{"metric": "", "value": 1, "at": 1}]}, r"samples\[0\].metric"),
    ({"samples": [{"metric": "m", "value": "high", "at": 1}]}, r"samples\[0\].value"),
    ({"samples": [{"metric": "m", "value": 1, "at": 1, "labels": {"a": 1}}]},
     r"samples\[0\].labels"),
    ({"transitions": [{"rule": "r", "state": "burning", "at": 1, "value": 1, "severity": 2,
                       "summary": "s"}]}, r"transitions\[0\].state"),
    ({"transitions": [{"rule": "r", "state": "firing", "at": 1, "value": 1, "severity": 7,
                       "summary": "s"}]}, r"transitions\[0\].severity"),
])
def test_schema_errors_name_the_field(change: dict, path: str) -> None:
    with pytest.raises(PayloadError, match=f"^{path}: "):
        parse_report({**GOOD, **change})


def test_a_good_report_parses() -> None:
    report = parse_report(json.loads(json.dumps(GOOD)))
    assert report.seq == 3 and report.samples[0].labels == {"core": "0"}
