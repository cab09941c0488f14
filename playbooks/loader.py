"""Load the playbook pack: the bundled YAML files, each replaceable by a file of the same name in
an override folder (``OPSBOT_PLAYBOOKS``), validated into a typed ``Playbook``.

Every problem is collected and raised together as ``PlaybookError``; user mistakes (a typo, bad
YAML, a missing folder) never surface as a traceback.
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any, get_origin

import yaml
from pydantic import ValidationError

from playbooks.maintenance import PACK_FOLDERS
from playbooks.models import Playbook
from playbooks.problems import PlaybookError, Problem, validation_problems

__all__ = ["FILES", "PACK_DIR", "PlaybookError", "Problem", "load_playbook", "replaced_files"]

PACK_DIR = Path(__file__).parent / "pack"
FILES: dict[str, str] = {section: f"{section}.yaml" for section in Playbook.model_fields}
"""Section of ``Playbook`` -> its file in the pack."""


def load_playbook(override_dir: Path | None = None) -> Playbook:
    """The validated pack; raise PlaybookError listing every problem found."""
    problems: list[Problem] = []
    sources = {section: PACK_DIR / file for section, file in FILES.items()}
    if override_dir is not None:
        problems += _apply_overrides(Path(override_dir), sources)
    data: dict[str, object] = {}
    for section, path in sources.items():
        loaded = _read(path, list if get_origin(Playbook.model_fields[section].annotation) is list else dict)
        if isinstance(loaded, Problem):
            problems.append(loaded)
        else:
            data[section] = loaded
    try:
        folders = [Path(override_dir)] if override_dir is not None else []
        playbook = Playbook.model_validate(data, context={PACK_FOLDERS: folders})  # pack files besides YAML
    except ValidationError as exc:
        files = {section: _shown(path) for section, path in sources.items()}
        raise PlaybookError(problems + validation_problems(exc, files, data)) from None
    if problems:
        raise PlaybookError(problems)
    return playbook


def replaced_files(override_dir: Path | None) -> list[str]:
    """The bundled pack's files that the override folder replaces (YAML files and the page template)."""
    if override_dir is None or not Path(override_dir).is_dir():
        return []
    return sorted(p.name for p in Path(override_dir).iterdir() if (PACK_DIR / p.name).is_file())


def _apply_overrides(folder: Path, sources: dict[str, Path]) -> list[Problem]:
    """Point ``sources`` at the folder's pack files; a stray ``.yaml`` is an error (likely a typo
    in a name, which would otherwise be silently ignored)."""
    if not folder.is_dir():
        why = "not a folder" if folder.exists() else "no such folder"
        return [Problem(str(folder), "", f"{why}; playbook overrides are a folder of pack files")]
    try:
        paths = sorted(folder.iterdir())
    except OSError as exc:
        return [Problem(str(folder), "", f"cannot list the folder: {exc.strerror}")]
    sections = {file: section for section, file in FILES.items()}
    problems = []
    for path in paths:
        if path.name in sections:
            sources[sections[path.name]] = path
        elif path.suffix in (".yaml", ".yml"):
            known = ", ".join(sorted(FILES.values()))
            problems.append(Problem(str(path), "", f"not a pack file; the pack's files are {known}"))
    return problems


def _shown(path: Path) -> str:
    """How problems name a file: bundled files by name, override files by path."""
    return path.name if path.parent == PACK_DIR else str(path)


def _read(path: Path, shape: type[list[Any]] | type[dict[str, Any]]) -> object:
    """The file's YAML document (empty counts as an empty list or mapping), or a Problem."""
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)
    except UnicodeDecodeError as exc:
        return Problem(_shown(path), "", f"not UTF-8 text ({exc.reason} at byte {exc.start})")
    except OSError as exc:
        return Problem(_shown(path), "", f"cannot read the file: {exc.strerror}")
    except yaml.YAMLError as exc:
        return Problem(_shown(path), "", _yaml_message(exc))
    if doc is None:
        return shape()
    if not isinstance(doc, shape):
        wanted = "a list (lines starting with '- ')" if shape is list else "a mapping (key: value lines)"
        return Problem(_shown(path), "", f"the document should be {wanted}, not a {type(doc).__name__}")
    return doc


def _yaml_message(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        context = ""
        if exc.context and exc.context_mark is not None:
            context = f" ({exc.context} at line {exc.context_mark.line + 1})"
        return f"line {mark.line + 1}, column {mark.column + 1}: {exc.problem}{context}"
    return f"not valid YAML: {exc}"


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key written twice in one mapping: PyYAML would keep the last one
    silently, e.g. a second ``P1:`` replacing the first."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` may be overridden
                continue
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):  # super() reports it
                continue
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{key!r} is written twice in this mapping", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)
