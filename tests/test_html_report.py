"""The interactive HTML report in a real browser (Debian's Chromium, headless, driven by Playwright): it
loads with no request beyond its own file, shows the decoded images pixel for pixel at 100 % on either
side of the split, follows a drag of the split handle and the page's zoom buttons, and its readouts are
the ones in its JSON."""
from __future__ import annotations

import io
import json
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from conftest import SAMPLE, run_cli

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api") if CHROMIUM else None
if not CHROMIUM:
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

LABEL_ROWS = 30  # the panes' labels sit in the top rows


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A report made by the real command on a crop of the sample, and the mspview file decoded apart."""
    d = tmp_path_factory.mktemp("html")
    crop = d / "crop.png"
    Image.open(SAMPLE).convert("RGB").crop((180, 100, 420, 260)).save(crop)
    res = run_cli("report", str(crop), str(d / "r.html"), "--compare", "webp", "--lambda", "0.0067")
    assert res.returncode == 0, res.stderr
    assert run_cli("encode", str(crop), str(d / "c.msp"), "--lambda", "0.0067").returncode == 0
    assert run_cli("decode", str(d / "c.msp"), str(d / "c.png")).returncode == 0
    return d / "r.html", np.asarray(Image.open(crop).convert("RGB")), np.asarray(Image.open(d / "c.png").convert("RGB"))


@pytest.fixture
def page(report):
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--disable-sync"])
        pg = browser.new_page(viewport={"width": 1000, "height": 800}, device_scale_factor=1)
        pg.requests = []
        pg.on("request", lambda r: pg.requests.append(r.url))
        pg.goto(report[0].as_uri())
        pg.wait_for_selector("body[data-ready='1']")
        yield pg
        browser.close()


def view_pixels(page) -> np.ndarray:
    shot = page.locator("#view").screenshot()
    return np.asarray(Image.open(io.BytesIO(shot)).convert("RGB"))


def state(page) -> dict:
    return page.evaluate("({x: st.x, y: st.y, zoom: st.zoom, split: st.split, w: view.clientWidth})")


def test_no_network_and_readouts_match_the_json(page):
    assert [u for u in page.requests if not u.startswith(("file:", "data:"))] == []
    data = json.loads(page.locator("#data").text_content())
    rows = page.locator("#readouts tr")
    titles = [t.strip() for t in rows.nth(0).locator("th").all_text_contents()[1:]]
    assert titles == [c["title"] for c in data["readouts"]["columns"]]
    for k, name in enumerate(data["readouts"]["rows"]):
        cells = [c.strip() for c in rows.nth(k + 1).locator("td").all_inner_texts()]
        assert cells == [c["cells"][k].strip() for c in data["readouts"]["columns"]], name
    assert data["report"]["weights"]["sha256"] in page.locator("#meta").text_content()


def test_split_at_100_percent_shows_the_decoded_pixels_exactly(page, report):
    _, original, decoded = report
    page.select_option("#left", "0")
    page.select_option("#right", "1")  # mspview fast
    page.click("#z100")
    s = state(page)
    assert s["zoom"] == 1 and s["x"] == int(s["x"]) and s["y"] == int(s["y"])
    px = view_pixels(page)
    h, w = original.shape[:2]
    x0, y0, split = int(s["x"]), int(s["y"]), int(round(s["split"] * s["w"]))
    assert x0 < split - 2 and split + 2 < x0 + w  # the handle lies over the image
    rows = slice(LABEL_ROWS, h)
    left = px[y0 + LABEL_ROWS:y0 + h, x0:split - 2]
    right = px[y0 + LABEL_ROWS:y0 + h, split + 2:x0 + w]
    assert np.array_equal(left, original[rows, :split - 2 - x0])
    assert np.array_equal(right, decoded[rows, split + 2 - x0:])

    # drag the handle to the left: more of the decoded image shows, pixel for pixel
    box = page.locator("#handle").bounding_box()
    page.mouse.move(box["x"] + 1, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] - 60, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    s2 = state(page)
    new_split = int(round(s2["split"] * s2["w"]))
    assert new_split < split - 40
    px = view_pixels(page)
    assert np.array_equal(px[y0 + LABEL_ROWS:y0 + h, new_split + 2:split], decoded[rows, new_split + 2 - x0:split - x0])


def test_zoom_buttons_replicate_pixels(page, report):
    _, original, _ = report
    page.select_option("#left", "0")
    page.click("#z100")
    page.click("#zin")  # 100 % -> 200 %
    s = state(page)
    assert s["zoom"] == 2 and re.fullmatch(r"200 %", page.locator("#zoom").text_content())
    px = view_pixels(page)
    x0, y0 = int(s["x"]), int(s["y"])
    # a 40 x 40 block of original pixels inside the left half, away from the label
    iy, ix = 40, max(0, (-x0 + 1) // 2) + 2
    block = px[y0 + 2 * iy: y0 + 2 * iy + 80, x0 + 2 * ix: x0 + 2 * ix + 80]
    want = np.repeat(np.repeat(original[iy:iy + 40, ix:ix + 40], 2, 0), 2, 1)
    assert np.array_equal(block, want)
    page.click("#zout")
    assert state(page)["zoom"] == 1


def test_side_by_side_and_bit_map_hover(page):
    page.check("input[value=side]")
    panes = page.locator(".pane")
    data = json.loads(page.locator("#data").text_content())
    assert panes.count() == len(data["images"])  # the original and every kept file
    page.check("#bits")
    overlays = page.locator(".pane canvas.bits")
    assert overlays.count() == sum(im["msp"] for im in data["images"])  # only over mspview's panes
    box = panes.nth(1).bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    assert re.search(r"mspview bits at latent \(\d+, \d+\): [\d.]+", page.locator("#status").text_content())
