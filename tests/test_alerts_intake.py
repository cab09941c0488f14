"""Alert intake through the running bot's HTTP endpoints, results read from the sandbox workspace."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from bot.alerts import flows, retention
from storage.alerts import Alert, AlertGroup
from storage.models import Incident, OutboundMessage
from tests.support.alertmanager import alert, notification, write_alert_playbook
from tests.support.bot import BotUnderTest, running_bot
from tests.support.clock import FakeClock
from tests.support.waiting import eventually

pytestmark = pytest.mark.kind("e2e")

TOKEN = "am-s3cret-token"
EXTRA = """\
  grafana:
    secret_file: {grafana}
  events:
    secret_file: {events}
listen_channels: ["#alerts"]
"""


@pytest.fixture
def bot(tmp_path: Path, database_url: str) -> Iterator[BotUnderTest]:
    (tmp_path / "grafana-key").write_text("grafana-hmac-key")
    (tmp_path / "events-key").write_text("R0UTINGKEY")
    extra = EXTRA.format(grafana=tmp_path / "grafana-key", events=tmp_path / "events-key")
    playbooks = write_alert_playbook(tmp_path / "playbooks", TOKEN, extra)
    with running_bot(tmp_path, database_url, FakeClock(), playbooks=playbooks) as running:
        yield running


def post(bot: BotUnderTest, body: object, *, token: str | None = TOKEN, path: str = "alertmanager",
         headers: dict[str, str] | None = None) -> httpx.Response:
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{bot.url}/alerts/{path}", content=content,
                      headers={"Content-Type": "application/json", **sent}, timeout=10)


def rows(bot: BotUnderTest, model: type) -> list:
    with Session(bot.rt.engine) as session:
        return list(session.exec(select(model)).all())


def work(bot: BotUnderTest) -> None:
    """What the pump does after a webhook and on every tick, and the deliveries it starts."""
    bot.rt.alerts.run()
    bot.settle()


def incident_channels(bot: BotUnderTest) -> list[str]:
    return [c.id for c in bot.workspace.channels if c.name.startswith("incident-2")]


def buttons(blocks: list[dict]) -> list[tuple[str, str]]:
    return [(e["action_id"], e.get("value", "")) for b in blocks for e in b.get("elements", [])
            if e.get("type") == "button"]


def test_bad_secret_is_401_and_stores_nothing(bot: BotUnderTest) -> None:
    body = notification("DiskFull", [alert("DiskFull", "db-1")])
    assert post(bot, body, token=None).status_code == 401
    assert post(bot, body, token="wrong").status_code == 401
    assert post(bot, body, token=TOKEN + "x").status_code == 401
    assert post(bot, b"not json at all", token="wrong").status_code == 401  # secret checked before parsing
    assert rows(bot, Alert) == [] and rows(bot, AlertGroup) == []
    metrics = httpx.get(f"{bot.url}/metrics").text
    assert 'opsbot_alert_webhooks_total{outcome="unauthorized"} 4.0' in metrics


def test_missing_field_is_400_naming_it(bot: BotUnderTest) -> None:
    body = notification("DiskFull", [alert("DiskFull", "db-1")])
    del body["alerts"][0]["fingerprint"]
    response = post(bot, body)
    assert response.status_code == 400 and "alerts[0].fingerprint: required" in response.json()["error"]
    del body["groupKey"]
    assert "groupKey" in post(bot, body).json()["error"]
    assert post(bot, b"{nope").status_code == 400
    assert post(bot, b"[]").json()["error"] == "body: not a JSON object"
    assert rows(bot, Alert) == []


def test_critical_group_opens_one_incident_and_later_alerts_edit_its_summary(bot: BotUnderTest) -> None:
    first = notification("ApiDown", [alert("ApiDown", "api-1", severity="critical"),
                                     alert("ApiDown", "api-2", severity="critical")])
    # the request path stores and answers; Slack is called only by the work kicked off afterwards
    with pump_held(bot):
        response = post(bot, first)
    assert response.status_code == 200 and response.json()["stored"] == 2
    assert bot.workspace.calls == [] and len(rows(bot, Alert)) == 2
    # nor is the incident declared there: the group is owed one, and the pump declares it
    assert response.json()["incident"] is None and rows(bot, Incident) == []
    [group] = rows(bot, AlertGroup)
    assert group.declare_due_at is not None
    work(bot)
    [channel] = incident_channels(bot)
    [incident] = rows(bot, Incident)
    assert incident.severity == "P1" and incident.channel_id == channel and "ApiDown" in incident.title
    assert {"U0ALICE", "U0KIM"} <= set(bot.workspace.channel(channel).members)  # @oncall paged
    summary = [m for m in bot.workspace.messages(channel) if "2 firing" in m.text]
    assert len(summary) == 1 and "api-1" in summary[0].text
    assert flows.declare_due(bot.rt.work, group.id or 0) is None  # claimed once: a second pump finds nothing

    # a repeat changes nothing: no Slack call at all
    calls = len(bot.workspace.calls)
    assert post(bot, first).json()["repeat"] is True
    work(bot)
    assert len(bot.workspace.calls) == calls

    # two more notifications within the interval: one edit, after the interval
    second = notification("ApiDown", [*first["alerts"], alert("ApiDown", "api-3", severity="critical")])
    third = notification("ApiDown", [*second["alerts"], alert("ApiDown", "api-4", severity="critical")],
                         truncated=7)
    assert post(bot, second).status_code == post(bot, third).status_code == 200
    work(bot)
    assert len(bot.workspace.calls_to("chat.update")) == 0  # debounced: the last edit was just now
    bot.clock.advance(timedelta(seconds=31))
    work(bot)
    updates = [c for c in bot.workspace.calls_to("chat.update") if c.args.get("ts") == summary[0].ts]
    assert len(updates) == 1
    [edited] = [m for m in bot.workspace.messages(channel) if m.ts == summary[0].ts]
    assert "4 firing" in edited.text and "+7 more" in edited.text
    assert len(incident_channels(bot)) == 1 and len(rows(bot, Incident)) == 1


def test_resolution_prompt_and_reopen_within_window(bot: BotUnderTest) -> None:
    firing = [alert("ApiDown", "api-1", severity="critical"), alert("ApiDown", "api-2", severity="critical")]
    post(bot, notification("ApiDown", firing))
    work(bot)
    [channel] = incident_channels(bot)
    resolved = [dict(a, status="resolved", endsAt="2026-11-28T09:40:00Z") for a in firing]
    post(bot, notification("ApiDown", resolved[:1] + firing[1:]))
    work(bot)
    assert not [m for m in bot.workspace.messages(channel) if "All alerts resolved" in m.text]
    bot.clock.advance(timedelta(minutes=1))
    post(bot, notification("ApiDown", resolved))
    work(bot)
    [prompt] = [m for m in bot.workspace.messages(channel) if "All alerts resolved" in m.text]
    [incident] = rows(bot, Incident)
    assert incident.status == "open"  # auto_resolve is off: a person decides
    assert ("alerts_resolve_incident", str(incident.id)) in buttons(prompt.blocks)
    bot.slack.click("U0ALICE", channel, prompt.ts, "alerts_resolve_incident", value=str(incident.id))
    eventually(lambda: rows(bot, Incident)[0].status == "resolved", what="the incident resolved")

    # re-fire (same fingerprints, new start) 10 minutes later: the incident reopens, no new channel
    bot.clock.advance(timedelta(minutes=10))
    refire = [alert("ApiDown", "api-1", severity="critical", starts="2026-11-28T09:50:00Z")]
    post(bot, notification("ApiDown", refire))
    work(bot)
    [incident] = rows(bot, Incident)
    assert incident.status == "open" and len(incident_channels(bot)) == 1
    assert any("Reopened" in m.text for m in bot.workspace.messages(channel))
    assert len(rows(bot, Alert)) == 2  # one per fingerprint: the re-fire replaced the firing before it

    # resolved again, and a re-fire after the window: a new incident
    post(bot, notification("ApiDown", [dict(refire[0], status="resolved", endsAt="2026-11-28T09:55:00Z")]))
    work(bot)
    bot.slack.command("U0ALICE", channel, "/incident", "resolve fixed")
    bot.clock.advance(timedelta(hours=2))
    post(bot, notification("ApiDown", [alert("ApiDown", "api-1", severity="critical",
                                             starts="2026-11-28T11:50:00Z")]))
    work(bot)
    assert len(rows(bot, Incident)) == 2 and len(incident_channels(bot)) == 2


def test_warning_group_gets_a_triage_message_with_buttons(bot: BotUnderTest) -> None:
    post(bot, notification("DiskFull", [alert("DiskFull", "db-1"), alert("DiskFull", "db-2")]))
    work(bot)
    assert rows(bot, Incident) == []
    [triage] = bot.workspace.messages("C0ALERTS")
    [group] = rows(bot, AlertGroup)
    actions = [a for a, _ in buttons(triage.blocks)]
    assert actions == ["alerts_declare", "alerts_acknowledge", "alerts_silence"]
    assert "2 firing" in triage.text

    bot.slack.click("U0BOB", "C0ALERTS", triage.ts, "alerts_acknowledge", value=str(group.id))
    eventually(lambda: any("Acknowledged" in e.text for e in bot.workspace.ephemerals("U0BOB")))
    work(bot)
    [triage] = bot.workspace.messages("C0ALERTS")
    assert "Acknowledged by <@U0BOB>" in json.dumps(triage.blocks)

    sent: list[dict[str, str]] = []
    post_form = bot.slack._post_form
    bot.slack._post_form = lambda form, t, sig: sent.append(form) or post_form(form, t, sig)  # type: ignore
    try:
        bot.slack.click("U0BOB", "C0ALERTS", triage.ts, "alerts_declare", value=str(group.id))
    finally:
        bot.slack._post_form = post_form  # type: ignore
    declare_click = sent[-1]
    eventually(lambda: rows(bot, Incident), what="an incident declared from triage")
    work(bot)
    [incident] = rows(bot, Incident)
    assert incident.severity == "P3" and incident.declared_by == "U0BOB"
    [channel] = incident_channels(bot)
    assert "U0BOB" in bot.workspace.channel(channel).members
    [triage] = bot.workspace.messages("C0ALERTS")
    assert incident.ref in triage.text and buttons(triage.blocks) == []
    assert any("2 firing" in m.text for m in bot.workspace.messages(channel))
    # the same click delivered again (a double click before the buttons went away) declares nothing twice
    bot.slack._post_form(declare_click, None, None)
    eventually(lambda: any("Already declared" in e.text for e in bot.workspace.ephemerals("U0BOB")))
    assert len(rows(bot, Incident)) == 1


def test_storm_of_one_group_posts_one_message(bot: BotUnderTest) -> None:
    for i in range(30):
        post(bot, notification("Flappy", [alert("Flappy", f"web-{j}") for j in range(i + 1)]))
    work(bot)
    assert len(bot.workspace.messages("C0ALERTS")) == 1
    bot.clock.advance(timedelta(seconds=31))
    work(bot)
    assert len(bot.workspace.calls_to("chat.postMessage")) == 1 and len(bot.workspace.calls_to("chat.update")) <= 1


def test_grafana_signature(bot: BotUnderTest) -> None:
    body = notification("HighLatency", [alert("HighLatency", "web-1") | {"values": {"B": 1.5},
                                                                           "dashboardURL": "http://g/d"}])
    body |= {"title": "[FIRING:1] HighLatency", "state": "alerting", "message": "latency high"}
    raw = json.dumps(body).encode()
    good = hmac.new(b"grafana-hmac-key", raw, hashlib.sha256).hexdigest()
    assert post(bot, raw, token=None, path="grafana",
                headers={"X-Grafana-Alerting-Signature": "0" * 64}).status_code == 401
    assert post(bot, raw, token=None, path="grafana").status_code == 401
    response = post(bot, raw, token=None, path="grafana", headers={"X-Grafana-Alerting-Signature": good})
    assert response.status_code == 200 and response.json()["stored"] == 1
    [group] = rows(bot, AlertGroup)
    assert group.source == "grafana" and group.title == "[FIRING:1] HighLatency"


def test_events_api(bot: BotUnderTest) -> None:
    trigger = {"routing_key": "R0UTINGKEY", "event_action": "trigger", "dedup_key": "disk-db-1",
               "payload": {"summary": "Disk full on db-1", "source": "db-1", "severity": "critical"}}
    assert post(bot, trigger | {"routing_key": "nope"}, token=None, path="events").status_code == 401
    assert post(bot, {"event_action": "trigger"}, token=None, path="events").status_code == 401
    missing = post(bot, {"routing_key": "R0UTINGKEY", "event_action": "resolve"}, token=None, path="events")
    assert missing.status_code == 400 and "dedup_key" in missing.json()["error"]
    bad = post(bot, {**trigger, "payload": {"summary": "x", "source": "y"}}, token=None, path="events")
    assert bad.status_code == 400 and "payload.severity: required" in bad.json()["error"]
    assert post(bot, trigger, token=None, path="events").json()["stored"] == 1
    assert post(bot, trigger, token=None, path="events").json()["repeat"] is True
    work(bot)
    [incident] = rows(bot, Incident)
    assert incident.severity == "P1"
    resolve = {"routing_key": "R0UTINGKEY", "event_action": "resolve", "dedup_key": "disk-db-1"}
    assert post(bot, resolve, token=None, path="events").json()["changed"] == 1
    work(bot)
    channel = incident.channel_id
    assert any("All alerts resolved" in m.text for m in bot.workspace.messages(channel))
    assert [a.status for a in rows(bot, Alert)] == ["resolved"]


def test_alert_channel_message_gets_a_declare_button_in_its_thread(bot: BotUnderTest) -> None:
    posted = bot.workspace.post_as("U0BOB", "C0ALERTS", "[FIRING] Payments 5xx above 5%\nsee dashboard")
    event = {"type": "message", "channel": "C0ALERTS", "user": "U0BOB", "text": posted.text, "ts": posted.ts}
    assert bot.slack.post_event(event).status == 200
    offer = eventually(lambda: bot.workspace.thread("C0ALERTS", posted.ts)[1:], what="the offer in the thread")
    assert bot.slack.post_event(event, retry_num=1).status == 200  # Slack's retry: no second offer
    work(bot)
    [offer] = bot.workspace.thread("C0ALERTS", posted.ts)[1:]
    [group] = rows(bot, AlertGroup)
    assert buttons(offer.blocks) == [("alerts_declare", str(group.id))]
    bot.slack.click("U0CAROL", "C0ALERTS", offer.ts, "alerts_declare", value=str(group.id))
    eventually(lambda: rows(bot, Incident), what="an incident from the alert message")
    work(bot)
    [incident] = rows(bot, Incident)
    assert incident.title.endswith("Payments 5xx above 5%") and incident.severity == "P2"
    assert incident.ref in bot.workspace.thread("C0ALERTS", posted.ts)[1].text

    # elsewhere, in threads and edits: nothing
    other = bot.workspace.post_as("U0BOB", "C0GENERAL", "[FIRING] not an alert channel")
    bot.slack.post_event({"type": "message", "channel": "C0GENERAL", "user": "U0BOB", "text": other.text,
                          "ts": other.ts})
    bot.slack.post_event({"type": "message", "channel": "C0ALERTS", "user": "U0BOB", "text": "a reply",
                          "ts": "1700000000.000200", "thread_ts": posted.ts})
    bot.slack.post_event({"type": "message", "subtype": "message_changed", "channel": "C0ALERTS",
                          "ts": "1700000000.000300"})
    barrier = bot.workspace.post_as("U0BOB", "C0ALERTS", "[FIRING] Queue backlog")  # handled after those
    bot.slack.post_event({"type": "message", "channel": "C0ALERTS", "user": "U0BOB", "text": barrier.text,
                          "ts": barrier.ts})
    eventually(lambda: bot.workspace.thread("C0ALERTS", barrier.ts)[1:], what="the barrier's offer")
    assert len(rows(bot, AlertGroup)) == 2 and bot.workspace.thread("C0GENERAL", other.ts)[1:] == []


def test_unconfigured_integration_is_404(tmp_path: Path) -> None:
    with running_bot(tmp_path, f"sqlite:///{tmp_path}/db.sqlite", FakeClock()) as bot:
        response = post(bot, notification("X", [alert("X", "y")]))
        assert response.status_code == 404 and "not configured" in response.json()["error"]
        assert rows(bot, OutboundMessage) == []


def test_refire_long_after_is_as_severe_as_what_fires_now_and_silence_holds_it(bot: BotUnderTest) -> None:
    post(bot, notification("Mixed", [alert("Mixed", "a", severity="critical")]))
    work(bot)
    [channel] = incident_channels(bot)
    post(bot, notification("Mixed", [alert("Mixed", "a", severity="critical", status="resolved",
                                           ends="2026-11-28T09:35:00Z")]))
    bot.slack.command("U0ALICE", channel, "/incident", "resolve recovered")
    bot.clock.advance(timedelta(hours=3))
    post(bot, notification("Mixed", [alert("Mixed", "b", severity="warning", starts="2026-11-28T12:30:00Z")]))
    work(bot)
    assert len(rows(bot, Incident)) == 1  # a warning now: triage, not a second P1
    [triage] = bot.workspace.messages("C0ALERTS")
    [group] = rows(bot, AlertGroup)
    assert group.severity == "P3" and "alerts_declare" in [a for a, _ in buttons(triage.blocks)]

    bot.slack.click("U0BOB", "C0ALERTS", triage.ts, "alerts_silence", value=str(group.id))
    eventually(lambda: any("Silenced until" in e.text for e in bot.workspace.ephemerals("U0BOB")))
    work(bot)
    [triage] = bot.workspace.messages("C0ALERTS")
    assert "Silenced by <@U0BOB>" in json.dumps(triage.blocks)
    assert [a for a, _ in buttons(triage.blocks)] == ["alerts_declare"]


@contextmanager
def pump_held(bot: BotUnderTest) -> Iterator[None]:
    """Webhooks answered while the pump does not run (a busy pump): the test runs it with ``work``."""
    kick, bot.rt.kick_alerts = bot.rt.kick_alerts, lambda: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        bot.rt.kick_alerts = kick  # type: ignore[method-assign]


def test_auto_resolve_only_for_small_groups(tmp_path: Path) -> None:
    extra = "auto_resolve: true\nauto_resolve_max_alerts: 2\n"
    playbooks = write_alert_playbook(tmp_path / "playbooks", TOKEN, extra)
    with running_bot(tmp_path, f"sqlite:///{tmp_path}/db.sqlite", FakeClock(), playbooks=playbooks) as bot:
        small = [alert("Small", f"h{i}", severity="critical") for i in range(2)]
        large = [alert("Large", f"h{i}", severity="critical") for i in range(3)]
        for name, alerts in (("Small", small), ("Large", large)):
            with pump_held(bot):
                post(bot, notification(name, alerts))
            bot.clock.advance(timedelta(seconds=5))  # the pump declares a little later: still these alerts' incident
            work(bot)
            post(bot, notification(name, [dict(a, status="resolved", endsAt="2026-11-28T09:40:00Z") for a in alerts]))
            work(bot)
        blip = [alert("Blip", "h1", severity="critical")]  # resolved before the pump declared its incident
        with pump_held(bot):
            post(bot, notification("Blip", blip))
            post(bot, notification("Blip", [dict(blip[0], status="resolved", endsAt="2026-11-28T09:41:00Z")]))
        work(bot)
        by_title = {i.title.split("] ")[1].split(" ")[0]: i for i in rows(bot, Incident)}
        assert by_title["Small"].status == "resolved" and by_title["Small"].resolved_by == "opsbot"
        assert by_title["Large"].status == "open"
        assert by_title["Blip"].status == "resolved" and by_title["Blip"].resolved_by == "opsbot"
        large_channel = by_title["Large"].channel_id
        assert any("All alerts resolved" in m.text for m in bot.workspace.messages(large_channel))
        assert not any("All alerts resolved" in m.text and "Resolve" in json.dumps(m.blocks)
                       for m in bot.workspace.messages(by_title["Small"].channel_id))


def test_more_paging_groups_in_a_minute_than_numbered_channel_names(bot: BotUnderTest) -> None:
    for g in range(23):
        post(bot, notification(f"Page{g:02d}", [alert(f"Page{g:02d}", "h", severity="critical")]))
    work(bot)
    names = sorted(bot.workspace.channel(c).name for c in incident_channels(bot))
    assert len(names) == 23 == len(rows(bot, Incident))
    assert "incident-20261128-0930-20" in names and sum("-n" in n for n in names) == 3
    assert all(i.brief_ts for i in rows(bot, Incident))


def test_events_acknowledge_marks_the_triage_message(bot: BotUnderTest) -> None:
    trigger = {"routing_key": "R0UTINGKEY", "event_action": "trigger", "dedup_key": "queue-lag",
               "payload": {"summary": "Queue lag above 5 min", "source": "worker-1", "severity": "warning"}}
    post(bot, trigger, token=None, path="events")
    work(bot)
    [triage] = bot.workspace.messages("C0ALERTS")
    assert "Queue lag above 5 min" in triage.text and rows(bot, Incident) == []
    ack = {"routing_key": "R0UTINGKEY", "event_action": "acknowledge", "dedup_key": "queue-lag"}
    assert post(bot, ack, token=None, path="events").status_code == 200
    assert post(bot, ack, token=None, path="events").json()["repeat"] is True
    work(bot)
    [triage] = bot.workspace.messages("C0ALERTS")
    assert "Acknowledged by events" in json.dumps(triage.blocks)
    assert [a for a, _ in buttons(triage.blocks)] == ["alerts_declare", "alerts_silence"]


def test_refire_without_resolution_is_one_alert_and_the_group_still_resolves(bot: BotUnderTest) -> None:
    """Seen from a real Alertmanager 0.25: an alert stopped and fired again between two notifications
    of its group, so it comes back with a new startsAt and no resolution in between."""
    db1, db2 = (alert("Flap", h, severity="critical", summary=f"replica lag on {h}") for h in ("db-1", "db-2"))
    post(bot, notification("Flap", [db1, db2]))
    work(bot)
    [channel] = incident_channels(bot)
    refired = dict(db1, startsAt="2026-11-28T09:20:00Z")
    answer = post(bot, notification("Flap", [refired, db2])).json()
    assert (answer["stored"], answer["changed"]) == (0, 1)  # the same alert, firing anew
    late = post(bot, notification("Flap", [db1, db2])).json()  # a late retry about the earlier firing
    assert (late["stored"], late["changed"], late["repeat"]) == (0, 0, False)
    bot.clock.advance(timedelta(seconds=31))
    work(bot)
    [summary] = [m for m in bot.workspace.messages(channel) if "*Flap" in m.text]
    assert "2 firing" in summary.text and summary.text.count("replica lag on db-1") == 1
    assert sorted((a.fingerprint, a.starts_at.minute) for a in rows(bot, Alert)) == [
        ("Flap-db-1", 20), ("Flap-db-2", 0)]  # one row per fingerprint, the latest firing

    ended = "2026-11-28T09:40:00Z"
    post(bot, notification("Flap", [dict(refired, status="resolved", endsAt=ended),
                                    dict(db2, status="resolved", endsAt=ended)]))
    work(bot)
    [group] = rows(bot, AlertGroup)
    assert group.status == "resolved" and {a.status for a in rows(bot, Alert)} == {"resolved"}
    [prompt] = [m for m in bot.workspace.messages(channel) if "All alerts resolved" in m.text]
    [incident] = rows(bot, Incident)
    assert ("alerts_resolve_incident", str(incident.id)) in buttons(prompt.blocks)
    [summary] = [m for m in bot.workspace.messages(channel) if "*Flap" in m.text]
    assert "all resolved, 2 resolved" in summary.text


def test_resolved_alerts_are_deleted_after_the_retention(bot: BotUnderTest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retention, "GROUPS", 1)  # one group a batch: the batches loop
    ended = "2026-11-28T09:40:00Z"
    for name in ("OldA", "OldB"):  # triage groups that resolved
        post(bot, notification(name, [alert(name, "h1")]))
        post(bot, notification(name, [alert(name, "h1", status="resolved", ends=ended)]))
    churn = [alert("Churn", "pod-1"), alert("Churn", "pod-2")]  # a group that goes on firing as pods come and go
    post(bot, notification("Churn", churn))
    post(bot, notification("Churn", [dict(churn[0], status="resolved", endsAt=ended), churn[1]]))
    paging = alert("Paging", "api-1", severity="critical")  # resolved, but its incident is still open
    post(bot, notification("Paging", [paging]))
    post(bot, notification("Paging", [dict(paging, status="resolved", endsAt=ended)]))
    work(bot)
    [incident] = rows(bot, Incident)
    bot.clock.advance(timedelta(days=29))
    recent = alert("Recent", "h1", starts="2026-12-27T09:00:00Z")
    post(bot, notification("Recent", [recent]))
    post(bot, notification("Recent", [dict(recent, status="resolved", endsAt="2026-12-27T09:40:00Z")]))
    work(bot)
    assert bot.rt.alert_retention.run() == (0, 0)  # nothing resolved 30 days ago yet

    bot.clock.advance(timedelta(days=2))
    assert bot.rt.alert_retention.run() == (2, 1)  # OldA and OldB with their alerts; Churn's pod-1
    groups = {g.title: g for g in rows(bot, AlertGroup)}
    assert sorted(groups) == ["Churn", "Paging", "Recent"]
    assert sorted(a.fingerprint for a in rows(bot, Alert)) == ["Churn-pod-2", "Paging-api-1", "Recent-h1"]

    bot.slack.command("U0ALICE", incident.channel_id or "", "/incident", "resolve recovered")
    eventually(lambda: rows(bot, Incident)[0].status == "resolved", what="the incident resolved")
    assert bot.rt.alert_retention.run() == (0, 0)  # a periodic step: not due again so soon
    bot.clock.advance(retention.EVERY)
    assert bot.rt.alert_retention.run() == (1, 0)
    assert sorted(g.title for g in rows(bot, AlertGroup)) == ["Churn", "Recent"]
    # a group deleted is a new problem when it fires again
    assert post(bot, notification("OldA", [alert("OldA", "h1", starts="2026-12-30T09:00:00Z")])).json()["stored"] == 1
