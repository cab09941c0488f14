"""The status page in a real headless browser (Debian's chromium, installed by the bootstrap): it
renders without JavaScript, shows the published notice, and the screenshot is not blank."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.bot import running_bot
from tests.support.clock import FakeClock
from tests.support.png import colours, read_png
from tests.test_public_notices import COMMANDER, INTERNAL, approve, draft, incident_with_roles

pytestmark = pytest.mark.kind("e2e")

WIDTH, HEIGHT = 1000, 800


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    assert binary, "chromium is missing: run ./dev bootstrap (it installs it)"
    return subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                           "--disable-javascript", f"--user-data-dir={tmp_path / 'profile'}",
                           f"--window-size={WIDTH},{HEIGHT}", *args],
                          capture_output=True, text=True, timeout=120, check=True)


def test_the_status_page_renders_in_chromium_without_javascript(tmp_path: Path) -> None:
    with running_bot(tmp_path, f"sqlite:///{tmp_path}/opsbot.db", FakeClock()) as bot:
        channel = incident_with_roles(bot)
        notice = draft(bot, channel, public_title="Checkout is degraded",
                       impact="Some payments fail", body="We are investigating failed payments.")
        approve(bot, channel, notice, COMMANDER)
        url = f"{bot.url}/status"
        dom = chromium(tmp_path, "--dump-dom", url).stdout
        shot = tmp_path / "status.png"
        chromium(tmp_path, f"--screenshot={shot}", url)

    assert "<h1>YTEmpire status</h1>" in dom and "Checkout is degraded" in dom
    assert "We are investigating failed payments." in dom and "1 ongoing incident(s)" in dom
    assert not any(secret in dom for secret in INTERNAL)
    width, height, rows = read_png(shot)
    assert (width, height) == (WIDTH, HEIGHT)
    seen = colours(rows, size=len(rows[0]) // width)
    assert len(seen) > 20, "the screenshot is blank"  # text, the red banner and the page background
    banner_red = bytes([0xC0, 0x39, 0x2B])
    assert any(c[:3] == banner_red for c in seen), "the incident banner is drawn"
