"""Acknowledgement latency: 200 signed `/incident` commands, 20 at a time, over HTTP.

The bot runs as a real `opsbot serve` process; the commands are `/incident note …` in an
incident channel (a database write on the request path, the common case during an incident).
Target (issue 2): p99 under 100 ms on this 2-core machine.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

from bench._support import bot_process, percentile, summary_ms
from bot.sandbox.seed import default_workspace
from bot.sandbox.server import SandboxServer
from bot.sandbox.signing import sign
from bot.sandbox.simulator import SlackSimulator

TOTAL, CONCURRENCY = 200, 20


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


def main() -> dict[str, float]:
    results = {}
    with tempfile.TemporaryDirectory() as tmp, SandboxServer(default_workspace()) as sandbox:
        secret = sandbox.workspace.identity.signing_secret
        with bot_process(sandbox, Path(tmp)) as url:
            simulator = SlackSimulator(url, secret, sandbox)
            simulator.command("U0ALICE", "C0GENERAL", "/incident", "declare P2 Benchmark incident")
            deadline = time.monotonic() + 20
            channel = None
            while channel is None and time.monotonic() < deadline:
                channel = next((c for c in sandbox.workspace.channels
                                if c.name.startswith("incident-") and sandbox.workspace.pinned_messages(c.id)), None)
                time.sleep(0.05)
            assert channel is not None, "incident channel never became ready"
            response_url = sandbox.workspace.mint_response_url(channel.id, "U0ALICE")
            for label, text in (("/incident note (database write)", "note benchmark note {n}"),
                                ("/incident help (no database)", "help")):
                bodies = [command_body(channel.id, text, n, response_url) for n in range(TOTAL)]
                asyncio.run(fire(url, secret, bodies[:20]))  # warm-up
                latencies = asyncio.run(fire(url, secret, bodies))
                print(f"ack latency, {label}, {TOTAL} commands, {CONCURRENCY} concurrent: {summary_ms(latencies)}")
                results[label] = percentile(latencies, 99) * 1000
    return results


if __name__ == "__main__":
    main()
