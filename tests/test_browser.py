"""The report and `archc serve` in a real headless Chromium (Debian's package, Selenium).

Skipped, with the reason, where Chromium, chromedriver, selenium or Graphviz is missing.
Figures read off the page are checked against torchvision's (tests/reference) and against
the spec file's own text.
"""

from __future__ import annotations

import math
import shutil

import pytest

from archc.backends.report import report_html
from archc.layers.base import fmt_shape
from archc.pipeline import load
from tests import browser_support as bs
from tests.conftest import SPECS, torchvision_fixture

pytestmark = [
    pytest.mark.skipif(bs.missing() is not None, reason=str(bs.missing())),
    pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is missing"),
]


@pytest.fixture(scope="module")
def browser():
    driver = bs.start_browser()
    yield driver
    bs.stop_browser(driver)


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reports")
    pages = {}
    for key, spec, variant in (
        ("resnet50", "resnet.yaml", "50"),
        ("resnet152", "resnet.yaml", "152"),
        ("inception_v3", "inception_v3.yaml", None),
    ):
        path = folder / f"{key}.html"
        path.write_text(report_html(load(SPECS / spec, variant=variant)), encoding="utf-8")
        pages[key] = path.as_uri()
    return pages


def _open(driver, url):
    driver.get(url)
    # Reports keep their view and collapsed blocks across visits (sessionStorage, as a user
    # expects); each test starts from the report's own first view instead.
    driver.execute_script("sessionStorage.clear()")
    driver.refresh()
    bs.wait_for(
        lambda: driver.execute_script("return !!window.archc"), timeout=30, what="page script"
    )
    assert bs.js_errors(driver) == []


def _leaves(name):
    return {leaf[0] for leaf in torchvision_fixture(name)["leaf_outputs_per_image"]}


def _rect(driver, css):
    return driver.execute_script(
        "const r = document.querySelector(arguments[0]).getBoundingClientRect();"
        "return {x: r.x, y: r.y, w: r.width, h: r.height};",
        css,
    )


def _click_at(driver, x, y):
    """A real mouse click at a point of the window (CSS pixels)."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    actions = ActionBuilder(driver)
    actions.pointer_action.move_to_location(int(x), int(y)).click()
    actions.perform()


def _shown(driver, path):
    """Whether a layer's node is drawn (it may lie outside the visible part of the canvas)."""
    return driver.execute_script(
        "return getComputedStyle(document.querySelector(arguments[0])).display !== 'none'",
        _node(path),
    )


def _node(path):
    return f'g.node[data-node="{path}"]'


def test_resnet50_report_has_every_layer(browser, reports):
    _open(browser, reports["resnet50"])
    ids = set(
        browser.execute_script("return [...document.querySelectorAll('g.node')].map(g => g.id)")
    )
    assert _leaves("resnet50") <= ids
    rows = browser.execute_script(
        "return document.querySelectorAll('#archc-table tbody tr').length"
    )
    assert rows == len(ids) - 1  # every node but the output marker has a row
    paint = bs.paint_times(browser)
    print(f"resnet50 report: {paint}")


def test_collapse_and_expand_a_block(browser, reports):
    from selenium.webdriver.common.action_chains import ActionChains

    _open(browser, reports["resnet50"])
    browser.execute_script("window.archc.select('layer1.0.conv1')")
    below = _rect(browser, _node("layer1.1.conv1"))
    block = _rect(browser, 'g.cluster[data-block="layer1.0"] > path')
    # Click the block's background just inside its top-left corner (not on a layer).
    _click_at(browser, block["x"] + 14, block["y"] + 6)
    assert not _shown(browser, "layer1.0.conv2")
    box = browser.find_element("css selector", 'g.archc-collapsed[data-block="layer1.0"]')
    assert "layer1.0 (bottleneck)" in box.text
    moved = _rect(browser, _node("layer1.1.conv1"))
    assert moved["y"] < below["y"] - block["h"] / 2  # the layers below moved up
    ActionChains(browser).move_to_element(box).click().perform()
    assert _shown(browser, "layer1.0.conv2")
    assert abs(_rect(browser, _node("layer1.1.conv1"))["y"] - below["y"]) < 1
    assert bs.js_errors(browser) == []


def test_a_change_made_just_before_leaving_is_kept(browser, reports):
    """The view is saved a moment after each change; leaving sooner still keeps it."""
    _open(browser, reports["resnet50"])
    browser.execute_script("window.archc.collapse('layer1.0')")
    browser.get(reports["resnet50"])  # at once: well within the save's delay
    bs.wait_for(lambda: browser.execute_script("return !!window.archc"), what="page script")
    assert not _shown(browser, "layer1.0.conv2")
    assert _shown(browser, "layer1.1.conv2")


