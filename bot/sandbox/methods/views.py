"""views.*: modals and the App Home, including the modal stack Slack keeps per user.

A modal needs a fresh trigger_id (single use, 3 s); the stack holds at most three views. What the
bot answers to a view_submission (`response_action`) is applied here too, so the simulator and
the Web API share one set of rules.
"""

from __future__ import annotations

from typing import Any

from bot.sandbox.blocks import VIEW_BLOCK_LIMIT, block_errors, is_block_list, text_errors, with_block_ids
from bot.sandbox.errors import SlackError
from bot.sandbox.methods.args import Args
from bot.sandbox.models import View
from bot.sandbox.state import State

MAX_TITLE_LENGTH = 24
MAX_PRIVATE_METADATA = 3000
MAX_CALLBACK_ID = 255
MAX_STACK = 3


def view_errors(view: dict[str, Any], expected_type: str) -> list[str]:
    errors = []
    if view.get("type") != expected_type:
        errors.append(f"[ERROR] must be '{expected_type}' [json-pointer:/view/type]")
    blocks = view.get("blocks")
    if not is_block_list(blocks):
        errors.append("[ERROR] must be an array of blocks [json-pointer:/view/blocks]")
    else:
        errors += block_errors(blocks, limit=VIEW_BLOCK_LIMIT, pointer="/view/blocks")
    if expected_type == "modal":
        errors += text_errors(view.get("title"), MAX_TITLE_LENGTH, "/view/title", plain_only=True)
        for button in ("submit", "close"):
            if button in view:
                errors += text_errors(view[button], MAX_TITLE_LENGTH, f"/view/{button}", plain_only=True)
        if "submit" not in view and any(b.get("type") == "input" for b in blocks or []):
            errors.append("[ERROR] submit is required when an input block is present [json-pointer:/view/submit]")
    if len(str(view.get("private_metadata", ""))) > MAX_PRIVATE_METADATA:
        errors.append(
            f"[ERROR] must be less than {MAX_PRIVATE_METADATA + 1} characters [json-pointer:/view/private_metadata]"
        )
    if len(str(view.get("callback_id", ""))) > MAX_CALLBACK_ID:
        errors.append(f"[ERROR] must be less than {MAX_CALLBACK_ID + 1} characters [json-pointer:/view/callback_id]")
    return errors


def _check_view(state: State, view: Any, expected_type: str, replacing: View | None = None) -> dict[str, Any]:
    if not isinstance(view, dict):
        raise SlackError("invalid_arguments", response_metadata={"messages": ["[ERROR] missing required field: view"]})
    errors = view_errors(view, expected_type)
    if errors:
        raise SlackError("invalid_arguments", response_metadata={"messages": errors})
    external_id = view.get("external_id")
    if external_id and any(
        v is not replacing and not v.closed and v.view.get("external_id") == external_id for v in state.views.values()
    ):
        raise SlackError("duplicate_external_id")
    return {**view, "blocks": with_block_ids(view["blocks"])}


def _json(state: State, view: View) -> dict[str, Any]:
    identity = state.identity
    return {"ok": True, "view": view.to_slack(identity.team_id, identity.app_id, identity.bot_id)}


def _trigger(args: Args) -> str:
    if "trigger_id" not in args:
        raise SlackError("invalid_arguments", response_metadata={"messages": ["[ERROR] missing field: trigger_id"]})
    return args.text("trigger_id")


def _push(state: State, under: View, view: dict[str, Any], trigger_id: str | None) -> View:
    if len(state.modal_stack(under.root_view_id)) >= MAX_STACK:
        raise SlackError("push_limit_reached")
    return state.open_view(under.user, view, trigger_id, previous=under)


def open_(state: State, args: Args) -> dict[str, Any]:
    trigger_id = _trigger(args)
    view = _check_view(state, args.json("view"), "modal")
    user_id = state.consume_trigger(trigger_id)
    return _json(state, state.open_view(user_id, view, trigger_id))


def push(state: State, args: Args) -> dict[str, Any]:
    trigger_id = _trigger(args)
    view = _check_view(state, args.json("view"), "modal")
    user_id = state.consume_trigger(trigger_id)
    top = state.top_modal(user_id)
    if top is None:
        raise SlackError("not_found")
    return _json(state, _push(state, top, view, trigger_id))


def update(state: State, args: Args) -> dict[str, Any]:
    if "view_id" not in args and "external_id" not in args:
        messages = ["[ERROR] view_id or external_id required"]
        raise SlackError("invalid_arguments", response_metadata={"messages": messages})
    view_id, external_id = args.text("view_id"), args.text("external_id")
    target = next(
        (
            v
            for v in state.views.values()
            if not v.closed and (v.id == view_id if view_id else v.view.get("external_id") == external_id)
        ),
        None,
    )
    if target is None:
        raise SlackError("not_found")
    if "hash" in args and args.text("hash") != target.hash:
        raise SlackError("hash_conflict")
    target.view = _check_view(state, args.json("view"), target.type, replacing=target)
    target.hash = state.new_hash()
    return _json(state, target)


def publish(state: State, args: Args) -> dict[str, Any]:
    user_id = args.text("user_id")
    if user_id not in state.users:
        raise SlackError("user_not_found")
    home = next((v for v in state.views.values() if v.user == user_id and v.type == "home"), None)
    if home is not None and "hash" in args and args.text("hash") != home.hash:
        raise SlackError("hash_conflict")
    view = _check_view(state, args.json("view"), "home", replacing=home)
    if home is None:
        return _json(state, state.open_view(user_id, view, None))
    home.view, home.hash = view, state.new_hash()
    return _json(state, home)


def apply_submission_response(state: State, view_id: str, response: dict[str, Any] | None) -> None:
    """What Slack's client does with the bot's answer to a view_submission.

    No `response_action` closes the submitted view; `errors` keeps it open (each key must name an
    input block, or Slack shows a generic error); `update`, `push` and `clear` act on the stack.
    """
    view = state.views[view_id]
    response = response or {}
    action = response.get("response_action")
    if action is None:
        view.closed = True
    elif action == "errors":
        errors = response.get("errors")
        input_ids = {b.get("block_id") for b in view.view.get("blocks", []) if b.get("type") == "input"}
        if not isinstance(errors, dict) or not errors or not set(errors) <= input_ids:
            hint = f"errors must name input blocks of the view: {sorted(input_ids)}"
            raise SlackError("invalid_errors", response_metadata={"messages": [hint]})
    elif action == "update":
        view.view = _check_view(state, response.get("view"), "modal", replacing=view)
        view.hash = state.new_hash()
    elif action == "push":
        _push(state, view, _check_view(state, response.get("view"), "modal"), None)
    elif action == "clear":
        for stacked in state.modal_stack(view.root_view_id):
            stacked.closed = True
    else:
        raise SlackError("invalid_response_action")


METHODS = {
    "views.open": open_,
    "views.push": push,
    "views.update": update,
    "views.publish": publish,
}
