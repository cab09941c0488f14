"""The status page as HTML (readable without JavaScript, every value escaped) and as JSON, one page
of incidents at a time (``bot.public.status.paged``)."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from bot.public.status import Paged, PublicIncident, PublicWindow

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f4f6f8;color:#1d2630}
main{max-width:760px;margin:0 auto;padding:32px 20px}
h1{font-size:28px;margin:0 0 20px}h2{font-size:18px;margin:32px 0 12px}
.banner{padding:18px 20px;border-radius:8px;color:#fff;font-size:18px;font-weight:600}
.ok{background:#1f8a4c}.down{background:#c0392b}
.card{background:#fff;border-radius:8px;padding:16px 20px;margin:12px 0;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.card h3{margin:0 0 6px;font-size:16px}.meta{color:#5b6770;font-size:13px}
.body{white-space:pre-wrap;margin-top:8px}.empty{color:#5b6770}
"""


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _incident_card(incident: PublicIncident) -> str:
    state = f"Resolved {_when(incident.resolved_at)}" if incident.resolved_at else "Ongoing"
    return (f'<article class="card"><h3>{escape(incident.title)}</h3>'
            f'<div class="meta">{state} · since {_when(incident.started_at)} · '
            f'updated {_when(incident.latest_at)}</div>'
            f'<p><strong>Impact:</strong> {escape(incident.impact)}</p>'
            f'<div class="body">{escape(incident.latest)}</div></article>')


def _window_card(window: PublicWindow) -> str:
    services = f" · {escape(', '.join(window.services))}" if window.services else ""
    impact = f"<p><strong>Expected impact:</strong> {escape(window.impact)}</p>" if window.impact else ""
    return (f'<article class="card"><h3>{escape(window.title)}</h3>'
            f'<div class="meta">{_when(window.starts_at)} to {_when(window.ends_at)}{services}</div>{impact}</article>')


def _section(title: str, cards: list[str], empty: str) -> str:
    return f"<section><h2>{title}</h2>{''.join(cards) or f'<p class=empty>{empty}</p>'}</section>"


def _nav(paged: Paged) -> str:
    links = []
    if paged.number > 1:
        links.append(f'<a href="?page={paged.number - 1}">Newer</a>')
    if paged.number < paged.pages:
        links.append(f'<a href="?page={paged.number + 1}">Older</a>')
    return f'<nav class="meta">Page {paged.number} of {paged.pages} · {" · ".join(links)}</nav>' if links else ""


def html(paged: Paged) -> str:
    page = paged.page
    banner = ('<div class="banner ok">All systems operational</div>' if page.operational else
              f'<div class="banner down">{len(page.current)} ongoing incident(s)</div>')
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(page.title)}</title><style>{_STYLE}</style></head><body><main>"
        f"<h1>{escape(page.title)}</h1>{banner}"
        + (_section("Current incidents", [_incident_card(i) for i in paged.current], "No incidents right now.")
           if paged.number == 1 or paged.current else "")
        + _section("Scheduled maintenance", [_window_card(w) for w in page.maintenance], "None scheduled.")
        + (_section("Past incidents", [_incident_card(i) for i in paged.history], "No incidents in this period.")
           if paged.history or paged.number == paged.pages else "")
        + _nav(paged)
        + f'<p class="meta">Updated {_when(page.generated_at)}</p></main></body></html>'
    )


def as_json(paged: Paged) -> dict[str, Any]:
    def incident(i: PublicIncident) -> dict[str, Any]:
        return {"title": i.title, "impact": i.impact, "latest_update": i.latest, "updated_at": i.latest_at.isoformat(),
                "started_at": i.started_at.isoformat(),
                "resolved_at": i.resolved_at.isoformat() if i.resolved_at else None}

    page = paged.page
    return {
        "title": page.title, "generated_at": page.generated_at.isoformat(),
        "status": "operational" if page.operational else "incident",
        "ongoing": len(page.current),
        "incidents": [incident(i) for i in paged.current],
        "scheduled_maintenance": [{"title": w.title, "starts_at": w.starts_at.isoformat(),
                                   "ends_at": w.ends_at.isoformat(), "expected_impact": w.impact,
                                   "services": list(w.services)} for w in page.maintenance],
        "history": [incident(i) for i in paged.history],
        "page": paged.number, "pages": paged.pages,
    }
