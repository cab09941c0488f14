"""Growth: the bot with a long history, on SQLite and on a private PostgreSQL (when its binaries are
installed). Seeded straight into the migrated database: 1,000 open P1 incidents, each with a channel
and a published customer notice; 3,000 resolved incidents over the past year with their initial and
resolution notices (the status page's history); 100,000 stored alerts in 5,000 groups; 10,000 sent
outbox messages.

Reported per database:
1. The tick's cost: CPU (the ticking thread's) and wall time per `Runtime.tick`, nothing due.
2. The status page: `GET /status` latency (p50, p99) and size, one request at a time.
3. Slash-command acks (`/incident help`, no database; `/incident note`, a write), 200 commands 20 at
   a time, idle and while another process fires `GET /status` at 500 requests/s (open loop, at most
   256 in flight, 12 s a round: 36 s in all); three rounds, the median of their p99s. The status
   page's own answers are counted (served, failed, p99), and the bot's CPU per request.
4. 1,000 incidents' cadence updates due together: time to queue them (`IncidentTimers.run_due`) and
   to send everything queued (`OutboxDelivery.deliver_due` until nothing is due), and the number of
   Slack messages that took.

Tick and timers run in this process on a runtime built against the same database while the served
bot is stopped; acks and the status page go to a real `opsbot serve` process. The machine is shared:
the 1-minute load average is printed, and only figures of one run compare.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, insert
from sqlmodel import Session, select

from bench._support import databases, percentile, summary_ms
from bench.ack_latency import command_body, fire
from bot.runtime import build_runtime
from bot.sandbox.seed import default_workspace
from bot.sandbox.server import SandboxServer
from bot.settings import load_settings
from storage.alerts import Alert, AlertGroup
from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import Incident, OutboundMessage
from storage.public import INITIAL, PUBLISHED, RESOLUTION, CustomerNotice
from tests.support.bot import bot_env
from tests.support.process import bot_process

OPEN, RESOLVED, ALERTS, PER_GROUP, SENT = 1000, 3000, 100_000, 20, 10_000
TICKS, PAGE_REQUESTS, ACKS, ROUNDS = 20, 50, 200, 3
LOAD_RATE, LOAD_SECONDS, LOAD_IN_FLIGHT = 500, 12, 256


def seed(database_url: str, sandbox: SandboxServer) -> list[str]:
    """The history, written in a few bulk statements; returns the open incidents' channel IDs."""
    engine = make_engine(database_url)
    upgrade(engine)
    now = datetime.now(UTC)
    channels = [sandbox.workspace.add_channel(f"incident-growth-{n:04d}").id for n in range(OPEN)]
    incidents: list[dict[str, Any]] = []
    for n in range(OPEN):
        declared = now - timedelta(hours=2, minutes=n % 60)
        incidents.append(dict(title=f"Open incident {n}", severity="P1", status="open", phase="investigate",
                              declared_by="U0ALICE", declared_at=declared, channel_id=channels[n],
                              channel_name=f"incident-growth-{n:04d}", acknowledged_at=declared,
                              acknowledged_by="U0ALICE", next_update_at=now + timedelta(days=1),
                              last_update_at=declared))
    for n in range(RESOLVED):
        declared = now - timedelta(days=365 * (n + 1) / RESOLVED, hours=3)
        incidents.append(dict(title=f"Past incident {n}", severity="P2", status="resolved", phase="resolved",
                              declared_by="U0ALICE", declared_at=declared, resolved_at=declared + timedelta(hours=2),
                              resolved_by="U0ALICE", resolution_summary="Fixed."))
    notices: list[dict[str, Any]] = []
    body = "We are investigating reports of errors for some users. " * 3
    for incident_id, row in enumerate(incidents, start=1):
        notices.append(dict(incident_id=incident_id, kind=INITIAL, public_title=f"Degraded service {incident_id}",
                            impact="Some users may see errors.", body=body, status=PUBLISHED, drafted_by="U0CAROL",
                            drafted_at=row["declared_at"], approved_by="U0BOB",
                            published_at=row["declared_at"] + timedelta(minutes=10)))
        if row.get("resolved_at"):
            notices.append(dict(incident_id=incident_id, kind=RESOLUTION, public_title=f"Resolved {incident_id}",
                                impact="Some users saw errors.", body="The issue is resolved.", status=PUBLISHED,
                                drafted_by="U0CAROL", drafted_at=row["resolved_at"], approved_by="U0BOB",
                                published_at=row["resolved_at"] + timedelta(minutes=5)))
    groups, alerts = [], []
    for g in range(ALERTS // PER_GROUP):
        seen = now - timedelta(minutes=g)
        groups.append(dict(source="alertmanager", key_hash=f"{g:064x}", group_key=f'{{}}:{{alertname="A{g}"}}',
                           title=f"A{g}", severity="P3", status="resolved", first_seen=seen, last_seen=seen,
                           resolved_at=seen))
        for a in range(PER_GROUP):
            alerts.append(dict(group_id=g + 1, fingerprint=f"{g:08x}{a:08x}", starts_at=seen, ends_at=seen,
                               status="resolved", name=f"A{g}", summary="Disk almost full", severity="P3",
                               labels=f'{{"alertname": "A{g}", "instance": "host-{a}"}}',
                               annotations='{"summary": "Disk almost full"}', first_seen=seen, last_seen=seen))
    sent = [dict(method="chat.postMessage", channel=channels[n % OPEN], args='{"text": "old"}', state="sent",
                 attempts=1, created_at=now - timedelta(hours=n % 144), next_attempt_at=now - timedelta(hours=n % 144),
                 sent_at=now - timedelta(hours=n % 144), result_ts=f"1700000000.{n:06d}") for n in range(SENT)]
    with Session(engine) as session:
        for model, rows in ((Incident, incidents), (CustomerNotice, notices), (AlertGroup, groups),
                            (Alert, alerts), (OutboundMessage, sent)):
            for start in range(0, len(rows), 5000):
                session.execute(insert(model), rows[start:start + 5000])
        session.commit()
        counted = {m.__tablename__: session.exec(select(func.count()).select_from(m)).one()  # type: ignore[attr-defined]
                   for m in (Incident, CustomerNotice, Alert, OutboundMessage)}
    engine.dispose()
    print(f"  seeded {counted}")
    return channels


def tick_cost(env: dict[str, str]) -> None:
    rt = build_runtime(load_settings(env))
    try:
        for _ in range(3):
            rt.tick()
        cpu, wall = [], []
        for _ in range(TICKS):
            c, w = time.thread_time(), time.perf_counter()
            rt.tick()
            cpu.append(time.thread_time() - c)
            wall.append(time.perf_counter() - w)
        print(f"  tick, nothing due ({TICKS} ticks): CPU p50 {statistics.median(cpu) * 1000:.1f} ms, "
              f"wall p50 {statistics.median(wall) * 1000:.1f} ms, max {max(wall) * 1000:.1f} ms")
    finally:
        rt.close()


def outbox_work(env: dict[str, str]) -> None:
    """The outbox's share of a tick with nothing to send: the delivery query and the prune the tick
    calls (``prune_if_due`` where it exists, else the every-tick ``prune_sent``)."""
    rt = build_runtime(load_settings(env))
    try:
        prune = getattr(rt.delivery, "prune_if_due", rt.delivery.prune_sent)
        for _ in range(3):
            rt.delivery.deliver_due()
            prune()
        cpu, wall = [], []
        for _ in range(TICKS):
            c, w = time.thread_time(), time.perf_counter()
            rt.delivery.deliver_due()
            prune()
            cpu.append(time.thread_time() - c)
            wall.append(time.perf_counter() - w)
        with Session(rt.engine) as session:
            sent = session.exec(select(func.count()).select_from(OutboundMessage)
                                .where(OutboundMessage.state == "sent")).one()  # type: ignore[arg-type]
        print(f"  outbox work per tick, {sent:,} sent rows: CPU p50 {statistics.median(cpu) * 1000:.2f} ms, "
              f"wall p50 {statistics.median(wall) * 1000:.2f} ms")
    finally:
        rt.close()


def more_sent(database_url: str, count: int) -> None:
    engine = make_engine(database_url)
    now = datetime.now(UTC)
    rows = [dict(method="chat.postMessage", channel="C0GENERAL", args='{"text": "old"}', state="sent", attempts=1,
                 created_at=now - timedelta(hours=n % 144), next_attempt_at=now - timedelta(hours=n % 144),
                 sent_at=now - timedelta(hours=n % 144), result_ts=f"1700000001.{n:06d}") for n in range(count)]
    with Session(engine) as session:
        for start in range(0, count, 5000):
            session.execute(insert(OutboundMessage), rows[start:start + 5000])
        session.commit()
    engine.dispose()


def timers_due_together(env: dict[str, str], sandbox: SandboxServer) -> None:
    rt = build_runtime(load_settings(env))
    try:
        with Session(rt.engine) as session:
            for incident in session.exec(select(Incident).where(Incident.status == "open")).all():
                incident.next_update_at = rt.clock() - timedelta(seconds=1)
                session.add(incident)
            session.commit()
        calls = len(sandbox.workspace.calls_to("chat.postMessage"))
        started = time.perf_counter()
        fired = rt.timers.run_due()
        queued = time.perf_counter() - started
        rt.quick_pool.submit(lambda: None).result()
        while rt.delivery.deliver_due(limit=500):
            pass
        with Session(rt.engine) as session:
            left = session.exec(select(func.count()).select_from(OutboundMessage)
                                .where(OutboundMessage.state.in_(("pending", "sending")))).one()  # type: ignore[attr-defined]
        done = time.perf_counter() - started
        posted = len(sandbox.workspace.calls_to("chat.postMessage")) - calls
        mirrors = {c: len([m for m in sandbox.workspace.messages(sandbox.workspace.channel_by_name(c).id)
                           if "INC-" in m.text]) for c in ("platform-ops", "engineering", "executive")}
        print(f"  {OPEN} cadence updates due together: {fired} fired, queued in {queued:.1f} s, everything sent "
              f"{done:.1f} s after the tick began ({posted} chat.postMessage calls; still queued {left}); "
              f"stakeholder channel messages {mirrors}")
    finally:
        rt.close()


def page_latency(url: str) -> None:
    import httpx
    with httpx.Client(base_url=url, timeout=60) as client:
        client.get("/status")
        latencies, size = [], 0
        for _ in range(PAGE_REQUESTS):
            started = time.perf_counter()
            response = client.get("/status")
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200, response.status_code
            size = len(response.content)
    print(f"  GET /status one at a time: {summary_ms(latencies)}, {size / 1024:.0f} KB")


async def _status_load(url: str, rate: int, seconds: int) -> tuple[int, int, float]:
    connector = aiohttp.TCPConnector(limit=LOAD_IN_FLIGHT)
    timeout = aiohttp.ClientTimeout(total=60)
    served, failed, latencies = 0, 0, []
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:
        start = time.perf_counter() + 0.2

        async def one(i: int) -> None:
            nonlocal served, failed
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            try:
                async with client.get(f"{url}/status") as response:
                    await response.read()
                    ok = response.status == 200
            except (TimeoutError, aiohttp.ClientError):
                ok = False
            if ok:
                served += 1
                latencies.append(time.perf_counter() - due)
            else:
                failed += 1

        await asyncio.gather(*(one(i) for i in range(rate * seconds)))
    return served, failed, percentile(latencies, 99) if latencies else float("nan")


def status_load(url: str, rate: int, seconds: int) -> tuple[int, int, float]:
    """In a process of its own, so the load generator's work is not counted as the bot's latency."""
    gc.disable()
    return asyncio.run(_status_load(url, rate, seconds))


def acks(url: str, secret: str, channel: str, response_url: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for name, text in (("help", "help"), ("note", "note growth note {n}")):
        bodies = [command_body(channel, text, n, response_url) for n in range(ACKS)]
        asyncio.run(fire(url, secret, bodies[:20]))
        out[name] = asyncio.run(fire(url, secret, bodies))
    return out


def bot_cpu(url: str) -> float:
    """CPU seconds (user + system) the served bot process has used, read from /proc: found by the
    port in its environment."""
    port = f"PORT={url.rsplit(':', 1)[1]}".encode()
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and b"bot.cli" in (proc / "cmdline").read_bytes() \
                    and port in (proc / "environ").read_bytes().split(b"\0"):
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            continue
    raise RuntimeError(f"no bot process on {url}")


def served_bot(database_url: str, sandbox: SandboxServer, tmp: Path, label: str, channel: str,
               loader: ProcessPoolExecutor) -> None:
    """Acks in rounds, idle then under status-page load (``LOAD_SECONDS`` a round, the acks fired
    from its third second): the machine is shared, so each figure is the median of the rounds'."""
    secret = sandbox.workspace.identity.signing_secret
    response_url = sandbox.workspace.mint_response_url(channel, "U0ALICE")
    with bot_process(sandbox, database_url, tmp / f"bot-{label}.log") as url:
        page_latency(url)
        p99s: dict[tuple[str, str], list[float]] = {}
        for round_ in range(ROUNDS):
            for name, latencies in acks(url, secret, channel, response_url).items():
                p99s.setdefault((name, "idle"), []).append(percentile(latencies, 99))
                print(f"  round {round_ + 1}, /incident {name} acks, idle: {summary_ms(latencies)}")
            cpu = bot_cpu(url)
            load = loader.submit(status_load, url, LOAD_RATE, LOAD_SECONDS)
            time.sleep(3)  # the load is running
            for name, latencies in acks(url, secret, channel, response_url).items():
                p99s.setdefault((name, "load"), []).append(percentile(latencies, 99))
                print(f"  round {round_ + 1}, /incident {name} acks, under {LOAD_RATE} GET /status a second: "
                      f"{summary_ms(latencies)}")
            served, failed, p99 = load.result()
            cpu = bot_cpu(url) - cpu
            print(f"  round {round_ + 1}, the status-page load: {served} served, {failed} failed or timed out of "
                  f"{LOAD_RATE * LOAD_SECONDS}, p99 {p99 * 1000:.0f} ms from the scheduled send; the bot's CPU "
                  f"meanwhile {cpu:.1f} s ({cpu / max(served, 1) * 1000:.2f} ms a request, the acks included)")
        for name in ("help", "note"):
            idle, busy = (statistics.median(p99s[(name, k)]) * 1000 for k in ("idle", "load"))
            print(f"  /incident {name} ack p99, median of {ROUNDS} rounds: idle {idle:.1f} ms, under status-page "
                  f"load {busy:.1f} ms ({busy / idle:.2f}×)")


def main() -> None:
    loader = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    only = os.environ.get("GROWTH_DATABASES", "SQLite,PostgreSQL").split(",")
    with loader, tempfile.TemporaryDirectory() as tmp, databases(Path(tmp), "growth") as urls:
        for label, database_url in urls:
            if label not in only:
                continue
            print(f"{label} (1-minute load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores):")
            with SandboxServer(default_workspace()) as sandbox:
                channels = seed(database_url, sandbox)
                env = {**bot_env(sandbox, database_url), "OPSBOT_TICK_SECONDS": "15"}
                tick_cost(env)
                outbox_work(env)
                served_bot(database_url, sandbox, Path(tmp), label, channels[0], loader)
                timers_due_together(env, sandbox)
                tick_cost(env)
                more_sent(database_url, 100_000)
                outbox_work(env)
            print(f"  (1-minute load average now {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
