"""The backup building blocks without Slack: retention over a year, safe extraction of crafted
archives, authenticated encryption against tampering, checksums."""

from __future__ import annotations

import io
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.executor.plan import StepFailed
from bot.ops.backup.archive import extract_safely
from bot.ops.backup.checksums import checksum_problems, write_checksums
from bot.ops.backup.crypto import CHUNK, TAG, DecryptionFailed, decrypt_stream, encrypt_folder, load_key
from bot.ops.backup.layout import PARTIAL, Catalog
from bot.ops.backup.retention import apply_policy
from playbooks.backups import Retention

pytestmark = pytest.mark.kind("unit")

KEY = bytes(range(32))


# -- retention ------------------------------------------------------------------------------------
def _kept(times: list[datetime], policy: Retention) -> list[str]:
    return [d.when.strftime("%Y-%m-%d %H:%M") for d in apply_policy(times, policy) if d.keep]


def test_two_backups_in_one_second_get_distinct_ids_in_order(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    now = datetime(2026, 11, 30, 4, 35, 37, 250000, tzinfo=UTC)
    first = catalog.free_id(now, "database")
    assert first == "20261130T043537Z-database"
    (tmp_path / first).mkdir()
    (tmp_path / f"{PARTIAL}20261130T043538Z-database").mkdir()  # one being built in the next second
    second = catalog.free_id(now, "database")
    assert second == "20261130T043539Z-database" and second > first
    assert catalog.free_id(now, "full") == "20261130T043537Z-full"


def test_retention_over_a_simulated_year_of_backups_every_six_hours() -> None:
    start = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    times = [start + timedelta(hours=6 * i) for i in range(4 * 365)]  # through 2026-12-31 18:00
    kept = _kept(times, Retention(daily=7, weekly=4, monthly=3))
    # 7 daily: the newest backup of each of the last 7 days
    daily = [f"2026-12-{d:02d} 18:00" for d in range(31, 24, -1)]
    # 4 weekly (ISO weeks, newest of each): 2026-12-31 (W53) and 12-27 (Sun, W52) are already
    # daily-kept; then the Sundays ending W51 and W50
    weekly = ["2026-12-20 18:00", "2026-12-13 18:00"]
    # 3 monthly: Dec (12-31, kept already), Nov 30, Oct 31
    monthly = ["2026-11-30 18:00", "2026-10-31 18:00"]
    assert kept == daily + weekly + monthly


def test_each_kind_is_its_own_series_so_nightly_full_backups_survive_six_hourly_ones(tmp_path: Path) -> None:
    from bot.ops.backup.layout import Backup
    from bot.ops.backup.retention import to_forget

    days = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=n) for n in range(31 + 28 + 31)]  # Jan 1-Mar 31
    backups = [Backup(f"{day + timedelta(hours=2):%Y%m%dT%H%M%SZ}-full", tmp_path) for day in days]
    backups += [Backup(f"{day + timedelta(hours=h):%Y%m%dT%H%M%SZ}-database", tmp_path)
                for day in days for h in (0, 6, 12, 18)]
    forgotten = {b.id for b in to_forget(backups, Retention(daily=7, weekly=4, monthly=3))}
    kept = sorted((b.id for b in backups if b.id not in forgotten), reverse=True)
    # per kind: the last 7 days; ISO weeks 12 and 11 (Sundays Mar 22 and 15: weeks 14 and 13 are
    # already filled by Mar 31 and Mar 29); months Feb and Jan (their last days). 11 of each.
    days_kept = ["0331", "0330", "0329", "0328", "0327", "0326", "0325", "0322", "0315", "0228", "0131"]
    assert kept == sorted([f"2026{d}T020000Z-full" for d in days_kept]
                          + [f"2026{d}T180000Z-database" for d in days_kept], reverse=True)


def test_one_backup_fills_several_buckets_and_sparse_periods_count_only_when_present() -> None:
    times = [datetime(2026, 3, 1, 2, tzinfo=UTC), datetime(2026, 1, 15, 2, tzinfo=UTC)]
    decisions = apply_policy(times, Retention(daily=7, weekly=4, monthly=3))
    assert [d.keep for d in decisions] == [True, True]
    assert decisions[0].reasons == ["daily 20260301", "weekly 202609", "monthly 202603"]


def test_oldest_is_kept_when_a_rule_has_count_left() -> None:
    same_day = [datetime(2026, 5, 5, h, tzinfo=UTC) for h in (18, 12, 6, 0)]
    decisions = apply_policy(same_day, Retention(daily=2, weekly=0, monthly=0))
    assert [d.keep for d in decisions] == [True, False, False, True]
    assert "oldest" in decisions[-1].reasons[0]


