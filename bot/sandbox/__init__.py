"""A local Slack for opsbot: Web API server with workspace state, signed-request simulator, terminal console.

The bot reaches the server through `SLACK_API_URL` exactly as it reaches slack.com, and the
server enforces Slack's rules (names, membership, trigger expiry, rate limits on request), so a
test that passes here exercises the same code paths as production.
"""

from bot.sandbox.console import run_console
from bot.sandbox.models import Call, Channel, Ephemeral, Identity, Message, User, UserGroup, View
from bot.sandbox.remote import RemoteSandbox, RemoteWorkspace
from bot.sandbox.seed import default_workspace
from bot.sandbox.server import SandboxServer
from bot.sandbox.signing import sign
from bot.sandbox.simulator import SlackSimulator
from bot.sandbox.transport import BotResponse
from bot.sandbox.workspace import Fault, Workspace

__all__ = [
    "BotResponse",
    "Call",
    "Channel",
    "Ephemeral",
    "Fault",
    "Identity",
    "Message",
    "RemoteSandbox",
    "RemoteWorkspace",
    "SandboxServer",
    "SlackSimulator",
    "User",
    "UserGroup",
    "View",
    "Workspace",
    "default_workspace",
    "run_console",
    "sign",
]
