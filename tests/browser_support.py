"""Headless Chromium for the browser tests and the screenshot and timing scripts.

Debian's `chromium` and `chromium-driver` packages, driven by Selenium; the driver path is
given explicitly so Selenium never tries to download a browser or a driver.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
DRIVER_NAMES = ("chromedriver",)


def missing() -> str | None:
    """Why a headless browser cannot be started here, or None if it can."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    if not any(shutil.which(n) for n in CHROMIUM_NAMES):
        return "chromium is not installed (apt-get install chromium chromium-driver)"
    if not any(shutil.which(n) for n in DRIVER_NAMES):
        return "chromedriver is not installed (apt-get install chromium-driver)"
    return None


def start_browser(width: int = 1400, height: int = 900) -> Any:
    """A fresh headless Chromium (own profile, no background network), as a Selenium driver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = next(shutil.which(n) for n in CHROMIUM_NAMES if shutil.which(n))
    profile = tempfile.mkdtemp(prefix="archc-chromium-")
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        "--no-first-run",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver_path = next(shutil.which(n) for n in DRIVER_NAMES if shutil.which(n))
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver._archc_profile = profile
    return driver


def stop_browser(driver: Any) -> None:
    """Quit the browser and remove its profile."""
    profile = getattr(driver, "_archc_profile", None)
    driver.quit()
    if profile:
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def text_of(driver: Any, css: str) -> str:
    """The rendered text of the first element matching `css`, or "" (safe across reloads)."""
    try:
        return driver.execute_script(
            "const e = document.querySelector(arguments[0]);"
            "return e ? e.innerText.replace(/\\s+/g, ' ') : '';",
            css,
        )
    except Exception:  # noqa: BLE001 - a page reloading under the script; ask again later
        return ""


def js_errors(driver: Any) -> list[str]:
    """Severe messages from the page's console since the last call (script errors)."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


PAINT_JS = """
const fcp = performance.getEntriesByName('first-contentful-paint')[0];
const ready = performance.getEntriesByName('archc-ready')[0];
const painted = performance.getEntriesByName('archc-painted')[0];
const nav = performance.getEntriesByType('navigation')[0];
return {first_contentful_paint_ms: fcp ? fcp.startTime : null,
        ready_ms: ready ? ready.startTime : null,
        diagram_painted_ms: painted ? painted.startTime : null,
        load_ms: nav ? nav.loadEventEnd : null};
"""


def paint_times(driver: Any) -> dict[str, float | None]:
    """First contentful paint, the script's `archc-ready` and `archc-painted` marks (the
    diagram on screen) and the load event's end, in ms from navigation start."""
    return wait_for(
        lambda: (
            (t := driver.execute_script(PAINT_JS))["diagram_painted_ms"]
            and t["first_contentful_paint_ms"]
            and t
        ),
        timeout=30,
        what="the first paint of the diagram",
    )
