"""Message templates of the pack: which ``$placeholders`` each may use, checking and filling them.

Templates use ``string.Template`` syntax (``$name``, ``${name}``, ``$$`` for a dollar sign) so
that a pack author can't reach attributes or run code the way ``str.format`` would allow.
"""

from __future__ import annotations

from collections.abc import Mapping
from string import Template

TEMPLATE_PLACEHOLDERS: dict[str, frozenset[str]] = {
    "status_update": frozenset(
        {
            "time", "status", "impact", "actions", "eta",
            "incident_id", "title", "severity", "elapsed", "progress",
        }
    ),
    "status_summary": frozenset(
        {
            "time", "status", "impact", "eta", "incident_id", "title", "severity", "elapsed",
        }
    ),
    "customer_initial": frozenset({"service", "impact", "started", "status_page_url"}),
    "customer_resolution": frozenset({"service", "start", "end", "impact", "resolution"}),
    "postmortem": frozenset(
        {
            "incident_id", "title", "date", "duration", "severity", "impact",
            "declared_at", "resolved_at", "roles", "timeline", "checklist", "summary",
            "acknowledged_at", "time_to_acknowledge", "mitigated_at", "time_to_mitigate",
            "changes", "action_items",
        }
    ),
}  # fmt: skip


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill the placeholders. Callers pass every name; a gap stays visible as ``$name`` instead of
    failing a post in the middle of an incident."""
    return Template(template).safe_substitute(values)


def check_template(name: str, text: str) -> str:
    """Return ``text`` if it is a usable ``name`` template, else raise ValueError naming each bad
    placeholder and its line: a typo would otherwise reach Slack as a literal ``$statsu``."""
    allowed = TEMPLATE_PLACEHOLDERS[name]
    bad = []
    for match in Template.pattern.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        used = match["named"] or match["braced"]
        if match["invalid"] is not None:
            bad.append(f"template line {line}: '$' is not followed by a name (write $$ for a dollar sign)")
        elif used and used not in allowed:
            bad.append(f"template line {line}: unknown placeholder ${used}")
    if bad:
        known = ", ".join(f"${n}" for n in sorted(allowed))
        raise ValueError(f"{'; '.join(bad)}; {name} can use {known}")
    return text
