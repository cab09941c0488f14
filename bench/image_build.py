"""What the container image and the compose stack cost: the base image (debootstrap), every image
compose.yaml names built cold (no cache at all) and warm (nothing changed; one source file changed),
their sizes, and the stack from `docker-compose up` to healthy with each container's memory.

Runs on the suite's own Docker Engine (tests/support/dockerd.py) in a cache slot of its own
("bench"), emptied first, so the tests' cache is left alone:

    PYTHONPATH=. .venv/bin/python bench/image_build.py
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from tests.support.dockerd import Dockerd
from tests.support.stack import BOT_IMAGE, ROOT, build_images, running_stack

IMAGE_SOURCES = ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md", "requirements.lock",
                 "bot", "handlers", "playbooks", "storage")


def _builds(dockerd: Dockerd) -> str:
    started = time.monotonic()
    seconds = build_images(dockerd).seconds
    each = ", ".join(f"{name} {value:.1f} s" for name, value in seconds.items())
    return f"{time.monotonic() - started:.1f} s wall clock (side by side: {each})"


def main() -> None:
    with Dockerd(slot="bench") as dockerd:
        api = dockerd.api
        assert api is not None
        for image in api.images():
            api.remove_image(image["Id"], force=True)
        api.prune_builds()

        started = time.monotonic()
        dockerd.ensure_base_image()
        print(f"base image (debootstrap --variant=minbase trixie, docker import): {time.monotonic() - started:.1f} s")
        print(f"cold builds: {_builds(dockerd)}")
        print(f"warm builds, nothing changed: {_builds(dockerd)}")

        with tempfile.TemporaryDirectory() as folder:
            context = Path(folder)
            for name in IMAGE_SOURCES:
                source = ROOT / name
                if source.is_dir():
                    shutil.copytree(source, context / name, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy2(source, context / name)
            with (context / "bot" / "__init__.py").open("a") as changed:
                changed.write("# a change\n")
            print(f"warm build of {BOT_IMAGE}, one source file changed: {dockerd.build(context, BOT_IMAGE):.1f} s")

        for tag in ("opsbot-base:trixie", BOT_IMAGE, "opsbot-example:latest", "opsbot-shop:latest"):
            print(f"size of {tag}: {api.inspect_image(tag)['Size'] / 1e6:.0f} MB")

        with running_stack(dockerd) as stack:
            print(f"stack: docker-compose up -d until the bot and the shop answer: {stack.up_seconds:.1f} s")
            time.sleep(10)  # let start-up settle before reading memory
            for container in api.containers():
                stats = api.stats(container["Id"], stream=False)["memory_stats"]
                used = stats.get("usage", 0) - stats.get("stats", {}).get("cache", 0)
                print(f"memory of {container['Names'][0].lstrip('/')}: {used / 1e6:.0f} MB")
            started = time.monotonic()
        print(f"stack: docker-compose down -v: {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
