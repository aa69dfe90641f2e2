import pytest

from alerting.acklink import AckClaim, AckLinkError, AckLinkExpired, new_link_id, sign, verify

KEY = b"k" * 32


def claim(case_id: int = 1, recipient: str = "a", expires: float = 2000,
          link_id: str = "L1") -> AckClaim:
    return AckClaim(case_id, recipient, expires, link_id)


def test_round_trip() -> None:
    token = sign(KEY, claim(42, "ops-manager"))
    assert verify(KEY, token, now=1999) == AckClaim(42, "ops-manager", 2000, "L1")


def test_expired_link_is_refused_and_names_its_case() -> None:
    with pytest.raises(AckLinkExpired, match="case #7 has expired"):
        verify(KEY, sign(KEY, claim(7)), now=2001)


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),   # flipped signature
    lambda t: "x" + t,                                   # altered claim
    lambda t: t.split(".")[0],                           # signature cut off
    lambda t: "",
])
def test_tampered_link_is_refused(mangle) -> None:
    with pytest.raises(AckLinkError):
        verify(KEY, mangle(sign(KEY, claim())), now=1000)


def test_every_byte_of_the_link_is_covered() -> None:
    token = sign(KEY, claim())
    for i in range(len(token)):
        flipped = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]
        with pytest.raises(AckLinkError):
            verify(KEY, flipped, now=1000)


def test_link_for_one_case_cannot_name_another() -> None:
    token = sign(KEY, claim(1))
    forged_body = sign(b"other key", claim(2)).split(".")[0]
    with pytest.raises(AckLinkError):
        verify(KEY, forged_body + "." + token.split(".")[1], now=1000)


def test_a_link_signed_with_another_key_is_refused() -> None:
    with pytest.raises(AckLinkError):
        verify(KEY, sign(b"o" * 32, claim()), now=1000)


def test_link_ids_are_random_and_short() -> None:
    ids = {new_link_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 16 for i in ids)
