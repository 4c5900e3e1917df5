"""`python -m bench.browser`: how fast the report opens and responds in headless Chromium.

For ResNet-50, ResNet-152 and Inception-v3 it builds report.html, opens it from disk in a
fresh page several times, and reads the browser's own clocks (the Performance API):
first contentful paint, the end of the page script's start-up (`archc-ready` mark) and
the load event; then the time from a click on "collapse all", "expand all" and "+" (zoom)
and from a scroll and a ctrl+scroll (wheel events) to the next painted frame.
Writes bench/BROWSER.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archc.backends.report import report_html  # noqa: E402
from archc.pipeline import load  # noqa: E402
from tests import browser_support as bs  # noqa: E402

NETWORKS = (
    ("ResNet-50", "resnet.yaml", "50"),
    ("ResNet-152", "resnet.yaml", "152"),
    ("Inception-v3", "inception_v3.yaml", None),
)
RESULTS = Path(__file__).resolve().parent / "BROWSER.md"

#: Click a toolbar button, then wait for the frame after next: the time until the change
#: is on screen, not just until the handler returned.
NEXT_FRAME_JS = """
const done = arguments[arguments.length - 1];
const action = arguments[0];
const t0 = performance.now();
const canvas = document.getElementById('archc-canvas');
const r = canvas.getBoundingClientRect();
const wheel = (ctrl) => canvas.dispatchEvent(new WheelEvent('wheel', {
  deltaY: ctrl ? -120 : 120, ctrlKey: ctrl, bubbles: true, cancelable: true,
  clientX: r.left + r.width / 2, clientY: r.top + r.height / 2}));
if (action === 'scroll-pan') {
  wheel(false);
} else if (action === 'wheel-zoom') {
  wheel(true);
} else {
  document.querySelector('button[data-act="' + action + '"]').click();
}
requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - t0)));
"""


def _chromium_version() -> str:
    for name in bs.CHROMIUM_NAMES:
        try:
            out = subprocess.run([name, "--version"], capture_output=True, text=True, timeout=30)
            return out.stdout.strip()
        except OSError:
            continue
    return "unknown"


def measure(driver, url: str, repeat: int) -> dict[str, float]:
    """Median browser timings (ms) over `repeat` fresh loads of one page."""
    samples: dict[str, list[float]] = {}
    for _ in range(repeat):
        driver.get("about:blank")
        driver.get(url)
        bs.wait_for(lambda: driver.execute_script("return !!window.archc"), what="page script")
        paint = bs.paint_times(driver)
        timings = driver.execute_script("return window.archc.timings")
        row = {
            "first paint": paint["first_contentful_paint_ms"],
            "script ready": paint["ready_ms"],
            "diagram painted": paint["diagram_painted_ms"],
            "load": paint["load_ms"],
            "index SVG": timings["index_ms"],
        }
        for action in ("collapse-all", "expand-all", "zoom-in", "scroll-pan", "wheel-zoom"):
            row[action] = driver.execute_async_script(NEXT_FRAME_JS, action)
            time.sleep(0.3)  # let a scroll's deferred redraw happen outside the next sample
        for key, value in row.items():
            samples.setdefault(key, []).append(value)
    return {k: statistics.median(v) for k, v in samples.items()}


def main() -> int:
    """Measure every network and write bench/BROWSER.md."""
    parser = argparse.ArgumentParser(prog="python -m bench.browser", description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="page loads per network")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    why = bs.missing()
    if why:
        print(f"bench.browser: {why}", file=sys.stderr)
        return 1
    os.chdir(ROOT)
    rows = []
    driver = bs.start_browser(1400, 900)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for title, spec, variant in NETWORKS:
                started = time.perf_counter()
                graph = load(Path("specs") / spec, variant=variant)
                page = report_html(graph)
                build_s = time.perf_counter() - started
                path = Path(tmp) / f"{title}.html"
                path.write_text(page, encoding="utf-8")
                result = measure(driver, path.as_uri(), args.repeat)
                rows.append((title, len(graph.layers()), len(page), build_s, result))
                print(f"{title}: {result}", file=sys.stderr)
    finally:
        bs.stop_browser(driver)
    keys = list(rows[0][4])
    lines = [
        "# The report in the browser",
        "",
        "Written by `python -m bench.browser` (see its docstring). Medians of "
        f"{args.repeat} fresh loads of each report.html from disk in headless Chromium "
        "(1400x900 window); times in milliseconds from the browser's Performance API. "
        "`first paint` is first-contentful-paint; `script ready` is the end of the page "
        "script's start-up (table, diagram indexed and fitted: the page responds from "
        "then on); `diagram painted` is the second animation frame after that, when the "
        "diagram is on screen (time to first paint of the diagram); the action columns "
        "run from the click (or wheel event) to the second animation frame after it, so "
        "they include drawing the change. `zoom-in` (a toolbar button) redraws the SVG at "
        "the new scale; `scroll-pan` and `wheel-zoom` move the drawn SVG with a CSS "
        "transform and redraw it 150 ms after the wheel rests (not included).",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs (shared), "
        f"{_chromium_version()}, Python {platform.python_version()}.",
        "",
        "| network | layers | report.html | build (s) | " + " | ".join(keys) + " |",
        "| --- | ---: | ---: | ---: | " + " | ".join("---:" for _ in keys) + " |",
    ]
    for title, layers, size, build_s, result in rows:
        cells = " | ".join(f"{result[k]:.0f}" for k in keys)
        lines.append(f"| {title} | {layers} | {size / 1e6:.2f} MB | {build_s:.2f} | {cells} |")
    args.results.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.results}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
