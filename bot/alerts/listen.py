"""The channels whose top-level messages are alerts (``alerts.yaml: listen_channels``): an alert
integration posting in Slack (or a person) there gets a "Declare incident" offer in the thread."""

from __future__ import annotations

import structlog

from bot.slack.gateway import SlackGateway, SlackRejected

log = structlog.get_logger(__name__)


class ListenedChannels:
    def __init__(self, gateway: SlackGateway, names: tuple[str, ...] | list[str]) -> None:
        self._gateway = gateway
        self._names = tuple(names)
        self._ids: frozenset[str] | None = None

    def ids(self) -> frozenset[str]:
        """Resolved once; a channel that does not exist is skipped (and logged), not retried. Slack
        being unreachable raises, and the next message tries again."""
        if self._ids is None:
            found = set()
            for name in self._names:
                try:
                    found.add(self._gateway.channel_id(name))
                except SlackRejected:
                    log.warning("alert_channel_not_found", channel=name)
            self._ids = frozenset(found)
        return self._ids
