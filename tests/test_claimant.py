"""Who holds an outbox claim (bot/claimant.py): a holder that certainly ended is gone; anything that
cannot be told (another host, no holder named) is not, and its claim runs out instead, never under a
live sender's call."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.claimant import gone, this_process
from bot.settings import SettingsError, load_settings
from bot.slack.gateway import call_bound
from bot.slack.outbox import CLAIM_FOR

pytestmark = pytest.mark.kind("unit")


def test_only_a_holder_that_certainly_ended_is_gone() -> None:
    ended = subprocess.run([sys.executable, "-c", "from bot.claimant import this_process; print(this_process())"],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert gone(ended)
    me = this_process()
    assert not gone(me)
    where, pid, start = me.rsplit("|", 2)
    assert int(pid) == os.getpid() and int(start) > 0
    assert gone(f"{where}|{pid}|{int(start) - 1}")  # the PID now belongs to a later process: the holder ended
    assert gone(f"{where.split('/')[0]}/an-earlier-boot|{pid}|{start}")  # this host before a reboot
    assert not gone(f"another-{where}|{pid}|1")  # another host: nothing can be told here
    assert not gone(None) and not gone("")


def test_a_whole_slack_call_fits_in_an_outbox_claim() -> None:
    """A live sender's claim must not run out under its call, or a second sender could send it again."""
    env = {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "secret"}
    longest = load_settings({**env, "OPSBOT_SLACK_TIMEOUT_SECONDS": "15"}).slack_timeout
    assert call_bound(longest) < CLAIM_FOR.total_seconds()
    with pytest.raises(SettingsError, match="OPSBOT_SLACK_TIMEOUT_SECONDS"):
        load_settings({**env, "OPSBOT_SLACK_TIMEOUT_SECONDS": "16"})
