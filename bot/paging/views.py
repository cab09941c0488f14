"""The acknowledge link's pages (plain HTML, no JavaScript, nothing loaded from elsewhere): the
confirmation a GET shows, with the button that POSTs, and the answers."""

from __future__ import annotations

from html import escape

from bot.paging.flows import PageView
from bot.paging.links import PATH

_STYLE = ("body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;line-height:1.5}"
          "button{font-size:1.2rem;padding:.7rem 1.4rem;border-radius:.4rem;border:0;background:#b00020;color:#fff}")


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport "
            f"content='width=device-width,initial-scale=1'><meta name=robots content=noindex>"
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>{body}</body></html>")


def confirmation(view: PageView, token: str) -> str:
    heading = f"{view.incident_ref}: {view.title}"
    if not view.open:
        return message(heading, f"{view.incident_ref} is resolved; nothing to acknowledge.")
    if view.stopped:
        return message(heading, "Already acknowledged: the pages for this incident have stopped.")
    return _page(heading, f"<h1>{escape(heading)}</h1><p>You were paged for escalation level {view.level}. "
                          "Acknowledging tells the incident channel you are on it and stops the repeat pages.</p>"
                          f"<form method=post action='{PATH}'><input type=hidden name=t value='{escape(token)}'>"
                          "<button type=submit>Acknowledge</button></form>")


def message(title: str, text: str) -> str:
    return _page(title, f"<h1>{escape(title)}</h1><p>{escape(text)}</p>")
