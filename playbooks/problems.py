"""Problems in a playbook pack, each naming the file and the key to fix: what ``opsbot check`` prints
and what stops start-up, instead of a traceback."""

from __future__ import annotations

import difflib
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from playbooks.models import Loc, Playbook


@dataclass(frozen=True)
class Problem:
    file: str  # the pack file's name, or the path of an override file or folder
    key: str  # dotted key inside the file, "" when the whole file is at fault
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.message}" if self.key else f"{self.file}: {self.message}"


class PlaybookError(Exception):
    """Every problem found in one pass, so one run of ``opsbot check`` shows them all."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)
        self.problems = problems

    def __str__(self) -> str:
        lines = "".join(f"\n  {problem}" for problem in self.problems)
        return f"the playbook pack has {len(self.problems)} problem(s):{lines}"


def validation_problems(error: ValidationError, files: Mapping[str, str], data: Mapping[str, object]) -> list[Problem]:
    """Translate a ``Playbook`` validation error: ``loc[0]`` is the section, hence the file (named
    by ``files``); the rest becomes a key in that file's document (``data[section]``). A section
    absent from ``data`` failed to load and has a problem of its own, so its "missing" is dropped."""
    return [
        Problem(files[section], _key(e["loc"][1:], data[section]), _message(e))
        for e in error.errors(include_url=False)
        if (section := str(e["loc"][0])) in data
    ]


def _key(loc: Loc, doc: object) -> str:
    """``P1.update_every``, ``contain.items.isolate.text``, ``[1].notify[0]``: a list entry is
    named by its ``key`` when it has one, because people don't count list items."""
    key = ""
    for part in loc:
        if isinstance(part, int) and isinstance(doc, list) and 0 <= part < len(doc):
            doc = doc[part]
            name = doc.get("key") if isinstance(doc, dict) else None
            key += f".{name}" if isinstance(name, str) else f"[{part}]"
        else:
            doc = doc.get(part) if isinstance(doc, dict) else None
            key += f".{part}"
    return key.removeprefix(".")


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return _unknown_key(error["loc"])
    if kind == "missing":
        return "required, but missing"
    if kind == "value_error":
        return str(error.get("ctx", {}).get("error", error["msg"]))
    if kind == "playbook":  # Playbook's cross-checks word their own messages
        return error["msg"]
    shown = repr(error["input"])
    return f"{error['msg']} (got {shown if len(shown) <= 40 else shown[:37] + '...'})"


def _unknown_key(loc: Loc) -> str:
    model = _model_at(loc[:-1])
    if model is None:
        return "unknown key"
    known = [info.alias or name for name, info in model.model_fields.items()]
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown key; {hint}known keys are {', '.join(known)}"


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The model that validated the mapping at ``loc``, found by following field annotations
    (through ``list[X]``, ``tuple[X, ...]``, ``dict[str, X]`` and ``X | None``); None if unsure."""
    node: Any = Playbook
    for part in loc:
        node = _unwrapped(node)
        if isinstance(node, type) and issubclass(node, BaseModel):
            field = node.model_fields.get(str(part))
            if field is None:
                return None
            node = field.annotation
        else:
            items = [arg for arg in get_args(node) if arg is not Ellipsis]
            if not items:
                return None
            node = items[-1]  # the X of list[X], tuple[X, ...] or dict[str, X]
    node = _unwrapped(node)
    return node if isinstance(node, type) and issubclass(node, BaseModel) else None


def _unwrapped(node: Any) -> Any:
    """``X`` for ``X | None``; a union of several models stays as it is."""
    if get_origin(node) in (Union, types.UnionType):
        options = [arg for arg in get_args(node) if arg is not type(None)]
        if len(options) == 1:
            return options[0]
    return node
