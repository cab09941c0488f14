"""``public.yaml``: what people outside the incident see, and how much of it.

Stakeholder channels (``severities.yaml``) get each update; the ones listed in
``summary_channels`` get the short ``status_summary`` template instead of the full one (an
executive needs status, impact and ETA, not the actions being tried). Customer notices, once the
Incident Commander approves them, are published on the bot's status page (``GET /status``)."""

from __future__ import annotations

from pydantic import Field

from playbooks.common import ChannelName, PackModel


class PublicSettings(PackModel):
    service: str = Field("our service", min_length=1, max_length=80)
    """The ``$service`` of the customer templates (the seed's [Service Name])."""
    status_page_title: str = Field("Service status", min_length=1, max_length=80)
    status_page_url: str = Field("http://127.0.0.1:3000/status", min_length=1)
    """The ``$status_page_url`` customers are sent to: where ``GET /status`` is reachable."""
    summary_channels: list[ChannelName] = ["#executive"]
    history_days: int = Field(30, ge=1, le=366)
    """How far back resolved incidents stay listed on the status page."""
