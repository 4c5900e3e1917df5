"""Make docs/screenshots/*.png: the report and `archc serve` in headless Chromium.

    python docs/tools/make_screenshots.py [--out docs/screenshots]

Needs Graphviz's dot, Debian's chromium and chromium-driver, and selenium (dev extras).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from archc.backends.report import report_html  # noqa: E402
from archc.pipeline import load  # noqa: E402
from archc.serve import start  # noqa: E402
from tests import browser_support as bs  # noqa: E402


def _page(folder: Path, spec: str, variant: str | None) -> str:
    path = folder / f"{Path(spec).stem}_{variant or 'default'}.html"
    # Relative to the repository, so the page names the spec as a user would type it.
    graph = load(Path("specs") / spec, variant=variant)
    path.write_text(report_html(graph), encoding="utf-8")
    return path.as_uri()


def _open(driver, url: str) -> None:
    driver.get(url)
    bs.wait_for(lambda: driver.execute_script("return !!window.archc"), what="page script")


def _hover(driver, name: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    element = driver.find_element("css selector", f'g.node[data-node="{name}"]')
    ActionChains(driver).move_to_element(element).perform()
    time.sleep(0.2)


def report_shots(driver, folder: Path, out: Path) -> None:
    """The ResNet-50 report with a layer's details; ResNet-152 collapsed; an Inception block."""
    _open(driver, _page(folder, "resnet.yaml", "50"))
    driver.execute_script("window.archc.reveal('layer2.0.conv2')")
    _hover(driver, "layer2.0.conv2")
    driver.save_screenshot(str(out / "report_resnet50_details.png"))

    _open(driver, _page(folder, "resnet.yaml", "152"))
    driver.find_element("css selector", 'button[data-act="collapse-all"]').click()
    driver.execute_script(
        "window.archc.reveal('layer3.0.conv1'); window.archc.collapse('layer3.0')"
    )
    driver.execute_script("window.archc.zoom(0.55)")
    driver.save_screenshot(str(out / "report_resnet152_collapsed.png"))

    _open(driver, _page(folder, "inception_v3.yaml", None))
    blocks = driver.execute_script("return window.archc.blocks()")
    target = next(b for b in blocks if b.startswith("Mixed_6b"))
    first = driver.execute_script(
        "return [...document.querySelectorAll('g.node')].map(g => g.id)"
        ".find(id => id.startsWith(arguments[0] + '.'))",
        target,
    )
    driver.execute_script("window.archc.reveal(arguments[0]); window.archc.zoom(0.7)", first)
    driver.save_screenshot(str(out / "report_inception_v3.png"))
    driver.execute_script("window.scrollTo(0, document.getElementById('archc-layers').offsetTop)")
    driver.find_element("css selector", '#archc-table th[data-key="macs"]').click()
    driver.find_element("css selector", '#archc-table th[data-key="macs"]').click()
    driver.execute_script("window.scrollTo(0, document.getElementById('archc-layers').offsetTop)")
    driver.save_screenshot(str(out / "report_table_sorted.png"))


def serve_shot(driver, folder: Path, out: Path) -> None:
    """`archc serve` while the spec has an error: diagnostics over the greyed-out diagram."""
    text = (ROOT / "docs" / "examples" / "tiny_resnet.yaml").read_text()
    (folder / "tiny_resnet.yaml").write_text(text)
    os.chdir(folder)  # the page names the spec as typed: `archc serve tiny_resnet.yaml`
    spec = Path("tiny_resnet.yaml")
    server, _, url = start(str(spec))
    try:
        _open(driver, url)
        spec.write_text(
            text.replace(
                "{name: fc, type: linear, out: 10}", "{name: fc, type: linear, out: 10, kernal: 3}"
            )
        )
        bs.wait_for(
            lambda: bs.text_of(driver, "#archc-diagnostics:not([hidden])"), what="the diagnostics"
        )
        driver.save_screenshot(str(out / "serve_error.png"))
    finally:
        server.shutdown()
        server.server_close()
        os.chdir(ROOT)


def main() -> int:
    """Write the screenshots; exit 1 with the reason if the browser is missing."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    why = bs.missing()
    if why:
        print(f"make_screenshots: {why}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    os.chdir(ROOT)
    driver = bs.start_browser(1400, 900)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            report_shots(driver, Path(tmp), args.out)
            serve_shot(driver, Path(tmp), args.out)
    finally:
        bs.stop_browser(driver)
    for path in sorted(args.out.glob("*.png")):
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
