"""Atomic publishing: a failure mid-render leaves the earlier note untouched."""
import pytest

from nightdesk.rendering.publish import PublishError, date_lock, note_dir, promote, staging


def test_failed_render_keeps_previous(tmp_path):
    old = tmp_path / "2026-02-04"
    old.mkdir()
    (old / "note.en.html").write_text("previous note")
    with pytest.raises(RuntimeError):
        with staging(tmp_path, "2026-02-04") as tmp:
            (tmp / "note.en.html").write_text("half")
            raise RuntimeError("killed mid-render")
    assert (old / "note.en.html").read_text() == "previous note"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-02-04"]  # no temp folder left


def test_promote_replaces_whole(tmp_path):
    old = tmp_path / "2026-02-04"
    old.mkdir()
    (old / "stale.txt").write_text("x")
    with staging(tmp_path, "2026-02-04") as tmp:
        (tmp / "note.en.html").write_text("new")
        promote(tmp, tmp_path, "2026-02-04")
    assert sorted(p.name for p in old.iterdir()) == ["note.en.html"]


def test_second_run_for_same_date_is_refused(tmp_path):
    with date_lock(tmp_path, "2026-02-04"):
        with pytest.raises(PublishError, match="another run is publishing 2026-02-04"):
            with date_lock(tmp_path, "2026-02-04"):
                pass


def test_pathlike_date_refused(tmp_path):
    with pytest.raises(PublishError):
        note_dir(tmp_path, "../../etc")
