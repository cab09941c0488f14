"""On-call: who is on call for 50 schedules × 10 layers with 500 overrides over a year of handoffs
(``bot.oncall.rota``, in this process), and `/oncall` answered by a real `opsbot serve` process
whose pack holds those 50 schedules and whose database holds those 500 overrides.

Target (issue 15): `/oncall` answers in well under Slack's 3 s.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from sqlmodel import Session

from bench._support import percentile, summary_ms
from bot.oncall import rota
from bot.sandbox.seed import default_workspace
from bot.sandbox.server import SandboxServer
from bot.sandbox.simulator import SlackSimulator
from playbooks.oncall import OncallSettings
from storage.db import make_engine
from storage.oncall import OVERRIDE, OncallChange
from tests.support.process import bot_process

SCHEDULES, LAYERS, OVERRIDES = 50, 10, 500
PEOPLE = ["U0ALICE", "U0BOB", "U0CAROL", "U0DAVE", "U0ERIN", "U0FRANK", "U0GRACE", "U0HEIDI", "U0IVAN", "U0JUDY",
          "U0KIM", "U0LEO"]
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney"]
SHIFTS = ["daily", "weekly", "12h", "8h"]
RESTRICTIONS = [[], [], ["business_hours"], ["weekends"], [{"days": ["monday", "wednesday", "friday"],
                                                             "start": "18:00", "end": "08:00"}]]
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
YEAR_END = YEAR_START + timedelta(days=365)
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)  # the running bot's clock is the machine's; see below


def pack(seed: int = 15) -> dict:
    rng = random.Random(seed)
    schedules = {}
    for s in range(SCHEDULES):
        layers = [{"name": f"layer-{n}", "people": rng.sample(PEOPLE, rng.randint(3, 6)), "shift": rng.choice(SHIFTS),
                   "handoff": f"{rng.randint(0, 23):02d}:{rng.choice([0, 30]):02d}", "start": "2026-01-05",
                   "restrictions": rng.choice(RESTRICTIONS)} for n in range(LAYERS)]
        schedules[f"team-{s:02d}"] = {"timezone": rng.choice(ZONES), "layers": layers}
    return {"schedules": schedules}


def overrides(settings: OncallSettings, start: datetime, seed: int = 15) -> dict[str, list[rota.Override]]:
    rng = random.Random(seed)
    out: dict[str, list[rota.Override]] = {name: [] for name in settings.schedules}
    names = sorted(settings.schedules)
    for n in range(OVERRIDES):
        begin = start + timedelta(minutes=rng.randrange(0, 365 * 24 * 60))
        out[names[n % len(names)]].append(
            rota.Override(begin, begin + timedelta(hours=rng.randint(1, 72)), rng.choice(PEOPLE), n + 1))
    return out


def year_of_handoffs(settings: OncallSettings, extra: dict[str, list[rota.Override]]) -> tuple[float, float, int]:
    """Wall and CPU seconds (the machine is shared: CPU time is what the code costs), and stretches."""
    started, cpu = time.perf_counter(), time.process_time()
    segments = sum(len(rota.final(schedule, lambda _h: (), extra[name], [], YEAR_START, YEAR_END))
                   for name, schedule in settings.schedules.items())
    return time.perf_counter() - started, time.process_time() - cpu, segments


def slash_oncall(settings_doc: dict, rounds: int = 30) -> list[float]:
    """`/oncall` against the bot process: its answer rides on the ack when it is ready within 2 s."""
    timings = []
    with tempfile.TemporaryDirectory() as tmp, SandboxServer(default_workspace()) as sandbox:
        folder = Path(tmp) / "pack"
        folder.mkdir()
        (folder / "oncall.yaml").write_text(yaml.safe_dump(settings_doc))
        url_db = f"sqlite:///{tmp}/bench.db"
        with bot_process(sandbox, url_db, Path(tmp) / "bot.log", extra_env={"OPSBOT_PLAYBOOKS": str(folder)}) as url:
            engine = make_engine(url_db)
            now = datetime.now(UTC)
            settings = OncallSettings.model_validate(settings_doc)
            with Session(engine) as session:  # the year of overrides around today, as people made them
                for name, items in overrides(settings, now - timedelta(days=180)).items():
                    session.add_all(OncallChange(schedule=name, kind=OVERRIDE, user_id=o.user, starts_at=o.start,
                                                 ends_at=o.end, created_by="U0BOB", created_at=now) for o in items)
                session.commit()
            engine.dispose()
            simulator = SlackSimulator(url, sandbox.workspace.identity.signing_secret, sandbox)
            for n in range(rounds + 3):
                started = time.perf_counter()
                response = simulator.command("U0DAVE", "C0GENERAL", "/oncall", "")
                elapsed = time.perf_counter() - started
                assert response.status == 200 and "team-49" in response.body, response.body[:300]
                if n >= 3:  # warm-up: caches, first connections
                    timings.append(elapsed)
    return timings


def main() -> dict[str, float]:
    doc = pack()
    settings = OncallSettings.model_validate(doc)
    extra = overrides(settings, YEAR_START)
    runs = [year_of_handoffs(settings, extra) for _ in range(3)]
    year_s = statistics.median(r[0] for r in runs)
    cpu_s = statistics.median(r[1] for r in runs)
    segments = runs[0][2]
    print(f"who is on call, {SCHEDULES} schedules × {LAYERS} layers, {OVERRIDES} overrides, one year: "
          f"{segments} stretches (handoffs) in {year_s * 1000:.0f} ms wall, {cpu_s * 1000:.0f} ms CPU "
          f"(medians of 3), {cpu_s / SCHEDULES * 1000:.1f} ms CPU per schedule-year")
    timings = slash_oncall(doc)
    print(f"/oncall over {SCHEDULES} schedules (answer on the ack): {summary_ms(timings)}")
    return {"year_ms": year_s * 1000, "year_cpu_ms": cpu_s * 1000, "segments": segments,
            "oncall_p50_ms": statistics.median(timings) * 1000,
            "oncall_p95_ms": percentile(timings, 95) * 1000}


if __name__ == "__main__":
    main()