def test_hover_shows_layer_details(browser, reports):
    from selenium.webdriver.common.action_chains import ActionChains

    _open(browser, reports["resnet50"])
    browser.execute_script("window.archc.reveal('layer2.0.conv2')")
    target = browser.find_element("css selector", _node("layer2.0.conv2"))
    ActionChains(browser).move_to_element(target).perform()
    panel = browser.find_element("id", "archc-details")
    bs.wait_for(lambda: "layer2.0.conv2" in panel.text, what="details of layer2.0.conv2")
    fields = {
        dt.text: dd.text
        for dt, dd in zip(
            panel.find_elements("css selector", "dt"),
            panel.find_elements("css selector", "dd"),
            strict=True,
        )
    }
    reference = torchvision_fixture("resnet50")
    leaves = {leaf[0]: leaf for leaf in reference["leaf_outputs_per_image"]}
    weight = next(s for k, s, _ in reference["state_dict"] if k == "layer2.0.conv2.weight")
    out = leaves["layer2.0.conv2"][2]
    assert fields["volume out"] == fmt_shape(tuple(out))
    assert fields["volume in"].startswith(fmt_shape(tuple(leaves["layer2.0.conv1"][2])))
    assert fields["params"] == f"{math.prod(weight):,}"  # bias=False in torchvision's repr
    assert fields["MACs"].startswith(f"{math.prod(weight) * out[1] * out[2]:,}")
    assert "3x3" in fields["hyperparameters"] and "stride=(2, 2)" in leaves["layer2.0.conv2"][3]
    assert fields["receptive field"]
    spec, line, _ = fields["spec"].rsplit(":", 2)
    assert spec.endswith("resnet.yaml")
    assert "name: conv2" in (SPECS / "resnet.yaml").read_text().splitlines()[int(line) - 1]
    # A click pins the layer: its details stay when the pointer leaves the diagram, and its
    # table row is marked.
    ActionChains(browser).click(target).perform()
    toolbar = browser.find_element("css selector", ".toolbar .hint")
    ActionChains(browser).move_to_element(toolbar).perform()
    assert "layer2.0.conv2" in panel.text and "selected" in panel.text
    row = browser.find_element("css selector", '#archc-table tr[data-node="layer2.0.conv2"]')
    assert "selected" in row.get_attribute("class")


def test_hover_on_a_block_shows_its_doc(browser, reports):
    from selenium.webdriver.common.action_chains import ActionChains

    _open(browser, reports["resnet50"])
    browser.execute_script("window.archc.reveal('layer2.0.downsample.0')")
    outline = browser.find_element(
        "css selector",
        'g[id="cluster_layer2.0.downsample"] > path, g[id="cluster_layer2.0.downsample"] > polygon',
    )
    ActionChains(browser).move_to_element(outline).perform()
    panel = browser.find_element("id", "archc-details")
    bs.wait_for(lambda: "layer2.0.downsample" in panel.text, what="details of the shortcut")
    doc = panel.find_element("css selector", 'dd[data-field="doc"]').text
    # The text of the `doc:` in resnet.yaml's bottleneck block, folded onto one line.
    assert doc.startswith('The projection shortcut ("option B"): a 1x1 conv and BatchNorm')
    assert doc.endswith("only in blocks that change the volume.")
    # A layer the spec leaves undocumented shows no doc row.
    browser.execute_script("window.archc.reveal('layer2.0.conv2')")
    target = browser.find_element("css selector", _node("layer2.0.conv2"))
    ActionChains(browser).move_to_element(target).perform()
    bs.wait_for(lambda: "layer2.0.conv2" in panel.text, what="details of layer2.0.conv2")
    assert not panel.find_elements("css selector", 'dd[data-field="doc"]')


def test_pan_zoom_and_sort(browser, reports):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.wheel_input import ScrollOrigin
    from selenium.webdriver.common.keys import Keys

    _open(browser, reports["resnet50"])
    start = browser.execute_script("return window.archc.view()")
    browser.find_element("css selector", 'button[data-act="zoom-in"]').click()
    zoomed = browser.execute_script("return window.archc.view()")
    assert zoomed["s"] == pytest.approx(start["s"] * 1.25)
    canvas = browser.find_element("id", "archc-canvas")
    ActionChains(browser).move_to_element_with_offset(
        canvas, 300, 0
    ).click_and_hold().move_by_offset(-100, -150).release().perform()
    dragged = browser.execute_script("return window.archc.view()")
    assert dragged["x"] == pytest.approx(zoomed["x"] + 100 / zoomed["s"], abs=2 / zoomed["s"])
    assert dragged["y"] == pytest.approx(zoomed["y"] + 150 / zoomed["s"], abs=2 / zoomed["s"])
    origin = ScrollOrigin.from_element(canvas)
    ActionChains(browser).key_down(Keys.CONTROL).scroll_from_origin(origin, 0, -200).key_up(
        Keys.CONTROL
    ).perform()
    assert browser.execute_script("return window.archc.view()")["s"] > dragged["s"]

    header = browser.find_element("css selector", '#archc-table th[data-key="params"]')
    header.click()
    values = browser.execute_script(
        "return [...document.querySelectorAll('#archc-table tbody tr')]"
        ".map(r => +r.cells[6].getAttribute('data-v'))"
    )
    assert values == sorted(values)
    header.click()
    first = browser.find_element("css selector", "#archc-table tbody tr")
    weights = {
        k.rsplit(".", 1)[0]: math.prod(s)
        for k, s, _ in torchvision_fixture("resnet50")["state_dict"]
        if k.endswith(".weight")
    }
    biggest = max(weights.values())
    # Ties keep the network's order: the first of the largest layers comes first.
    assert first.get_attribute("data-node") == next(k for k, v in weights.items() if v == biggest)
    # A row finds its layer: the page scrolls back to the diagram, centred on the layer.
    browser.execute_script("window.archc.collapseAll()")
    first.click()
    name = first.get_attribute("data-node")
    assert _shown(browser, name)
    node, box = _rect(browser, _node(name)), _rect(browser, "#archc-canvas")
    assert box["x"] < node["x"] < box["x"] + box["w"] and box["y"] < node["y"] < box["y"] + box["h"]
    assert 0 <= box["y"] < browser.execute_script("return window.innerHeight")


