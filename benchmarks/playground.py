"""The playground's speed and memory, as a user sees them: ``scratchnet playground``
in a subprocess, Debian's chromium (headless, via Playwright) on the page.

Default state (the tutorial's moons, 5,000 points 75/25, "scratchnet defaults" 2-64-2
ReLU, 1 epoch per frame, 100x100 output + 20x20 per-neuron heatmaps):
  - frames drawn per second and epochs trained per second while playing;
  - how long a button takes to answer while training (pause, then play again);
  - the server's memory (RSS) over a session of --minutes minutes of play, with
    settings changed now and then, and whether it grows.
Writes benchmarks/results/playground.json and the "Playground" section of
docs/benchmarks.md (with --write-docs).

    .venv/bin/python benchmarks/playground.py                # about 2 minutes
    .venv/bin/python benchmarks/playground.py --minutes 10   # the issue's 10-minute session
    .venv/bin/python benchmarks/playground.py --docs-only    # the docs section from the last results
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]


def rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pids) -> float:
    """User + system CPU time of these processes so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            pass
    return total / tick


def descendants(root: int) -> list[int]:
    """Every process below ``root`` (the browser Playwright started, with its helpers)."""
    parent = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent[int(entry)] = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                pass
    found, frontier = [], [root]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        found += kids
        frontier += kids
    return found


def playing_rate(page, seconds: float, server_pid: int) -> dict:
    """Frames drawn and epochs trained per second over ``seconds`` of play, and the CPU
    time they cost: the server's per epoch and per frame, the browser's per frame.
    On a busy machine wall-clock rates fall while CPU costs stay put."""
    browser_pids = [p for p in descendants(os.getpid()) if p != server_pid]
    f0, e0, t0, j0 = page.evaluate("[window.pg.frames, window.pg.header.epoch, performance.now(), window.pg.scriptMs]")
    s0, b0 = cpu_seconds([server_pid]), cpu_seconds(browser_pids)
    time.sleep(seconds)
    f1, e1, t1, j1 = page.evaluate("[window.pg.frames, window.pg.header.epoch, performance.now(), window.pg.scriptMs]")
    s1, b1 = cpu_seconds([server_pid]), cpu_seconds(browser_pids)
    dt, frames, epochs = (t1 - t0) / 1000, f1 - f0, e1 - e0
    return {"frames_per_second": round(frames / dt, 1), "epochs_per_second": round(epochs / dt, 1),
            "server_cpu_ms_per_frame": round(1000 * (s1 - s0) / max(frames, 1), 1),
            "browser_cpu_ms_per_frame": round(1000 * (b1 - b0) / max(frames, 1), 1),
            "page_script_ms_per_frame": round((j1 - j0) / max(frames, 1), 1),
            "cpu_share_of_the_two": round(((s1 - s0) + (b1 - b0)) / dt, 2)}


def button_latency(page, presses: int) -> list[float]:
    """Milliseconds from a click on #pause (then #play) to the server's answer, while training."""
    out = []
    for _ in range(presses):
        for button in ("#pause", "#play"):
            page.evaluate("window.pg.lastLatency = null")
            page.click(button)
            page.wait_for_function("window.pg.lastLatency !== null", timeout=10_000)
            out.append(page.evaluate("window.pg.lastLatency"))
            time.sleep(0.3)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20, help="seconds of play for the frame rate")
    parser.add_argument("--minutes", type=float, default=1.0, help="length of the memory session")
    parser.add_argument("--presses", type=int, default=10, help="pause/play pairs timed")
    parser.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    server = subprocess.Popen([sys.executable, "-m", "scratchnet.cli", "playground", "--no-browser"],
                              stdout=subprocess.PIPE, text=True)
    url = re.search(r"http://\S+/", server.stdout.readline()).group(0)
    result = {"load_average_before": os.getloadavg()}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.wait_for_function("window.pg && window.pg.frames > 0")
            page.click("#preset-defaults")
            page.wait_for_function("window.pg.state.settings.lr === 0.2")
            rss0 = rss_mb(server.pid)
            page.click("#play")
            time.sleep(2)  # warm up
            result.update(playing_rate(page, args.seconds, server.pid))
            latency = button_latency(page, args.presses)
            result.update(button_ms_median=round(statistics.median(latency), 1),
                          button_ms_max=round(max(latency), 1), button_presses=len(latency))
            # memory over a session: play, with the learning rate changed and a reset now and then
            samples, start = [], time.time()
            k = 0
            while time.time() - start < args.minutes * 60:
                time.sleep(5)
                k += 1
                samples.append((round(time.time() - start), round(rss_mb(server.pid), 1),
                                page.evaluate("window.pg.header.epoch")))
                page.fill("#learning-rate", str([0.2, 0.1, 0.05][k % 3]))
                page.dispatch_event("#learning-rate", "change")
                if k % 6 == 0:
                    page.click("#reset")
                    page.click("#play")
            page.click("#pause")
            result.update(rss_mb_start=round(rss0, 1), rss_mb_end=samples[-1][1],
                          rss_mb_max=max(s[1] for s in samples),
                          session_minutes=args.minutes, rss_samples=samples)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
    result["load_average_after"] = os.getloadavg()
    result["cores"] = os.cpu_count()
    out = ROOT / "benchmarks" / "results" / "playground.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "rss_samples"}, indent=1))
    if args.write_docs:
        write_docs(result)


def write_docs(result):
    """The "Playground" section of docs/benchmarks.md from a result (the JSON file's)."""
    import numpy as np

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from report import write_section

    t, mb = np.array([(s[0], s[1]) for s in result["rss_samples"]], dtype=float).T
    slope = np.polyfit(t / 60, mb, 1)[0]  # MB per minute, least squares over the session
    load = ", ".join(f"{x:.1f}" for x in result["load_average_before"])
    write_section("Playground", f"""## Playground

`benchmarks/playground.py`: `scratchnet playground` in a subprocess and Debian's headless chromium on
the page, in the default state (tutorial moons 5,000 points 75/25, "scratchnet defaults" 2-64-2 ReLU,
1 epoch per frame, 100x100 output and 20x20 per-neuron heatmaps, frames acknowledged by the page).
{result['cores']} cores; load average before the run {load}: the machine was shared, so the wall-clock
rates are lower bounds and the CPU time per frame is the figure to compare.

| measure | value |
|---|---|
| frames drawn per second while playing | {result['frames_per_second']} |
| epochs trained per second | {result['epochs_per_second']} |
| CPU time per frame: server (1 epoch, heatmaps, metrics) / browser (all its processes) | {result['server_cpu_ms_per_frame']} ms / {result['browser_cpu_ms_per_frame']} ms |
| of the browser's: the page's script (decoding and drawing calls) | {result['page_script_ms_per_frame']} ms |
| cores the two kept busy while playing | {result['cpu_share_of_the_two']} |
| button answer while training (pause/play), median / max of {result['button_presses']} | {result['button_ms_median']} ms / {result['button_ms_max']} ms |
| server memory (RSS) at start / end / max of a {result['session_minutes']:g}-minute session | {result['rss_mb_start']} / {result['rss_mb_end']} / {result['rss_mb_max']} MB |
| RSS trend over the session (least squares) | {slope:+.2f} MB per minute |
""")


def docs_only():
    write_docs(json.loads((ROOT / "benchmarks" / "results" / "playground.json").read_text()))


if __name__ == "__main__":
    docs_only() if sys.argv[1:] == ["--docs-only"] else main()
