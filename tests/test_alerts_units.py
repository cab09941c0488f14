"""Alert payload parsing, secrets, and the alerts.yaml settings, without a server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.alerts import auth
from bot.alerts.payloads import PayloadError, parse_alertmanager, parse_event, parse_grafana
from playbooks.alerts import AlertSettings
from playbooks.loader import PlaybookError, load_playbook

pytestmark = pytest.mark.kind("unit")

# Captured from Alertmanager 0.25 (Debian's prometheus-alertmanager): a firing group of two alerts.
CAPTURED = json.loads("""{"receiver": "bot", "status": "firing", "alerts": [{"status": "firing", "labels":
{"alertname": "DiskFull", "instance": "db-1:9100", "service": "db", "severity": "warning"}, "annotations":
{"description": "Root fs nearly full", "summary": "Disk 95% full on db-1"}, "startsAt":
"2026-11-28T16:31:18.4461884Z", "endsAt": "0001-01-01T00:00:00Z", "generatorURL":
"http://127.0.0.1:9090/graph?g0.expr=disk", "fingerprint": "8eeb995829cc09a5"}, {"status": "firing", "labels":
{"alertname": "DiskFull", "instance": "db-2:9100", "service": "db", "severity": "warning"}, "annotations":
{"description": "Root fs nearly full", "summary": "Disk 97% full on db-2"}, "startsAt":
"2026-11-28T16:31:18.4461884Z", "endsAt": "0001-01-01T00:00:00Z", "generatorURL":
"http://127.0.0.1:9090/graph?g0.expr=disk", "fingerprint": "c8446ea9814ae2b0"}], "groupLabels": {"alertname":
"DiskFull", "service": "db"}, "commonLabels": {"alertname": "DiskFull", "service": "db", "severity": "warning"},
"commonAnnotations": {"description": "Root fs nearly full"}, "externalURL": "http://vm:9093", "version": "4",
"groupKey": "{}:{alertname=\\"DiskFull\\", service=\\"db\\"}", "truncatedAlerts": 0}""")


def test_captured_alertmanager_payload() -> None:
    batch = parse_alertmanager(CAPTURED)
    assert batch.group_key == '{}:{alertname="DiskFull", service="db"}'
    assert batch.title == "DiskFull (service=db)"
    first = batch.alerts[0]
    assert first.fingerprint == "8eeb995829cc09a5" and first.ends_at is None and first.status == "firing"
    assert first.starts_at is not None and first.starts_at.microsecond == 446188
    assert first.summary == "Disk 95% full on db-1" and first.name == "DiskFull"
    assert parse_alertmanager(CAPTURED | {"newField": 1}).digest == batch.digest  # unknown keys ignored


def test_missing_fields_are_named() -> None:
    body = json.loads(json.dumps(CAPTURED))
    del body["alerts"][1]["startsAt"]
    with pytest.raises(PayloadError, match=r"^alerts\[1\]\.startsAt: required$"):
        parse_alertmanager(body)
    with pytest.raises(PayloadError, match="status: Input should be 'firing' or 'resolved'"):
        parse_alertmanager(CAPTURED | {"status": "weird"})
    with pytest.raises(PayloadError, match="payload: required for event_action trigger"):
        parse_event({"routing_key": "k", "event_action": "trigger"})
    with pytest.raises(PayloadError, match="event_action"):
        parse_event({"routing_key": "k", "event_action": "explode", "dedup_key": "x"})


def test_grafana_and_events_shapes() -> None:
    grafana = parse_grafana(CAPTURED | {"title": "[FIRING:2] DiskFull", "state": "alerting"})
    assert grafana.source == "grafana" and grafana.title == "[FIRING:2] DiskFull"
    ack = parse_event({"routing_key": "k", "event_action": "acknowledge", "dedup_key": "d"})
    assert ack.acknowledge and ack.alerts == ()
    trigger = parse_event({"routing_key": "k", "event_action": "trigger",
                           "payload": {"summary": "s", "source": "h", "severity": "error"}})
    assert trigger.group_key and trigger.alerts[0].labels["severity"] == "error"


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                        st.sampled_from(["groupKey", "status", "alerts", "fingerprint", "labels", "startsAt",
                                         "routing_key", "event_action", "dedup_key", "payload", "x"]),
                        inner, max_size=5), max_leaves=20))
def test_any_body_is_parsed_or_refused_clearly(body: object) -> None:
    for parse in (parse_alertmanager, parse_grafana, parse_event):
        try:
            parse(body)
        except PayloadError as exc:
            assert str(exc)


def test_secrets_compare() -> None:
    assert auth.bearer_ok("Bearer s3cr3t", b"s3cr3t") and auth.bearer_ok("bearer s3cr3t", b"s3cr3t")
    assert not auth.bearer_ok("Bearer s3cr3", b"s3cr3t") and not auth.bearer_ok(None, b"s3cr3t")
    assert not auth.bearer_ok("Basic s3cr3t", b"s3cr3t")
    basic = "Basic " + base64.b64encode(b"am:pw").decode()
    assert auth.basic_ok(basic, "am", b"pw") and not auth.basic_ok(basic, "other", b"pw")
    assert not auth.basic_ok("Basic !!!", "am", b"pw")
    body = b'{"a": 1}'
    sig = hmac.new(b"key", body, hashlib.sha256).hexdigest()
    assert auth.signature_ok(body, sig, None, b"key", timestamped=False)
    assert not auth.signature_ok(body + b" ", sig, None, b"key", timestamped=False)
    stamped = hmac.new(b"key", b"1000:" + body, hashlib.sha256).hexdigest()
    assert auth.signature_ok(body, stamped, "1000", b"key", timestamped=True, now=1100)
    assert not auth.signature_ok(body, stamped, "1000", b"key", timestamped=True, now=2000)  # replayed
    assert auth.routing_key_ok("R1", b"R1") and not auth.routing_key_ok(None, b"R1")


def test_secrets_come_from_env_or_file(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("from-file\n")
    settings_ = AlertSettings.model_validate({"integrations": {
        "alertmanager": {"secret_env": "AM_TOKEN"}, "grafana": {"secret_file": str(tmp_path / "key")},
        "events": {"secret_env": "UNSET_VAR"}}})
    secrets = auth.load_secrets(settings_, {"AM_TOKEN": "from-env"})
    assert secrets.alertmanager == b"from-env" and secrets.grafana == b"from-file" and secrets.events is None
    assert "from-env" not in repr(secrets)


@pytest.mark.parametrize(("text", "key", "message"), [
    ("integrations:\n  alertmanager:\n    secret_env: A\n    secret_file: /x\n", "integrations.alertmanager",
     "exactly one"),
    ("integrations:\n  alertmanager:\n    auth: basic\n    secret_env: A\n", "integrations.alertmanager",
     "needs a username"),
    ("severities:\n  critical: P9\n", "severities.critical", "P0"),
    ("severities:\n  Critical: P1\n", "severities", "lowercase"),
    ("declare_at: P7\n", "declare_at", "P0"),
    ("summary_every: soon\n", "summary_every", "not a duration"),
    ("retention: a month\n", "retention", "not a duration"),
    ("channel: alerts\n", "channel", "#platform-ops"),
    ("listen_chanels: []\n", "listen_chanels", "did you mean 'listen_channels'"),
])
def test_alerts_yaml_problems_name_file_and_key(tmp_path: Path, text: str, key: str, message: str) -> None:
    (tmp_path / "alerts.yaml").write_text(text)
    with pytest.raises(PlaybookError) as caught:
        load_playbook(tmp_path)
    [problem] = caught.value.problems
    assert problem.file.endswith("alerts.yaml") and problem.key == key and message in problem.message, problem


def test_retention_is_thirty_days_unless_the_pack_says(tmp_path: Path) -> None:
    assert AlertSettings().retention == timedelta(days=30)
    (tmp_path / "alerts.yaml").write_text("retention: 7d\n")
    assert load_playbook(tmp_path).alerts.retention == timedelta(days=7)


def test_manifest_subscribes_to_channel_messages() -> None:
    manifest = yaml.safe_load((Path(__file__).parent.parent / "manifest.yaml").read_text())
    assert "message.channels" in manifest["settings"]["event_subscriptions"]["bot_events"]
    assert "channels:history" in manifest["oauth_config"]["scopes"]["bot"]
