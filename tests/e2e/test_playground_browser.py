"""The playground in a real headless browser: Playwright driving Debian's chromium
(/usr/bin/chromium; never ``playwright install``), against ``scratchnet playground``
run as a user runs it, on 127.0.0.1 and a free port.

Outside CI a missing browser or Playwright skips these tests; with CI set it fails.
Set PLAYGROUND_SCREENSHOTS=DIR to keep screenshots of the page (docs/playground.md's).
"""
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import require

import scratchnet as sn

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium_or_skip():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def server():
    """``scratchnet playground --no-browser`` on a free port; yields its URL."""
    require("starlette")
    proc = subprocess.Popen([sys.executable, "-m", "scratchnet.cli", "playground", "--no-browser"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    match = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
    assert match, f"no URL printed: {line!r} {proc.stderr.read() if proc.poll() is not None else ''}"
    yield match.group(1)
    proc.send_signal(signal.SIGINT)  # Ctrl-C: a clean stop
    assert proc.wait(timeout=20) == 0
    assert "Traceback" not in proc.stderr.read()


@pytest.fixture(scope="module")
def browser():
    chromium_or_skip()
    sync_api = require("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = context.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(server)
    pg.wait_for_function("window.pg && window.pg.frames > 0 && window.pg.state")
    yield pg
    context.close()
    assert not errors, errors  # no JavaScript exception on the way


def shot(page, name):
    folder = os.environ.get("PLAYGROUND_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def number(page, selector):
    text = page.text_content(selector)
    assert re.fullmatch(r"-?\d+(\.\d+)?", text.strip()), f"{selector} holds {text!r}"
    return float(text)


def output_pixels(page):
    return page.evaluate("""() => {
        const c = document.getElementById('output');
        return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data.filter((_, i) => i % 4 === 0));
    }""")


def test_play_trains_and_the_page_changes(page):
    assert number(page, "#epoch") == 0
    shot(page, "playground-default.png")
    loss0, pixels0 = number(page, "#train-loss"), output_pixels(page)
    page.click("#play")
    page.wait_for_function("Number(document.getElementById('epoch').textContent) >= 5", timeout=60_000)
    page.click("#pause")
    page.wait_for_selector("#play", state="visible")
    time.sleep(0.3)
    assert number(page, "#train-loss") < loss0
    assert 0.9 < number(page, "#test-accuracy") <= 1 and number(page, "#train-accuracy") > 0.9
    number(page, "#test-loss")
    assert output_pixels(page) != pixels0
    epoch = number(page, "#epoch")
    time.sleep(0.5)
    assert number(page, "#epoch") == epoch  # paused means paused
    # hover a neuron, show the test points, then keep a picture of the trained page
    page.check("#show-test")
    page.hover("#neurons canvas[data-layer='1']")
    assert page.is_visible("#hover-card")
    shot(page, "playground-trained.png")


def test_learning_rate_changes_without_reset_and_steps(page):
    page.click("#step")
    page.wait_for_function("document.getElementById('epoch').textContent === '1'")
    page.fill("#learning-rate", "0.05")
    page.dispatch_event("#learning-rate", "change")
    page.wait_for_function("window.pg.state.settings.lr === 0.05")
    assert number(page, "#epoch") == 1  # not reset
    assert "lr=0.05" in page.url  # the setting is in the URL
    page.click("#step")
    page.wait_for_function("document.getElementById('epoch').textContent === '2'")
    page.click("#step-batch")
    page.select_option("#optimizer", "adam")
    page.wait_for_function("window.pg.state.settings.optimizer === 'adam'")
    assert number(page, "#epoch") == 2
    page.click("#add-layer")  # architecture: a reset
    page.wait_for_function("window.pg.state.settings.hidden.length === 2")
    assert number(page, "#epoch") == 0
    page.click("#remove-layer")
    page.wait_for_function("window.pg.state.settings.hidden.length === 1")


def test_url_state_is_restored(browser, server):
    context = browser.new_context()
    pg = context.new_page()
    pg.goto(server + "#dataset=spirals&classes=3&hidden=8,8&activation=tanh,tanh&lr=0.03&seed=7")
    pg.wait_for_function("window.pg && window.pg.state && window.pg.frames > 0")
    s = pg.evaluate("window.pg.state.settings")
    assert (s["dataset"], s["classes"], s["hidden"], s["lr"], s["seed"]) == ("spirals", 3, [8, 8], 0.03, 7)
    assert pg.input_value("#dataset") == "spirals"
    pg.evaluate("location.hash = '#dataset=circles&lr=0.5'")  # a link pasted into the same tab
    pg.wait_for_function("window.pg.state.settings.dataset === 'circles'")
    s = pg.evaluate("window.pg.state.settings")
    assert (s["lr"], s["hidden"], s["classes"]) == (0.5, [64], 2)  # the rest: defaults
    context.close()


def test_upload_click_points_and_errors(page, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 2))
    csv = tmp_path / "mine.csv"
    csv.write_text("u,v,kind\n" + "".join(f"{a},{b},{'yes' if a * b > 0 else 'no'}\n" for a, b in X.tolist()))
    page.set_input_files("#upload", str(csv))
    page.wait_for_function("window.pg.state.upload === 'mine.csv'")
    assert page.input_value("#dataset") == "upload"
    assert page.evaluate("window.pg.state.classes") == ["no", "yes"]
    # add two points of the second class by clicking the plot
    page.select_option("#point-class", "1")
    box = page.locator("#points").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.4)
    page.wait_for_function("window.pg.state.points_added === 1")
    page.mouse.click(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.6)
    page.wait_for_function("window.pg.state.points_added === 2")
    assert "2 clicked point(s)" in page.text_content("#data-note")
    # a file that is not a CSV: a clear message, and the page keeps working
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\x00\x01\x02 not a csv")
    page.set_input_files("#upload", str(bad))
    page.wait_for_selector("#error.show")
    assert "not a CSV" in page.text_content("#error") or "columns" in page.text_content("#error")
    page.click("#step")
    page.wait_for_function("document.getElementById('epoch').textContent === '1'")


def test_out_of_range_setting_and_divergence_are_reported(page):
    page.fill("#batch-size", "0")
    page.dispatch_event("#batch-size", "change")
    page.wait_for_selector("#error.show")
    assert "batch size must be between 1" in page.text_content("#error")
    page.select_option("#dataset", "regression")
    page.wait_for_function("window.pg.state.task === 'regression'")
    page.fill("#learning-rate", "10")
    page.dispatch_event("#learning-rate", "change")
    page.wait_for_function("window.pg.state.settings.lr === 10")
    page.select_option("#reduction", "sum")
    page.wait_for_function("window.pg.state.settings.reduction === 'sum'")
    page.click("#play")
    page.wait_for_function("document.getElementById('error').textContent.includes('diverged')",
                           timeout=60_000)
    assert page.is_visible("#error button")  # offers a reset
    assert "NaN" not in page.text_content("#train-loss")


def test_explain_step_and_downloads(page, tmp_path):
    page.click("#step")
    page.wait_for_function("document.getElementById('epoch').textContent === '1'")
    page.locator("#links line").nth(5).dispatch_event("click")  # select a weight, open its editor
    target = page.text_content("#explain-target")
    assert re.fullmatch(r"W1\[\d+, \d+\]", target)
    page.click("#weight-cancel")
    page.click("#explain")
    page.wait_for_selector("#explain-output .eq")
    text = page.text_content("#explain-output")
    for part in ("Affine output", "Activation (relu)", "Softmax", "Gradient at the logits",
                 f"Gradient of {target}", "The update"):
        assert part in text, part
    assert page.get_attribute("#explain-output .eq a", "href").startswith("/math#eq-")
    page.locator("#explain-panel").scroll_into_view_if_needed()
    shot(page, "playground-explain.png")
    with page.expect_download() as info:
        page.click("#download-model")
    path = tmp_path / "model.npz"
    info.value.save_as(path)
    model = sn.load(path)
    assert model.predict(np.array([[0.0, 0.5], [1.5, -0.3]])).shape == (2,)
    with page.expect_download() as info:
        page.click("#download-script")
    info.value.save_as(tmp_path / "replay.py")
    assert "make_dataset('moons'" in (tmp_path / "replay.py").read_text()


def test_hide_controls_and_tabs_are_independent(browser, server, page):
    page.check("#hide-controls")
    assert not page.is_visible("#learning-rate") and page.is_visible("#output")
    other = browser.new_context().new_page()
    other.goto(server)
    other.wait_for_function("window.pg && window.pg.frames > 0")
    page.click("#step")
    page.wait_for_function("document.getElementById('epoch').textContent === '1'")
    assert other.text_content("#epoch") == "0"
    other.context.close()
