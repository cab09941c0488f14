"""The floor for ``bench/ack_latency.py``: a Bolt ``AsyncApp`` whose one listener only acks, behind
the same Starlette adapter and uvicorn settings as ``opsbot serve``, talking to the same sandbox.

Run as its own process: ``SLACK_BOT_TOKEN=… SLACK_SIGNING_SECRET=… SLACK_API_URL=… PORT=…
python -m bench.bare_bolt``."""

from __future__ import annotations

import os
from typing import Any

import uvicorn
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def create_app() -> Starlette:
    client = AsyncWebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"], timeout=10)
    bolt = AsyncApp(client=client, signing_secret=os.environ["SLACK_SIGNING_SECRET"], process_before_response=False)

    @bolt.command("/incident")
    async def only_ack(ack: AsyncAck, command: dict[str, Any]) -> None:
        await ack(text="Noted on the timeline.")

    handler = AsyncSlackRequestHandler(bolt)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/slack/events", events, methods=["POST"]),
                             Route("/healthz", healthz, methods=["GET"])])


if __name__ == "__main__":
    uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=int(os.environ["PORT"]), log_level="warning",
                                  access_log=False)).run()
