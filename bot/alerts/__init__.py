"""Monitoring alerts → incidents: payload models, grouping rules, Block Kit rendering, the pump."""