def test_zero_policy_keeps_nothing() -> None:
    times = [datetime(2026, 5, d, tzinfo=UTC) for d in (1, 2, 3)]
    assert _kept(times, Retention(daily=0, weekly=0, monthly=0)) == []


# -- safe extraction ------------------------------------------------------------------------------
def _crafted(path: Path, members: list[tuple[str, str, str]]) -> Path:
    """(name, kind, data-or-link-target) → a tar.gz, as an attacker would build it."""
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload.encode()))
            else:
                info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
                info.linkname = payload
                tar.addfile(info)
    return path


@pytest.mark.parametrize("evil", [
    ("../escaped.txt", "file", "x"),
    ("/tmp/opsbot-absolute-escape.txt", "file", "x"),
    ("app/../../escaped.txt", "file", "x"),
    ("app/hard", "hardlink", "../outside"),
    ("../link", "symlink", "app/ok.txt"),
])
def test_a_crafted_archive_extracts_nothing_at_all(tmp_path: Path, evil: tuple[str, str, str]) -> None:
    archive = _crafted(tmp_path / "evil.tar.gz", [("app/ok.txt", "file", "fine"), evil])
    target = tmp_path / "target"
    with pytest.raises(StepFailed, match="was not extracted"):
        extract_safely(archive, target)
    assert list(target.rglob("*")) == []  # not even the harmless member
    assert not (tmp_path / "escaped.txt").exists() and not Path("/tmp/opsbot-absolute-escape.txt").exists()


@pytest.mark.parametrize("link", ["/etc", "../../outside", "../.."])
def test_symbolic_links_out_of_the_target_are_not_created_and_nothing_lands_outside(
        tmp_path: Path, link: str) -> None:
    archive = _crafted(tmp_path / "links.tar.gz", [
        ("app/ok.txt", "file", "fine"), ("app/link", "symlink", link),
        ("app/link/planted.txt", "file", "written through the link?"),  # must not go through it
    ])
    target = tmp_path / "deep" / "target"
    done = extract_safely(archive, target)
    assert done.skipped_links == (f"app/link → {link}",)
    assert (target / "app" / "ok.txt").read_text() == "fine" and not (target / "app" / "link").is_symlink()
    inside = {p.resolve() for p in target.rglob("*")}
    assert all(target.resolve() in p.parents for p in inside)
    assert not Path("/etc/planted.txt").exists() and not (tmp_path / "outside").exists()
    assert all(target.resolve() in p.resolve().parents for p in tmp_path.glob("**/planted.txt"))


def test_a_backup_reports_links_a_restore_will_not_create(tmp_path: Path) -> None:
    import threading

    from bot.executor.local import LocalRunner
    from bot.executor.plan import StepContext
    from bot.ops.backup.archive import create_archive
    from playbooks.backups import Archive

    app = tmp_path / "app"
    (app / "venv" / "bin").mkdir(parents=True)
    (app / "venv" / "bin" / "python").symlink_to("/usr/bin/python3")
    (app / "current").symlink_to("venv")
    (app / "main.py").write_text("print('hi')")
    ctx = StepContext(runner=LocalRunner(redact=str, cancel=threading.Event(), deadline=None), workdir=tmp_path)
    made = create_archive(ctx, "application", Archive(paths=(str(app),)), tmp_path / "application.tar.gz")
    rel = str(app).lstrip("/")
    assert made.files == 1 and made.outward_links == (f"{rel}/venv/bin/python → /usr/bin/python3",)
    done = extract_safely(tmp_path / "application.tar.gz", tmp_path / "restored")
    assert done.skipped_links == made.outward_links
    assert (tmp_path / "restored" / rel / "current").is_symlink()  # an inner link is restored


def test_a_normal_archive_with_inner_links_extracts(tmp_path: Path) -> None:
    archive = _crafted(tmp_path / "ok.tar.gz", [("app/a.txt", "file", "A"), ("app/b", "symlink", "a.txt")])
    extract_safely(archive, tmp_path / "target")
    assert (tmp_path / "target" / "app" / "b").read_text() == "A"


# -- encryption -----------------------------------------------------------------------------------
@pytest.fixture
def sealed(tmp_path: Path) -> Path:
    folder = tmp_path / "20261128T020000Z-full"
    folder.mkdir()
    (folder / "data.bin").write_bytes(bytes(i % 251 for i in range(3 * CHUNK + 123)))
    write_checksums(folder)
    encrypt_folder(folder, tmp_path / "copy.tar.enc", KEY)
    return tmp_path / "copy.tar.enc"


def _read_all(path: Path, key: bytes = KEY) -> bytes:
    reader = decrypt_stream(path, key)
    try:
        return reader.read()
    finally:
        reader.close()