@pytest.mark.parametrize("key", ["resnet152", "inception_v3"])
def test_large_networks_stay_usable(browser, reports, key):
    _open(browser, reports[key])
    paint = bs.paint_times(browser)
    ids = set(
        browser.execute_script("return [...document.querySelectorAll('g.node')].map(g => g.id)")
    )
    assert _leaves(key) <= ids
    visible = (
        "return [...document.querySelectorAll('g.node')]"
        ".filter(g => getComputedStyle(g).display !== 'none').length"
    )
    before = browser.execute_script(visible)
    browser.find_element("css selector", 'button[data-act="collapse-all"]').click()
    after = browser.execute_script(visible)
    assert after < before / 3
    browser.find_element("css selector", 'button[data-act="fit"]').click()
    browser.find_element("css selector", 'button[data-act="zoom-in"]').click()
    browser.find_element("css selector", 'button[data-act="expand-all"]').click()
    assert browser.execute_script(visible) == before
    timings = browser.execute_script("return window.archc.timings")
    print(f"{key}: {paint} {timings}")
    assert bs.js_errors(browser) == []


from tests.test_serve import SPEC  # noqa: E402  (one small family for both suites)


def test_serve_follows_edits(browser, tmp_path):
    from selenium.webdriver.support.ui import Select

    from archc.serve import start

    path = tmp_path / "small.yaml"
    path.write_text(SPEC)
    server, _, url = start(str(path))
    try:
        browser.get(url)
        assert "output 10" in bs.text_of(browser, ".totals")
        path.write_text(SPEC.replace("out: 10", "out: 7"))
        bs.wait_for(
            lambda: "output 7" in bs.text_of(browser, ".totals"),
            what="the page to show the edited output",
        )
        broken = SPEC.replace("out: 10", "out: 7, kernel: 3")
        path.write_text(broken)
        diagnostics = bs.wait_for(
            lambda: bs.text_of(browser, "#archc-diagnostics:not([hidden])"), what="the diagnostics"
        )
        line = next(
            i
            for i, text in enumerate(broken.splitlines(), 1)
            if "kernel: 3}" in text and "fc" in text
        )
        assert f"small.yaml:{line}:" in diagnostics and "error[" in diagnostics
        assert "stale" in browser.find_element("tag name", "body").get_attribute("class")
        assert _shown(browser, "conv1")
        path.write_text(SPEC)
        bs.wait_for(
            lambda: "output 10" in bs.text_of(browser, ".totals"),
            what="the fixed page",
        )
        assert "stale" not in browser.find_element("tag name", "body").get_attribute("class")
        assert not browser.find_element("id", "archc-diagnostics").is_displayed()
        Select(browser.find_element("id", "archc-variant")).select_by_value("wide")
        bs.wait_for(
            lambda: "small / wide" in bs.text_of(browser, ".sub"),
            what="the wide variant",
        )
        assert bs.js_errors(browser) == []
    finally:
        server.shutdown()
        server.server_close()


def test_side_by_side_branches_collapse_in_place(browser, reports):
    """A branch beside others is covered in place; a whole module squeezes its band."""
    _open(browser, reports["inception_v3"])
    blocks = set(browser.execute_script("return window.archc.blocks()"))
    assert {"Mixed_6a", "Mixed_6b", "Mixed_6b.branch7x7_1", "Mixed_6b.branch1x1"} <= blocks
    browser.execute_script("window.archc.reveal('Mixed_6b.branch1x1.conv')")
    beside = _rect(browser, _node("Mixed_6b.branch1x1.conv"))
    below = _rect(browser, _node("Mixed_6c.branch1x1.conv"))
    browser.execute_script("window.archc.collapse('Mixed_6b.branch7x7_1')")
    assert not _shown(browser, "Mixed_6b.branch7x7_1.conv")
    assert _rect(browser, _node("Mixed_6b.branch1x1.conv")) == beside
    assert _rect(browser, _node("Mixed_6c.branch1x1.conv")) == below
    browser.execute_script("window.archc.collapse('Mixed_6b')")
    assert _rect(browser, _node("Mixed_6c.branch1x1.conv"))["y"] < below["y"] - 100
    browser.execute_script("window.archc.expandAll()")
    assert _rect(browser, _node("Mixed_6c.branch1x1.conv")) == below
    assert bs.js_errors(browser) == []
