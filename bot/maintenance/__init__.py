"""Maintenance mode as the rest of the bot sees it: is it on, since when, by whom (procedures 5.4)."""
