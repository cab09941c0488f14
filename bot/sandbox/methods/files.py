"""files.getUploadURLExternal and files.completeUploadExternal: the upload that replaced the retired
``files.upload``. The first announces a file (``filename``, ``length`` ≥ 1) and answers an upload URL
on this server; the bytes are POSTed there (raw or multipart, ``bot.sandbox.control``); the second
shares uploaded files in a channel (or a thread) with an optional ``initial_comment``, as a message
by the bot that carries them. ``files.upload`` answers ``method_deprecated``, as Slack does now.
"""

from __future__ import annotations

from typing import Any

from bot.sandbox.errors import SlackError
from bot.sandbox.methods.args import Args
from bot.sandbox.methods.lookup import require_member, visible_channel
from bot.sandbox.models import File
from bot.sandbox.state import State

MAX_ALT_TEXT = 1000
MAX_SNIPPET = 1_048_576
SNIPPET_TYPES = ("text", "markdown", "python", "javascript", "json", "yaml", "shell", "sql", "diff", "auto")


def get_upload_url(state: State, args: Args) -> dict[str, Any]:
    if "filename" not in args:
        raise SlackError("invalid_arguments", response_metadata={"messages": ["missing required field: filename"]})
    length = args.number("length", 0)
    if length < 1:
        raise SlackError("missing_argument")  # Slack's answer to a missing or zero length
    if len(args.text("alt_txt")) > MAX_ALT_TEXT:
        raise SlackError("alt_txt_too_large")
    if "snippet_type" in args:
        if args.text("snippet_type") not in SNIPPET_TYPES:
            raise SlackError("unknown_snippet_type")
        if length > MAX_SNIPPET:
            raise SlackError("snippet_too_large")
    file = File(id=state.new_id("F"), filename=args.text("filename"), length=length)
    state.files[file.id] = file
    base = state.base_url or "http://127.0.0.1"
    return {"ok": True, "upload_url": f"{base}/_sandbox/upload/{file.id}", "file_id": file.id}


def complete_upload(state: State, args: Args) -> dict[str, Any]:
    listed = args.json("files") if "files" in args else None
    if not isinstance(listed, list) or not listed or not all(isinstance(f, dict) and f.get("id") for f in listed):
        raise SlackError("invalid_arguments", response_metadata={"messages": ["files: [{id, title}] is required"]})
    files = []
    for item in listed:
        file = state.files.get(str(item["id"]))
        if file is None or file.content is None or file.completed:
            raise SlackError("file_not_found")
        files.append((file, str(item.get("title") or "")))
    targets = [args.text("channel_id")] if "channel_id" in args else args.id_list("channels")
    if len(targets) > 100:
        raise SlackError("channels_limit_exceeded")
    thread_ts = args.text("thread_ts") or None
    if thread_ts and len(targets) != 1:
        raise SlackError("invalid_arguments", response_metadata={"messages": ["thread_ts needs exactly one channel"]})
    channels = []
    for target in targets:
        channel = visible_channel(state, target) if not target.startswith(("U", "W")) else state.im_with(target)
        require_member(state, channel)
        channels.append(channel)
    bot = state.identity.bot_user_id
    for file, title in files:
        file.title, file.completed = title or file.filename, True
        file.channels = [c.id for c in channels]
    for channel in channels:
        message = state.post(channel, bot, args.text("initial_comment"), [], thread_ts)
        message.files = [file.to_slack(bot) for file, _ in files]
    return {"ok": True, "files": [{"id": f.id, "title": f.title} for f, _ in files]}


def upload_retired(state: State, args: Args) -> dict[str, Any]:
    raise SlackError("method_deprecated")


METHODS = {
    "files.getUploadURLExternal": get_upload_url,
    "files.completeUploadExternal": complete_upload,
    "files.upload": upload_retired,
}
