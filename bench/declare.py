"""Declaration: from `/incident declare` to a ready channel (created, members invited, topic set,
brief posted and pinned, announcement sent), with the sandbox adding 0 ms and 100 ms per Slack call.

The number of sequential Slack round trips is read from the 100 ms run: (ready time − the 0 ms
run's ready time) / 100 ms. Target (issue 2): at most 4.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from bench._support import bot_process
from bot.sandbox.seed import default_workspace
from bot.sandbox.server import SandboxServer
from bot.sandbox.simulator import SlackSimulator

RUNS = 5


def ready_channel(sandbox: SandboxServer, title: str) -> bool:
    ws = sandbox.workspace
    for channel in ws.channels:
        pins = ws.pinned_messages(channel.id)
        if channel.name.startswith("incident-") and pins and title in str(pins[0].blocks) \
                and channel.topic and any(title in m.text for m in ws.messages("C0INCIDENTS")):
            return True
    return False


def measure(latency_ms: int) -> list[float]:
    timings = []
    with tempfile.TemporaryDirectory() as tmp, SandboxServer(default_workspace()) as sandbox, \
            bot_process(sandbox, Path(tmp)) as url:
        simulator = SlackSimulator(url, sandbox.workspace.identity.signing_secret, sandbox)
        # warm the bot's caches (auth, user groups, channel names) as a running bot has them
        simulator.command("U0ALICE", "C0GENERAL", "/incident", "declare P1 Warm-up")
        _wait(sandbox, "Warm-up")
        sandbox.workspace.latency_ms = latency_ms
        for n in range(RUNS):
            title = f"Declared {latency_ms} {n}"
            started = time.perf_counter()
            response = simulator.command("U0ALICE", "C0GENERAL", "/incident", f"declare P1 {title}")
            assert response.status == 200, response.body
            _wait(sandbox, title)
            timings.append(time.perf_counter() - started)
    return timings


def _wait(sandbox: SandboxServer, title: str) -> None:
    deadline = time.monotonic() + 30
    while not ready_channel(sandbox, title):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{title}: channel not ready in 30 s")
        time.sleep(0.005)


def main() -> dict[str, float]:
    fast = measure(0)
    slow = measure(100)
    fast_ms, slow_ms = statistics.median(fast) * 1000, statistics.median(slow) * 1000
    trips = (slow_ms - fast_ms) / 100
    print(f"declare → ready channel, median of {RUNS}: {fast_ms:.0f} ms at 0 ms/call, "
          f"{slow_ms:.0f} ms at 100 ms/call → {trips:.1f} sequential Slack round trips")
    return {"fast_ms": fast_ms, "slow_ms": slow_ms, "round_trips": trips}


if __name__ == "__main__":
    main()
