"""The PDF renderer's URL fetcher (issue #24, point 19): nothing outside the note folder, however encoded."""
from __future__ import annotations

import os

import pytest
from weasyprint.urls import URLFetchingError

from nightdesk.rendering.pdf import SandboxFetcher


@pytest.fixture()
def note(tmp_path):
    """A note folder with a chart, beside a secret file and a secret folder."""
    folder = tmp_path / "note"
    (folder / "charts").mkdir(parents=True)
    (folder / "charts" / "ok chart.svg").write_text("<svg/>")
    (folder / "style.css").write_text("body{}")
    (tmp_path / "secret.txt").write_text("the SMTP password")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "key.pem").write_text("PRIVATE KEY")
    os.symlink(tmp_path / "secret.txt", folder / "charts" / "link.svg")
    os.symlink(tmp_path / "secrets", folder / "linked-dir")
    return folder


@pytest.mark.parametrize("suffix", [
    "/%2e%2e/secret.txt",                 # encoded dots
    "/%2E%2E/secret.txt",                 # upper case
    "/charts/%2e%2e/%2e%2e/secret.txt",   # two levels from a subfolder
    "/%2e%2e%2fsecret.txt",               # encoded slash too
    "/%2E%2E%2F%2E%2E%2F..%2Fsecret.txt",  # mixed
    "/.%2e/secret.txt",                    # half encoded
    "/%252e%252e/secret.txt",              # double encoded
    "/%252e%252e%252fsecret.txt",          # double encoded, slash too
    "/charts/link.svg",                    # a symlink pointing outside
    "/linked-dir/key.pem",                 # through a symlinked folder
    "/../secret.txt",                      # plain traversal
    "/charts/../../secret.txt?x=1#frag",   # with query and fragment
])
def test_traversal_out_of_the_note_folder_is_blocked(note, suffix):
    fetcher = SandboxFetcher(note)
    with pytest.raises(URLFetchingError, match="blocked"):
        fetcher.fetch(f"file://{note}{suffix}")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "file://localhost/etc/passwd", "file://evil.example/etc/passwd",
                                 "file:/etc/passwd", "http://example.com/x.css", "https://example.com/x.css", "ftp://x/y"])
def test_other_places_are_blocked(note, url):
    with pytest.raises((URLFetchingError, ValueError)):
        SandboxFetcher(note).fetch(url)


def test_files_inside_are_served(note):
    fetcher = SandboxFetcher(note)
    got = fetcher.fetch(f"file://{note}/charts/ok%20chart.svg")
    assert got.read() == b"<svg/>" and got.content_type == "image/svg+xml"
    assert fetcher.fetch(f"file://localhost{note}/charts/../style.css").read() == b"body{}"
    assert fetcher.fetch("data:text/plain,hi").read() == b"hi"


def test_a_real_layout_does_not_read_the_secret(note):
    """WeasyPrint with the fetcher: a stylesheet link that escapes by %2e%2e is not loaded."""
    from nightdesk.rendering.pdf import layout

    (note.parent / "evil.css").write_text("body { font-size: 80px } h1::after { content: 'LEAKED' }")
    html = (f'<html><head><link rel="stylesheet" href="file://{note}/%2e%2e/evil.css"></head>'
            '<body><h1>note</h1></body></html>')
    doc = layout(html, base_dir=note)
    text = doc.write_pdf()
    from io import BytesIO

    from pypdf import PdfReader

    assert "LEAKED" not in "".join(p.extract_text() for p in PdfReader(BytesIO(text)).pages)
