"""The pure parts of acknowledging by SMS: Twilio's request signature and the "ACK" reply."""

import pytest

from collector.api.sms_inbound import parse_ack, twilio_signature, verify_twilio_signature

# Twilio's own published example (twilio-python's request validator tests).
TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {"CallSid": "CA1234567890ABCDE", "Digits": "1234", "From": "+14158675309",
          "To": "+18005551212", "Caller": "+14158675309"}
SIGNED = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_signature_matches_twilios_example() -> None:
    assert twilio_signature(URL, PARAMS.items(), TOKEN) == SIGNED
    assert verify_twilio_signature(URL, PARAMS.items(), SIGNED, TOKEN)


@pytest.mark.parametrize(("url", "signature"), [
    (URL.replace(".com", ".com:1234"), SIGNED),  # signed without the port we were called on
    (URL, "kvajT1Ptam85bY51eRf/AJRuM3w="),  # signed with the default port :443 spelt out
    (URL.replace(".com", ".com:1234").replace("https", "http"), "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="),
    (URL.replace("https", "http"), "0ZXoZLH/DfblKGATFgpif+LLRf4="),  # signed with :80
])
def test_a_port_added_or_removed_by_a_proxy_still_verifies(url: str, signature: str) -> None:
    assert verify_twilio_signature(url, PARAMS.items(), signature, TOKEN)


@pytest.mark.parametrize(("url", "params", "signature", "token"), [
    (URL, PARAMS.items(), SIGNED, "54321"),  # another account's token
    (URL, {**PARAMS, "Digits": "1235"}.items(), SIGNED, TOKEN),  # a parameter changed
    (URL, {**PARAMS, "Body": "ACK 1"}.items(), SIGNED, TOKEN),  # a parameter added
    (URL.replace("foo=1", "foo=2"), PARAMS.items(), SIGNED, TOKEN),  # the query changed
    (URL.replace("myapp", "other"), PARAMS.items(), SIGNED, TOKEN),  # another path
    (URL, PARAMS.items(), "", TOKEN),  # no signature at all
])
def test_anything_altered_fails(url: str, params, signature: str, token: str) -> None:
    assert not verify_twilio_signature(url, params, signature, token)


@pytest.mark.parametrize(("body", "case"), [
    ("ACK 1234", 1234), ("ack 1234", 1234), ("Ack #1234", 1234), ("  ACK   #7 \n", 7),
    ("ACK1234", 1234), ("ack#12", 12),
    ("ACK", None), ("ACK 12a", None), ("ACK 1234 thanks", None), ("OK 1234", None),
    ("1234", None), ("ACK -5", None), ("ACK 1234567890", None), ("", None),
])
def test_the_reply_names_one_case(body: str, case: int | None) -> None:
    assert parse_ack(body) == case
