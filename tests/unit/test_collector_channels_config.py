"""collector.toml and escalation.toml with channels, people's contact points, roles and on-call
schedules: what loads, and every mistake refused with the file, the key and the reason."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from alerting.notifiers.email import SmtpSettings
from alerting.policy import Channel, MessageKind, Policy
from collector.cli import write_starter
from collector.config import CollectorConfig, load_config
from watchkeeper.tomlconf import ConfigError

TEMPLATES = Path(__file__).parents[2] / "collector" / "templates"
PD_KEY = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY12"

SMS = """
[channel.sms]
base_url = "http://127.0.0.1:9"
account_sid = "AC0123"
auth_token_file = "twilio.token"
from_number = "+15005550006"
"""
PAGERDUTY = """
[channel.pagerduty]
url = "http://127.0.0.1:9"
routing_key_file = "pagerduty.key"
"""
STAFF = """
[[person]]
name = "alice"
email = "alice@noc.example"

[[person]]
name = "bob"
email = "bob@noc.example"
"""


def starter(directory: Path) -> Path:
    path = write_starter(directory, listen_port=8470, public_url="https://noc.example",
                         smtp_port=2525)
    (directory / "twilio.token").write_text("f00dface" * 4 + "\n")
    (directory / "pagerduty.key").write_text(PD_KEY + "\n")
    return path


def edit(directory: Path, file: str, old: str, new: str) -> None:
    path = directory / file
    text = path.read_text()
    assert old in text, f"{old!r} is not in {file}"
    path.write_text(text.replace(old, new, 1))


def append(directory: Path, file: str, text: str) -> None:
    with (directory / file).open("a") as fh:
        fh.write(text)


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    return [str(p).removeprefix(str(path.parent) + "/") for p in refused.value.problems]


def test_the_starter_still_reads_smtp_as_the_email_channel(tmp_path: Path) -> None:
    config = load_config(starter(tmp_path))
    assert config.smtp == SmtpSettings("127.0.0.1", 2525, False, None, None,
                                       "watchkeeper@noc.example", 10.0)
    assert config.channel("email").settings == config.smtp
    assert config.channels == {}
    assert config.person("ops-manager").channels == ("email",)
    assert config.schedules == () and config.oncall == tmp_path.resolve() / "oncall.toml"


def test_channel_email_is_the_same_table_under_its_new_name(tmp_path: Path) -> None:
    path = starter(tmp_path)
    edit(tmp_path, "collector.toml", "[smtp]", "[channel.email]")
    assert load_config(path).smtp.port == 2525


def test_every_commented_channel_in_the_starter_loads(tmp_path: Path) -> None:
    path = starter(tmp_path)
    for name in ("ntfy.token", "slack.url"):
        (tmp_path / name).write_text("tk_abc\n" if name == "ntfy.token" else
                                     "https://hooks.slack.com/services/T0/B0/x\n")
    text = path.read_text()
    for table in ("sms", "pagerduty", "ntfy", "webhook"):
        block = re.search(rf"^# \[channel\.{table}\]\n(#.*\n)+", text, re.MULTILINE)
        assert block, table
        shown = "\n".join(line.removeprefix("# ").split("   #")[0]
                          for line in block.group(0).splitlines() if line != "#")
        text = text.replace(block.group(0), shown.replace('"AC..."', '"AC0123"') + "\n")
    path.write_text(text)
    assert sorted(load_config(path).channels) == ["ntfy", "pagerduty", "sms", "webhook"]


def test_people_roles_schedules_and_their_targets_load(tmp_path: Path) -> None:
    path = starter(tmp_path)
    append(tmp_path, "collector.toml", SMS + PAGERDUTY + STAFF + """
[[person]]
name = "carol"
phone = "+447700900123"
ntfy_topic = "carol-pager"
channels = ["pagerduty", "sms"]

[[role]]
name = "directors"
members = ["carol", "bob"]
""")
    shutil.copyfile(TEMPLATES / "oncall.toml", tmp_path / "oncall.toml")
    append(tmp_path, "collector.toml", """
