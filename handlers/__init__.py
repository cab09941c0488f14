"""Slack listeners and HTTP endpoints: parse, ack, call a flow, render (see handlers/listeners.py
for the one shape every handler has, and docs/architecture.md for where a new one goes)."""
