"""requirements.lock (the image's dependencies, `./dev lock`) still answers pyproject.toml: every
dependency is pinned there to a version its specifier allows, with hashes, so a rebuild of the image
installs the same files and a change of pyproject.toml without a new lock fails here, not at runtime."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.kind("unit")


def _locked() -> dict[str, tuple[str, int]]:
    """name → (version, number of hashes)."""
    text = (ROOT / "requirements.lock").read_text()
    entries = re.split(r"\n(?=[a-zA-Z0-9])", text.split("\n", 2)[2])
    locked = {}
    for entry in entries:
        match = re.match(r"([A-Za-z0-9_.-]+)==(\S+)", entry)
        assert match, f"not a pinned requirement: {entry[:80]!r}"
        locked[canonicalize_name(match[1])] = (match[2], entry.count("--hash=sha256:"))
    return locked


def test_every_dependency_is_pinned_to_an_allowed_version_with_hashes() -> None:
    locked = _locked()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for line in [*project["dependencies"], "setuptools>=68"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement.name} is in pyproject.toml but not in requirements.lock: ./dev lock"
        version, hashes = locked[name]
        assert requirement.specifier.contains(version, prereleases=True), \
            f"requirements.lock pins {name}=={version}, outside {requirement.specifier}: ./dev lock"
    assert all(hashes >= 1 for _version, hashes in locked.values()), "every pin carries its hashes"
    assert len(locked) > 40