[[person]]
name = "dan"
email = "dan@noc.example"
[[person]]
name = "erin"
email = "erin@noc.example"
[[person]]
name = "femi"
email = "femi@noc.example"
""")
    append(tmp_path, "escalation.toml", """
[[policy]]
name = "ladder"
severities = [3]
tiers = ["gold"]

[[policy.step]]
after = "0m"
notify = ["schedule:ops-managers/secondary", "role:directors"]

[[policy.step]]
after = "90s"
notify = ["contact:technical", "person:carol"]
channels = ["sms", "email"]
message = "status"
""")
    config = load_config(path)
    assert config.person("carol").channels == ("pagerduty", "sms")
    assert [s.name for s in config.schedules] == ["ops-managers", "noc"]
    ladder = config.policies[-1]
    assert ladder.steps[1].after == 90 and ladder.steps[1].channels == (Channel.SMS,
                                                                        Channel.EMAIL)
    assert ladder.steps[0].channels == ()  # each recipient's own order


@pytest.mark.parametrize(("collector", "escalation", "expected"), [
    ('[[person]]\nname = "zed"\nchannels = ["carrier-pigeon"]\n', None,
     "collector.toml: person[2].channels: 'carrier-pigeon' is not a channel this collector has"
     " (channels: email, sms, pagerduty, ntfy, webhook)"),
    ('[[person]]\nname = "zed"\nemail = "zed@noc.example"\nchannels = ["sms"]\n', None,
     "collector.toml: person[2].channels: 'sms' is not a channel this collector has: there is"
     " no [channel.sms]"),
    ('[[person]]\nname = "zed"\nphone = "07700 900123"\n', None,
     "collector.toml: person[2].phone: '07700 900123' is not a phone number in E.164 form"
     " (+ country code, digits)"),
    (SMS + '[[person]]\nname = "zed"\nemail = "zed@noc.example"\nchannels = ["sms"]\n', None,
     "collector.toml: person[2].channels: 'sms': there is no phone to reach them by sms"),
    ('[[person]]\nname = "zed"\n', None,
     "collector.toml: person[2].email: is required: without `channels`, messages go by email"),
    ('[[person]]\nname = "zed"\nemail = "zed at noc"\n', None,
     "collector.toml: person[2].email: 'zed at noc' is not a mail address"),
    ('[[person]]\nname = "ops-manager"\nemail = "x@noc.example"\n', None,
     "collector.toml: person: person 'ops-manager' is defined twice"),
    ('[channel.pigeon]\nspeed = "fast"\n', None,
     "collector.toml: channel.pigeon: no such channel; there are email, sms, pagerduty, ntfy,"
     " webhook"),
    ('[channel.email]\nhost = "127.0.0.1"\n', None,
     "collector.toml: smtp: [smtp] is the older name of [channel.email]; keep only"
     " [channel.email]"),
    ('[[role]]\nname = "directors"\nmembers = ["ops-manager", "zed"]\n', None,
     "collector.toml: role[0].members: 'zed': no [[person]] named 'zed'"),
    (PAGERDUTY, ('channels = ["email"]\nwhile = "always"\nmessage = "notice"',
                 'channels = ["pagerduty"]\nwhile = "always"\nmessage = "notice"'),
     "escalation.toml: policy[0].step[1].channels: pagerduty cannot carry notice messages"
     " (it carries page, summary, acknowledged, resolved)"),
    ("", ('channels = ["email"]', 'channels = ["sms", "email"]'),
     "escalation.toml: policy[0].step[1].channels: 'sms' is not a channel this collector has:"
     " the collector's configuration has no [channel.sms]"),
    ("", ('notify = ["person:vp-operations"]', 'notify = ["role:directors"]'),
     "escalation.toml: policy[0].step[2].notify: 'role:directors': no [[role]] named"
     " 'directors'"),
    ("", ('notify = ["person:vp-operations"]', 'notify = ["schedule:noc/primary"]'),
     "escalation.toml: policy[0].step[2].notify: 'schedule:noc/primary': there is no schedule"
     " 'noc' (schedules: none)"),
    ("", ('notify = ["person:vp-operations"]', 'notify = ["vp-operations"]'),
     "escalation.toml: policy[0].step[2].notify: 'vp-operations': targets are 'person:NAME',"
     " 'role:NAME', 'schedule:NAME' or 'schedule:NAME/LAYER', or 'contact:ROLE'"),
    (SMS, ('channels = ["email"]\nwhile = "always"',
           'channels = ["sms"]\nwhile = "always"'),
     "escalation.toml: policy[0].step[1].notify: 'contact:technical': nothing reaches Acme IT"
     " with a notice message (Acme IT has no phone for sms)"),
    (PAGERDUTY + '[[person]]\nname = "pd-only"\nchannels = ["pagerduty"]\n',
     ('notify = ["person:vp-operations"]\nwhile = "unacknowledged"\nmessage = "page"',
      'notify = ["person:pd-only"]\nwhile = "always"\nmessage = "status"'),
     "escalation.toml: policy[0].step[2].notify: 'person:pd-only': nothing reaches pd-only with"
     " a status message (pagerduty does not carry status messages)"),
])
def test_a_mistake_names_the_file_and_key(tmp_path: Path, collector: str,
                                          escalation: tuple[str, str] | None,
                                          expected: str) -> None:
    path = starter(tmp_path)
    append(tmp_path, "collector.toml", "\n" + collector)
    if escalation is not None:
        edit(tmp_path, "escalation.toml", *escalation)
    assert expected in problems(path)


def test_an_inline_smtp_password_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = starter(tmp_path)
    edit(tmp_path, "collector.toml", 'from_address = "watchkeeper@noc.example"',
         'from_address = "watchkeeper@noc.example"\npassword = "hunter2"')
    assert problems(path) == [
        "collector.toml: smtp.password: passwords are no longer kept in this file: write it to a"
        " file only the collector can read and name that file in password_file"]


def test_a_named_oncall_file_must_exist(tmp_path: Path) -> None:
    path = starter(tmp_path)
    edit(tmp_path, "collector.toml", '# oncall = "oncall.toml"', 'oncall = "rota.toml"')
    assert problems(path) == [f"collector.toml: collector.oncall: {tmp_path.resolve()}/rota.toml"
                              " does not exist"]


def test_a_broken_schedule_file_is_not_blamed_on_the_policies(tmp_path: Path) -> None:
    path = starter(tmp_path)
    append(tmp_path, "collector.toml", STAFF)
    (tmp_path / "oncall.toml").write_text(
        '[[schedule]]\nname = "noc"\ntime_zone = "Mars/Olympus"\n[[schedule.layer]]\n'
        'name = "primary"\nmembers = ["alice"]\nrotation = "daily"\nstart = "2027-01-01"\n')
    edit(tmp_path, "escalation.toml", 'notify = ["person:vp-operations"]',
         'notify = ["schedule:noc"]')
    (only,) = problems(path)
    assert only.startswith("oncall.toml: schedule[0].time_zone: 'Mars/Olympus' is not a time"
                           " zone")


def test_a_snapshot_taken_before_channels_still_runs() -> None:
    """Cases opened by an older collector carry the email-only policy JSON."""
    old = ('{"name": "severity-1", "severities": [1], "tiers": [], "steps": [{"after": 0.0,'
           ' "notify": ["person:ops-manager"], "channels": ["email"], "condition":'
           ' "unacknowledged", "message": "page", "repeat": null}]}')
    (step,) = Policy.from_snapshot(old).steps
    assert (step.channels, step.message) == ((Channel.EMAIL,), MessageKind.PAGE)
    assert Policy.from_snapshot(Policy.from_snapshot(old).snapshot()) == Policy.from_snapshot(old)


def test_config_exposes_people_through_the_directory(tmp_path: Path) -> None:
    config: CollectorConfig = load_config(starter(tmp_path))
    assert [p.name for p in config.people] == ["ops-manager", "vp-operations"]
    assert config.directory.contacts["acme"][0].label == "Acme IT"
