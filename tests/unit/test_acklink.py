import pytest

from alerting.acklink import AckClaim, AckLinkError, AckLinkExpired, sign, verify

KEY = b"k" * 32


def test_round_trip() -> None:
    token = sign(KEY, AckClaim(42, "ops-manager", 2000))
    assert verify(KEY, token, now=1999) == AckClaim(42, "ops-manager", 2000)


def test_expired_link_is_refused() -> None:
    with pytest.raises(AckLinkExpired):
        verify(KEY, sign(KEY, AckClaim(1, "a", 2000)), now=2001)


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),   # flipped signature
    lambda t: "x" + t,                                   # altered claim
    lambda t: t.split(".")[0],                           # signature cut off
    lambda t: "",
])
def test_tampered_link_is_refused(mangle) -> None:
    with pytest.raises(AckLinkError):
        verify(KEY, mangle(sign(KEY, AckClaim(1, "a", 2000))), now=1000)


def test_link_for_one_case_cannot_name_another() -> None:
    token = sign(KEY, AckClaim(1, "a", 2000))
    forged_body = sign(b"other key", AckClaim(2, "a", 2000)).split(".")[0]
    with pytest.raises(AckLinkError):
        verify(KEY, forged_body + "." + token.split(".")[1], now=1000)
