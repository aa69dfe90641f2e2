"""Email against a real aiosmtpd relay that requires STARTTLS (or implicit TLS) and AUTH."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from alerting.notifiers.base import DeliveryError, Kind
from alerting.notifiers.email import EmailNotifier, SmtpSettings
from tests.peers import ACK_URL, SmtpPeer, channel_settings, notification
from watchkeeper.clock import FakeClock
from watchkeeper.demo import free_port

T0 = 1_800_000_000.0


def settings(tmp_path: Path, cert: Path, port: int, password: str = "correct horse battery"
             " staple", mode: str = "starttls = true") -> SmtpSettings:
    (tmp_path / "smtp.password").write_text(password + "\n")
    (tmp_path / "ca.crt").write_bytes(cert.read_bytes())
    return channel_settings("email", f"""
        [channel.email]
        host = "127.0.0.1"
        port = {port}
        {mode}
        username = "watchkeeper"
        password_file = "smtp.password"
        from_address = "noc@watchkeeper.example"
        ca_file = "ca.crt"
        timeout = "5s"
        """, tmp_path)


def port_of(relay: SmtpPeer) -> int:
    assert relay.controller is not None
    return relay.controller.port


async def failure(settings: SmtpSettings, address: str = "ops@noc.example") -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        await EmailNotifier(settings, FakeClock(T0)).send(notification(address=address))
    return caught.value


async def test_page_is_delivered_over_starttls_with_auth(tmp_path: Path, relay: SmtpPeer,
                                                         cert: tuple[Path, Path]) -> None:
    s = settings(tmp_path, cert[0], port_of(relay))
    done = await EmailNotifier(s, FakeClock(T0)).send(notification(address="ops@noc.example"))
    assert "Ok: queued as Q0001" in done.reply
    (mail,) = relay.mails
    assert (mail.login, mail.tls, mail.rcpt_tos) == ("watchkeeper", True, ["ops@noc.example"])
    msg = mail.message
    assert msg["Subject"] == "[watchkeeper] PAGE Severity 1 case #12: srv1 is down (acme)"
    assert msg["To"] == "ops-manager <ops@noc.example>"
    assert msg["From"] == "watchkeeper <noc@watchkeeper.example>"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Message-ID"].endswith("@watchkeeper>") and msg["References"]
    assert ACK_URL in msg.get_content()


async def test_a_resend_carries_the_same_message_id(tmp_path: Path, relay: SmtpPeer,
                                                    cert: tuple[Path, Path]) -> None:
    notifier = EmailNotifier(settings(tmp_path, cert[0], port_of(relay)), FakeClock(T0))
    for _ in range(2):
        await notifier.send(notification(address="ops@noc.example"))
    await notifier.send(notification(Kind.STATUS, key="12:3:1:contact:technical:Acme IT:email",
                                     address="it@acme.example"))
    ids = [m.message["Message-ID"] for m in relay.mails]
    assert ids[0] == ids[1] != ids[2]
    # ... and every message about the case threads under one root.
    assert len({m.message["References"] for m in relay.mails}) == 1


# aiosmtpd warns that AUTH does not require TLS: it counts only STARTTLS, and here the whole
# connection is TLS.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_implicit_tls_on_the_smtps_port(tmp_path: Path, cert: tuple[Path, Path]) -> None:
    peer = SmtpPeer("watchkeeper", "correct horse battery staple")
    port = peer.start(*cert, implicit_tls=True)
    try:
        s = settings(tmp_path, cert[0], port, mode="tls = true")
        await EmailNotifier(s, FakeClock(T0)).send(notification(address="ops@noc.example"))
    finally:
        peer.stop()
    assert [(m.login, m.tls) for m in peer.mails] == [("watchkeeper", True)]


async def test_wrong_password_is_permanent_and_not_repeated(tmp_path: Path, relay: SmtpPeer,
                                                            cert: tuple[Path, Path]) -> None:
    err = await failure(settings(tmp_path, cert[0], port_of(relay), password="hunter2-wrong"))
    assert not err.retryable
    assert "refused the login: 535" in str(err)
    assert "hunter2-wrong" not in str(err)
    assert relay.mails == []


async def test_server_down_is_retryable(tmp_path: Path, cert: tuple[Path, Path]) -> None:
    err = await failure(settings(tmp_path, cert[0], free_port()))
    assert err.retryable
    assert "cannot reach mail server 127.0.0.1" in str(err)


@pytest.mark.parametrize(("address", "retryable", "said"), [
    ("nobody@noc.example", False, "550 5.1.1"),  # unknown user: the same tomorrow
    ("greylist@noc.example", True, "451 4.7.1"),  # greylisting: try again later
])
async def test_recipient_refusals_by_reply_code(tmp_path: Path, relay: SmtpPeer,
                                                cert: tuple[Path, Path], address: str,
                                                retryable: bool, said: str) -> None:
    err = await failure(settings(tmp_path, cert[0], port_of(relay)), address=address)
    assert err.retryable is retryable
    assert said in str(err) and address in str(err)


async def test_without_starttls_the_relay_refuses_for_good(tmp_path: Path, relay: SmtpPeer,
                                                           cert: tuple[Path, Path]) -> None:
    # The relay offers AUTH only inside TLS; a configuration without TLS cannot log in.
    err = await failure(settings(tmp_path, cert[0], port_of(relay), mode=""))
    assert not err.retryable
    assert relay.mails == []


async def test_an_untrusted_certificate_is_permanent(tmp_path: Path, relay: SmtpPeer,
                                                     cert: tuple[Path, Path]) -> None:
    err = await failure(replace(settings(tmp_path, cert[0], port_of(relay)), ca_file=None))
    assert not err.retryable
    assert "certificate not trusted" in str(err)


HEADERS = {"From", "To", "Subject", "Date", "Message-ID", "References", "Auto-Submitted",
           "Content-Type", "Content-Transfer-Encoding", "MIME-Version"}


@pytest.mark.parametrize(("title", "shown"), [
    ("srv\r\nBcc: x@evil.example", "srv  Bcc: x@evil.example"),
    # Unpatched CPython decodes this encoded word and writes its line break raw.
    ("=?UTF-8?Q?srv=0ABcc:_x@evil.example?=", "= ?UTF-8?Q?srv=0ABcc:_x@evil.example?="),
])
async def test_a_hostile_device_name_adds_no_header_and_the_page_still_goes(
        tmp_path: Path, relay: SmtpPeer, cert: tuple[Path, Path], title: str,
        shown: str) -> None:
    s = settings(tmp_path, cert[0], port_of(relay))
    await EmailNotifier(s, FakeClock(T0)).send(notification(
        address="ops@noc.example", title=title, subject=f"[watchkeeper] {title}"))
    (mail,) = relay.mails
    assert mail.rcpt_tos == ["ops@noc.example"]
    assert set(mail.message.keys()) == HEADERS
    assert mail.message["Subject"] == f"[watchkeeper] {shown}"