def test_encrypted_copy_round_trips(sealed: Path, tmp_path: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(_read_all(sealed))) as tar:
        data = tar.extractfile("20261128T020000Z-full/data.bin")
        assert data is not None and data.read() == bytes(i % 251 for i in range(3 * CHUNK + 123))


@pytest.mark.parametrize("tamper", ["flip", "truncate_at_chunk", "truncate_mid", "swap", "wrong_key"])
def test_any_tampering_fails_decryption(sealed: Path, tamper: str) -> None:
    raw = bytearray(sealed.read_bytes())
    header, sealed_chunk = 15, CHUNK + TAG
    key = KEY
    if tamper == "flip":
        raw[header + sealed_chunk + 100] ^= 0x01
    elif tamper == "truncate_at_chunk":
        raw = raw[: header + 2 * sealed_chunk]
    elif tamper == "truncate_mid":
        raw = raw[: len(raw) - 50]
    elif tamper == "swap":
        first = raw[header:header + sealed_chunk]
        raw[header:header + sealed_chunk] = raw[header + sealed_chunk:header + 2 * sealed_chunk]
        raw[header + sealed_chunk:header + 2 * sealed_chunk] = first
    else:
        key = bytes(32)
    sealed.write_bytes(bytes(raw))
    with pytest.raises(DecryptionFailed):
        _read_all(sealed, key)


def test_keys_load_from_raw_hex_or_base64_and_never_show_in_errors(tmp_path: Path) -> None:
    import base64

    for name, content in (("raw", KEY), ("hex", KEY.hex().encode()), ("b64", base64.b64encode(KEY))):
        (tmp_path / name).write_bytes(content)
        assert load_key(tmp_path / name) == KEY
    (tmp_path / "short").write_text("s3cr3t-but-short")
    with pytest.raises(StepFailed) as caught:
        load_key(tmp_path / "short")
    assert "s3cr3t" not in str(caught.value)


# -- checksums ------------------------------------------------------------------------------------
def test_checksums_catch_changed_missing_and_extra_files(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("a")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b").write_text("b")
    assert write_checksums(tmp_path) == 2
    assert checksum_problems(tmp_path) == []
    (tmp_path / "a").write_text("A")
    (tmp_path / "sub" / "b").unlink()
    (tmp_path / "c").write_text("c")
    assert checksum_problems(tmp_path) == ["a does not match its checksum", "sub/b is missing",
                                           "c is not in checksums.txt"]


# -- status ---------------------------------------------------------------------------------------
def test_freshness_is_the_last_success_per_kind_of_data_against_its_rpo(tmp_path: Path) -> None:
    from bot.ops.backup.status import freshness
    from playbooks.backups import BackupSettings

    for name in ("20261127T020000Z-full", "20261128T020000Z-database", "20261128T080000Z-database",
                 ".partial-20261128T140000Z-database"):
        (tmp_path / name).mkdir()
    settings = BackupSettings(root=str(tmp_path))
    database, files = freshness(settings, datetime(2026, 11, 28, 15, 0, tzinfo=UTC))
    assert database.last is not None and database.last.id == "20261128T080000Z-database"  # not the partial one
    assert database.age == timedelta(hours=7) and not database.within_rpo  # RPO 6h
    assert files.last is not None and files.last.id == "20261127T020000Z-full"
    assert files.age == timedelta(hours=37) and not files.within_rpo  # RPO 24h
    database, files = freshness(settings, datetime(2026, 11, 28, 9, 0, tzinfo=UTC))
    assert database.within_rpo and not files.within_rpo
    assert [f.last for f in freshness(BackupSettings(root=str(tmp_path / "none")), datetime.now(UTC))] == [None, None]


def test_a_full_disk_is_named_whether_a_tool_or_our_own_write_hit_it(tmp_path: Path) -> None:
    import errno

    from bot.executor.local import telling_line
    from bot.executor.plan import StepContext
    from bot.ops.backup.plans import _space_checked

    ctx = StepContext(runner=None, workdir=tmp_path)  # type: ignore[arg-type]

    def ours(_ctx: StepContext) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "application.tar.gz"))

    full = rf"^The disk holding {tmp_path} is full \(.* free\), so backup B was not made"
    with pytest.raises(StepFailed, match=full):
        _space_checked(ours, tmp_path, "B")(ctx)
    output = "pg_dump: error: could not write to file: No space left on device\npg_dump: error: a worker process died"
    assert telling_line(output) == "pg_dump: error: could not write to file: No space left on device"
    assert telling_line("first\nlast\n") == "last" and telling_line("") == "no output"

    def other(_ctx: StepContext) -> None:
        raise OSError(errno.EACCES, "Permission denied")

    with pytest.raises(PermissionError):  # not a full disk: left as it was
        _space_checked(other, tmp_path, "B")(ctx)
