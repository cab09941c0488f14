"""Maintenance mode (procedures 5.4) as executor operations: ``maintenance.enable`` and ``maintenance.disable``."""
