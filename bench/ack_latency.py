"""Acknowledgement latency: 200 signed `/incident` commands, 20 at a time, over HTTP, against the
bot and, in the same run, against a bare Bolt app that only acks (``bench/bare_bolt.py``).

The bot runs as a real `opsbot serve` process on SQLite; the bare app as its own process behind
the same Starlette adapter and uvicorn settings. Each round measures, in a rotating order, the
bare app, `/incident note …` in an incident channel (a database write committed before the ack)
and `/incident help` (no database); the figures are the medians of three rounds, and the ratio to
the bare app's p99 is what the target is about (issue: note ≤ 2× bare). The machine's load
average is printed with them: the machine is shared, so only figures of one run compare.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode
from urllib.request import urlopen

import aiohttp

from bench._support import bot_process, percentile, summary_ms
from bot.sandbox.seed import default_workspace
from bot.sandbox.server import SandboxServer
from bot.sandbox.signing import sign
from bot.sandbox.simulator import SlackSimulator
from tests.support.bot import free_port
from tests.support.waiting import eventually

TOTAL, CONCURRENCY, ROUNDS, WARM_UP = 200, 20, 3, 20


def command_body(channel_id: str, text: str, n: int, response_url: str) -> str:
    return urlencode({
        "token": "unused", "team_id": "T0SANDBOX", "team_domain": "sandbox", "channel_id": channel_id,
        "channel_name": "incident", "user_id": "U0ALICE", "user_name": "alice", "command": "/incident",
        "text": text.format(n=n), "api_app_id": "A0OPSBOT", "response_url": response_url,
        "trigger_id": f"bench.{n}",
    })


async def fire(url: str, secret: str, bodies: list[str]) -> list[float]:
    """Signed up front so the client's own work stays out of the measured time."""
    ts = str(int(time.time()))
    requests = [(body.encode(), {"Content-Type": "application/x-www-form-urlencoded",
                                 "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sign(secret, ts, body)})
                for body in bodies]
    latencies: list[float] = []
    semaphore = asyncio.Semaphore(CONCURRENCY)
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as client:
        async def one(body: bytes, headers: dict[str, str]) -> None:
            async with semaphore:
                started = time.perf_counter()
                async with client.post(f"{url}/slack/events", data=body, headers=headers) as response:
                    await response.read()
                latencies.append(time.perf_counter() - started)
                assert response.status == 200, response.status

        await asyncio.gather(*(one(b, h) for b, h in requests))
    return latencies


@contextmanager
def bare_bolt(sandbox: SandboxServer, log: Path) -> Iterator[str]:
    identity = sandbox.workspace.identity
    port = free_port()
    env = {**os.environ, "SLACK_BOT_TOKEN": identity.token, "SLACK_SIGNING_SECRET": identity.signing_secret,
           "SLACK_API_URL": sandbox.api_url, "PORT": str(port)}
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bench.bare_bolt"], env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        eventually(lambda: _answers(url), timeout=30, what="the bare Bolt app")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _answers(url: str) -> bool:
    try:
        with urlopen(f"{url}/healthz", timeout=1) as reply:
            return reply.status == 200
    except OSError:
        return False


def main() -> dict[str, float]:
    loads = [os.getloadavg()[0]]
    p99s: dict[str, list[float]] = {}
    p50s: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp, SandboxServer(default_workspace()) as sandbox:
        secret = sandbox.workspace.identity.signing_secret
        with bot_process(sandbox, Path(tmp)) as url, bare_bolt(sandbox, Path(tmp) / "bare.log") as bare:
            simulator = SlackSimulator(url, secret, sandbox)
            simulator.command("U0ALICE", "C0GENERAL", "/incident", "declare P2 Benchmark incident")
            channel = eventually(lambda: next((c for c in sandbox.workspace.channels if c.name.startswith("incident-")
                                               and sandbox.workspace.pinned_messages(c.id)), None),
                                 timeout=20, what="the incident channel")
            response_url = sandbox.workspace.mint_response_url(channel.id, "U0ALICE")
            targets = [("bare Bolt app, ack only", bare, "note benchmark note {n}"),
                       ("/incident note (database write)", url, "note benchmark note {n}"),
                       ("/incident help (no database)", url, "help")]
            for round_ in range(ROUNDS):
                for label, target, text in targets[round_:] + targets[:round_]:  # a rotating order
                    bodies = [command_body(channel.id, text, n, response_url) for n in range(TOTAL)]
                    asyncio.run(fire(target, secret, bodies[:WARM_UP]))
                    latencies = asyncio.run(fire(target, secret, bodies))
                    print(f"round {round_ + 1}, {label}: {summary_ms(latencies)}")
                    p99s.setdefault(label, []).append(percentile(latencies, 99) * 1000)
                    p50s.setdefault(label, []).append(statistics.median(latencies) * 1000)
                loads.append(os.getloadavg()[0])
    bare_p99 = statistics.median(p99s[targets[0][0]])
    print(f"{TOTAL} commands, {CONCURRENCY} in flight, median of {ROUNDS} rounds "
          f"(1-minute load average {min(loads):.1f}–{max(loads):.1f} on {os.cpu_count()} cores):")
    results = {}
    for label, values in p99s.items():
        results[label] = statistics.median(values)
        print(f"  {label}: p50 {statistics.median(p50s[label]):.1f} ms, p99 {results[label]:.1f} ms "
              f"({results[label] / bare_p99:.2f}× the bare app's p99)")
    return results


if __name__ == "__main__":
    main()
