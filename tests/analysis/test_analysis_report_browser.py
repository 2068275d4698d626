"""report.html in the real Chromium: the first screen leads with the findings (the study's
main effect first) and the first figure, every figure is shown at (about) its own size, so
it stays legible, and nothing on the page is wider than the page."""

from __future__ import annotations

import io

import pytest

VIEWPORT = {"width": 1280, "height": 800}


def _open(browser, report):
    ctx = browser.new_context(viewport=VIEWPORT)
    # the report is self-contained: anything but the file itself is refused (and counted)
    requests = []

    def route(r):
        requests.append(r.request.url)
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            r.abort()

    ctx.route("**/*", route)
    page = ctx.new_page()
    page.set_default_timeout(15000)
    page.goto(report.as_uri())
    page.wait_for_load_state("load")
    return ctx, page, requests


@pytest.fixture
def report_page(browser, lerer100_report):
    ctx, page, requests = _open(browser, lerer100_report)
    yield page, requests
    ctx.close()


WIDER_THAN_THE_PAGE = """() => {
  const width = document.documentElement.clientWidth;
  return [...document.querySelectorAll('body *')]
    .filter(e => e.getClientRects().length > 0)
    .filter(e => { const r = e.getBoundingClientRect(); return r.right > width + 1 || r.left < -1; })
    .map(e => e.tagName + (e.id ? '#' + e.id : '') + ' ' + Math.round(e.getBoundingClientRect().width));
}"""


def test_first_screen_holds_findings_and_first_figure(report_page, tmp_path):
    import numpy as np
    from PIL import Image

    page, requests = report_page
    shot = page.screenshot()  # the first screen only (the viewport)
    (tmp_path / "first-screen.png").write_bytes(shot)
    height = VIEWPORT["height"]

    run = page.locator("#run")
    assert "5 observers" in run.inner_text() and "107 human participants" in run.inner_text()
    findings = page.locator("#findings")
    box = findings.bounding_box()
    assert 0 <= box["y"] and box["y"] + box["height"] <= height  # wholly on the first screen
    items = page.locator("#findings > ul > li").all_inner_texts()
    assert len(items) >= 4
    text = " ".join(items)
    assert "humans' mean accuracy 0.656" in text
    assert "most human-like errors: GPT-4V" in text and "human-human ceiling" in text

    first = page.locator("figure").first
    assert first.get_attribute("id") == "fig_accuracy_by_blocks"
    title = first.locator("h3").bounding_box()
    img = first.locator("img")
    ib = img.bounding_box()
    assert title["y"] + title["height"] <= height
    visible = min(ib["y"] + ib["height"], height) - ib["y"]
    assert visible >= 0.5 * ib["height"]  # at least half of the first figure is on screen
    assert img.evaluate("i => i.complete && i.naturalWidth > 0")

    # the screenshot shows it: the figure's visible part is not blank
    picture = Image.open(io.BytesIO(shot)).convert("L")
    crop = picture.crop((int(ib["x"]), int(ib["y"]), int(ib["x"] + ib["width"]), height))
    assert (np.asarray(crop) < 200).mean() > 0.05
    # inputs and versions are folded away at the end
    assert page.locator("details#inputs").get_attribute("open") is None
    assert not page.locator("#inputs code").first.is_visible()
    assert requests and all(u.startswith("file://") for u in requests)


def test_every_figure_is_legible_at_page_width(report_page):
    page, _ = report_page
    sizes = page.evaluate("() => [...document.images].map(i => [i.naturalWidth, i.getBoundingClientRect().width])")
    assert len(sizes) == 6
    for natural, shown in sizes:
        assert natural > 0 and shown / natural > 0.9  # shown at its own size, not shrunk
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]


def test_the_main_effect_leads_and_nothing_is_wider_than_the_page(browser, contrast_report, lerer100_report, tmp_path):
    """The first finding is the generalisation contrast with its interval (warnings after
    it); no element of either report - its tables included, the kappa table of five models
    and 107 people too - reaches beyond the page, with every table unfolded."""
    ctx, page, _ = _open(browser, contrast_report)
    try:
        (tmp_path / "contrast-first-screen.png").write_bytes(page.screenshot())
        items = page.locator("#findings > ul > li").all_inner_texts()
        assert items[0].startswith("Size generalisation:") and "drop of" in items[0] and "[" in items[0]
        assert items[1].startswith("Warning:")
        assert page.locator("#findings > ul > li").first.bounding_box()["y"] < VIEWPORT["height"] / 2
        page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
        assert page.evaluate(WIDER_THAN_THE_PAGE) == []
    finally:
        ctx.close()
    ctx, page, _ = _open(browser, lerer100_report)
    try:
        page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
        assert page.evaluate(WIDER_THAN_THE_PAGE) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]
    finally:
        ctx.close()
