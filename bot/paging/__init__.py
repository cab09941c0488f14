"""Paging beyond Slack: contact methods, pages through e-mail, ntfy and SMS, acknowledge links
(docs/paging.md)."""
