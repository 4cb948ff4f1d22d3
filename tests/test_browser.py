"""Each HTML edition in headless Chromium (Debian's, driven by Playwright; no browser download):
no horizontal overflow at 1280 and 390 px, every chart drawn, no console errors. The browser is
the session's (tests/conftest.py)."""
import pytest

pytestmark = pytest.mark.slow  # a browser


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("lang", ["en", "zh-Hant", "zh-Hans"])
def test_edition_in_browser(browser, published, lang, width):
    out, _ = published
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto((out / "2026-02-04" / f"note.{lang}.html").as_uri())
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    charts = page.evaluate("[...document.querySelectorAll('figure.chart svg')].map(s => s.getBoundingClientRect().width * s.getBoundingClientRect().height)")
    # the smallest chart text as laid out on screen (a glyph's box height is about 1.2x its font size)
    smallest_px = page.evaluate("Math.min(...[...document.querySelectorAll('figure.chart svg text')].map(t => t.getBoundingClientRect().height).filter(h => h > 0))")
    alt = page.evaluate("[...document.querySelectorAll('figure.chart [role=img]')].map(d => d.getAttribute('aria-label'))")
    page.close()
    assert smallest_px >= (11 if width == 390 else 9), f"chart text {smallest_px:.1f}px high at {width}px"  # was ~5 px on a phone
    assert alt and all(a and len(a) > 10 for a in alt)  # every chart has alt text (its caption)
    assert overflow <= 0, f"{lang} at {width}px overflows by {overflow}px"
    assert len(charts) >= 8 and all(area > 1000 for area in charts)
    assert not errors, errors
    assert all(u.startswith("file://") for u in requests), requests
