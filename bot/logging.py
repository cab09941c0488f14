"""structlog set-up with a redaction processor (docs/architecture.md, "Secrets stay secret")."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from typing import Any, TextIO

import structlog

_TOKEN = re.compile(r"\b(xox[abposr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+)")
REDACTED = "[redacted]"


class Redactor:
    """Removes known secrets and anything shaped like a Slack token from a text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return _TOKEN.sub(REDACTED, text)

    def processor(self, _logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
        return {key: self._scrub(value) for key, value in event.items()}

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {k: self._scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._scrub(v) for v in value]
        if isinstance(value, BaseException):
            return self(f"{type(value).__name__}: {value}")
        return value


_CHATTY = ("alembic", "apscheduler", "slack_bolt", "slack_sdk", "uvicorn.error")
"""Their INFO lines (migrations run, job executed, server started) are noise in operation."""
_DEVELOPER_ONLY = ("py.warnings",)
"""Python warnings (deprecations in libraries) are for whoever upgrades the libraries, not the operator."""
_FALSE_ALARMS = {
    # Bolt reads SLACK_BOT_TOKEN from the environment even when given a client built with that token.
    "slack_bolt": ("As you gave `client` as well, `token` will be unused.",),
}


def configure_logging(secrets: Iterable[str] = (), *, json: bool = True, level: int = logging.INFO,
                      stream: TextIO | None = None) -> None:
    """Every log line, ours and the libraries' (stdlib logging, Python warnings), rendered by
    structlog in one format, with secrets redacted."""
    redactor = Redactor(secrets)
    stream = stream or sys.stderr
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    stamp = structlog.processors.TimeStamper(fmt="iso", utc=True)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, structlog.stdlib.add_log_level, stamp],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, redactor.processor, renderer],
    ))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    for name in _DEVELOPER_ONLY:
        logging.getLogger(name).setLevel(logging.ERROR)
    for name, messages in _FALSE_ALARMS.items():
        logger = logging.getLogger(name)
        for old in [f for f in logger.filters if isinstance(f, _Drop)]:
            logger.removeFilter(old)
        logger.addFilter(_Drop(messages))
    logging.captureWarnings(True)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            stamp,
            structlog.processors.format_exc_info,
            redactor.processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )


class _Drop(logging.Filter):
    def __init__(self, messages: Iterable[str]) -> None:
        super().__init__()
        self._messages = frozenset(messages)

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in self._messages
