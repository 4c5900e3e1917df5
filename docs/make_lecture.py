"""Generate docs/lecture.md: the lecture's claims, each with the figure archc computes.

    python docs/make_lecture.py            # rewrite docs/lecture.md
    python docs/make_lecture.py --check    # exit 1 if docs/lecture.md is out of date

Every number on the page comes from archc's analysis of the zoo (specs/) or of the small
specs below; tests/test_lecture.py holds each one against its published value.
"""

from __future__ import annotations

import math
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
OUTPUT = ROOT / "docs" / "lecture.md"

# Small specs for the factorization argument: the same 64 -> 64 maps at 56x56, by one
# 5x5 conv, one 3x3 conv, or two stacked 3x3 convs.
TINY = {
    "conv5x5": """\
network: conv5x5
input: [64, 56, 56]
layers:
  - {name: conv, type: conv, out: 64, kernel: 5, padding: 2, bias: false}
""",
    "conv3x3": """\
network: conv3x3
input: [64, 56, 56]
layers:
  - {name: conv, type: conv, out: 64, kernel: 3, padding: 1, bias: false}
""",
    "two_3x3": """\
network: two_3x3
input: [64, 56, 56]
layers:
  - {name: conv_a, type: conv, out: 64, kernel: 3, padding: 1, bias: false}
  - relu
  - {name: conv_b, type: conv, out: 64, kernel: 3, padding: 1, bias: false}
""",
    # AlexNet's first layer at the paper's stated 224x224: the window does not tile.
    "alexnet_224": """\
network: alexnet_conv1_224
input: [3, 224, 224]
layers:
  - {name: conv1, type: conv, out: 96, kernel: 11, stride: 4}
""",
}


# Diagrams of the networks above, drawn by `archc graph` (docs/make_gallery.py).
DIAGRAMS = [
    ("AlexNet, the lecture's one tower", "gallery/alexnet_lecture.svg"),
    ("VGG-16 (configuration D)", "gallery/vgg_d.svg"),
    ("GoogLeNet as in Table 1", "gallery/googlenet_paper.svg"),
    ("ResNet-18", "gallery/resnet_18.svg"),
]


def _load(spec: str, variant: str | None = None):
    import archc

    return archc.load(SPECS / f"{spec}.yaml", variant).summary()


def _load_tiny() -> dict[str, tuple[dict, list[str]]]:
    """Summaries and warning messages of the small specs."""
    from archc.backends.summary import summary_dict
    from archc.diagnostics import Reporter
    from archc.pipeline import load

    result = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, text in TINY.items():
            path = Path(folder) / f"{name}.yaml"
            path.write_text(text)
            reporter = Reporter()
            graph = load(path, None, reporter)
            warnings = [f"warning[{d.code}]: {d.message}" for d in reporter.diagnostics]
            result[name] = (summary_dict(graph), warnings)
    return result


def _layer(summary: dict, name: str) -> dict:
    return next(row for row in summary["layers"] if row["name"] == name)


def figures() -> dict:
    """Every figure the page quotes, computed by archc."""
    alexnet = _load("alexnet", "lecture")
    vgg16, vgg19 = _load("vgg", "D"), _load("vgg", "E")
    googlenet = _load("googlenet", "paper")
    tiny = _load_tiny()
    conv1 = _layer(alexnet, "conv1")
    five, three, two = (tiny[n][0] for n in ("conv5x5", "conv3x3", "two_3x3"))
    return {
        "alexnet_rows": [
            {
                "name": row["name"],
                "type": row["type"],
                "hyper": row["hyper"],
                "shape": row["output_shape"],
                "params": row["params"],
                "macs": row["macs"],
            }
            for row in alexnet["layers"]
            if row["type"] in ("conv", "maxpool", "lrn", "linear")
        ],
        "alexnet_input": alexnet["input_shape"],
        "alexnet_params": alexnet["totals"]["params"],
        "alexnet_macs": alexnet["totals"]["macs"],
        "alexnet_conv1_side": conv1["output_shape"][1],
        "alexnet_rf": _layer(alexnet, "pool3")["receptive_field"]["size"][0],
        "alexnet_224_warnings": tiny["alexnet_224"][1],
        "alexnet_224_side": _layer(tiny["alexnet_224"][0], "conv1")["output_shape"][1],
        "vgg16_params": vgg16["totals"]["params"],
        "vgg16_bytes": vgg16["totals"]["param_bytes"],
        "vgg19_params": vgg19["totals"]["params"],
        "vgg19_bytes": vgg19["totals"]["param_bytes"],
        "vgg19_macs": vgg19["totals"]["macs"],
        "resnet50_params": _load("resnet", "50")["totals"]["params"],
        "resnet50_bytes": _load("resnet", "50")["totals"]["param_bytes"],
        "resnet34_macs": _load("resnet", "34")["totals"]["macs"],
        "plain34_macs": _load("resnet", "plain-34")["totals"]["macs"],
        "alexnet_paper_params": _load("alexnet", "paper")["totals"]["params"],
        "googlenet_params": googlenet["totals"]["params"],
        "googlenet_weights": sum(
            math.prod(shape)
            for key, shape, kind in googlenet["state_dict"]
            if kind == "param" and not key.endswith(".bias")
        ),
        "googlenet_tv_params": _load("googlenet", "torchvision")["totals"]["params"],
        "conv5x5_macs": five["totals"]["macs"],
        "conv3x3_macs": three["totals"]["macs"],
        "two_3x3_macs": two["totals"]["macs"],
        "conv5x5_params": five["totals"]["params"],
        "conv3x3_params": three["totals"]["params"],
        "two_3x3_params": two["totals"]["params"],
        "conv5x5_rf": _layer(five, "conv")["receptive_field"]["size"][0],
        "conv3x3_rf": _layer(three, "conv")["receptive_field"]["size"][0],
        "two_3x3_rf": _layer(two, "conv_b")["receptive_field"]["size"][0],
    }


def _volume(shape: list[int]) -> str:
    return f"{shape[1]}x{shape[2]}x{shape[0]}" if len(shape) == 3 else str(shape[0])


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB ({n / 2**20:.1f} MiB)"


def render(f: dict) -> str:
    """The Markdown page for these figures."""
    out = [
        "# The lecture, reproduced",
        "",
        "<!-- Generated by docs/make_lecture.py from the specs in specs/; do not edit. -->",
        "",
        "The lecture's claims about classic CNNs, each next to the figure archc computes",
        "from the zoo's specs. tests/test_lecture.py checks every figure against its",
        "published value (tests/reference/papers.md) and that this page is up to date.",
        "Counts follow the papers' conventions: parameters include biases, MACs count the",
        'multiply-accumulates of conv and linear layers (the ResNet paper\'s "FLOPs").',
        "",
        "## AlexNet's volumes",
        "",
        f"`archc summary specs/alexnet.yaml` (the lecture's one-tower AlexNet, input "
        f"{_volume(f['alexnet_input'])}):",
        "",
        "| layer | kind | output | params | MACs |",
        "| --- | --- | --- | ---: | ---: |",
    ]
    for row in f["alexnet_rows"]:
        kind = f"{row['type']} {row['hyper']}".strip()
        macs = f"{row['macs']:,}" if row["macs"] else ""
        out.append(
            f"| {row['name']} | {kind} | {_volume(row['shape'])} | {row['params']:,} | {macs} |"
        )
    side = f["alexnet_conv1_side"]
    out += [
        f"| **total** | | | **{f['alexnet_params']:,}** | **{f['alexnet_macs']:,}** |",
        "",
        f"CONV1's output side is (227 - 11)/4 + 1 = {side}. At the paper's stated 224x224 input",
        f"the same layer gives {f['alexnet_224_side']}, and `archc check` says why:",
        "",
        "```",
        *f["alexnet_224_warnings"],
        "```",
        "",
        f"Each unit of the last pooled map sees {f['alexnet_rf']}x{f['alexnet_rf']} input "
        "pixels (its receptive field, as in",
        "the Distill table).",
        "",
        "## Memory: weights at fp32",
        "",
        "| network | params | weights (4 bytes each) | the lecture |",
        "| --- | ---: | ---: | --- |",
        f"| VGG16 (vgg.yaml D) | {f['vgg16_params']:,} | {_mb(f['vgg16_bytes'])} | over 533MB |",
        f"| VGG19 (vgg.yaml E) | {f['vgg19_params']:,} | {_mb(f['vgg19_bytes'])} | 574MB |",
        f"| ResNet-50 (resnet.yaml 50) | {f['resnet50_params']:,} | "
        f"{_mb(f['resnet50_bytes'])} | about 102MB |",
        "",
        f"VGG16's weights take {f['vgg16_bytes']:,} bytes: {f['vgg16_bytes'] / 1e6:.0f} MB, or "
        f"{f['vgg16_bytes'] / 2**20:.1f} MiB,",
        'so "over 533MB" holds in either unit.',
        "",
        "## Compute: VGG-19 against ResNet-34",
        "",
        "| network | MACs | the lecture |",
        "| --- | ---: | --- |",
        f"| VGG-19 (vgg.yaml E) | {f['vgg19_macs']:,} ({f['vgg19_macs'] / 1e9:.1f} billion) "
        "| 19.6 billion FLOPs |",
        f"| plain-34 (resnet.yaml plain-34) | {f['plain34_macs']:,} "
        f"({f['plain34_macs'] / 1e9:.2f} billion) | 3.6 billion |",
        f"| ResNet-34 (resnet.yaml 34) | {f['resnet34_macs']:,} "
        f"({f['resnet34_macs'] / 1e9:.2f} billion) | 3.6 billion |",
        "",
        f"ResNet-34 is {f['vgg19_macs'] / f['resnet34_macs']:.1f}x cheaper than VGG-19. Its "
        "shortcuts cost",
        "nothing over the plain net but the three projection shortcuts",
        f"({f['resnet34_macs'] - f['plain34_macs']:,} MACs).",
        "",
        "## Parameters: GoogLeNet against AlexNet",
        "",
    ]
    ratio = f["alexnet_paper_params"] / f["googlenet_params"]
    ratio_tv = f["alexnet_paper_params"] / f["googlenet_tv_params"]
    out += [
        "The lecture puts GoogLeNet at about 5 million parameters, 12x fewer than AlexNet's",
        "60 million. Counted from the specs:",
        "",
        "| network | params |",
        "| --- | ---: |",
        f"| AlexNet, the paper's two towers (alexnet.yaml paper) | {f['alexnet_paper_params']:,} |",
        f"| GoogLeNet, Table 1 (googlenet.yaml paper) | {f['googlenet_params']:,} |",
        f"| GoogLeNet, torchvision without aux heads (googlenet.yaml torchvision) | "
        f"{f['googlenet_tv_params']:,} |",
        "",
        f"That is {ratio:.1f}x fewer ({ratio_tv:.1f}x for torchvision's version): an order of",
        "magnitude, but not 12x. The GoogLeNet paper itself gives about 6.8 million, and",
        f"recounting its Table 1 gives {f['googlenet_weights']:,} weights before biases; the "
        "lecture's 5",
        "million matches neither.",
        "",
        "## Factorization: one 5x5 or two 3x3s",
        "",
        "Three small specs with the same 64 input and 64 output maps at 56x56:",
        "",
    ]
    for name in ("conv5x5", "conv3x3", "two_3x3"):
        out += ["```yaml", TINY[name].rstrip(), "```", ""]
    out += [
        "| spec | MACs | params | receptive field |",
        "| --- | ---: | ---: | ---: |",
        f"| conv5x5 | {f['conv5x5_macs']:,} | {f['conv5x5_params']:,} | "
        f"{f['conv5x5_rf']}x{f['conv5x5_rf']} |",
        f"| conv3x3 | {f['conv3x3_macs']:,} | {f['conv3x3_params']:,} | "
        f"{f['conv3x3_rf']}x{f['conv3x3_rf']} |",
        f"| two_3x3 | {f['two_3x3_macs']:,} | {f['two_3x3_params']:,} | "
        f"{f['two_3x3_rf']}x{f['two_3x3_rf']} |",
        "",
        f"A 5x5 conv costs {f['conv5x5_macs'] / f['conv3x3_macs']:.2f} times a 3x3 with the "
        "same filters (25/9).",
        f"Two stacked 3x3s see the same {f['two_3x3_rf']}x{f['two_3x3_rf']} window for "
        f"{f['two_3x3_macs'] / f['conv5x5_macs']:.0%} of the 5x5's cost (18/25), with an",
        "extra nonlinearity between them: the argument of VGG and of Inception v3.",
        "",
        "## Diagrams",
        "",
        "Drawn from the same specs by `archc graph` (see [the gallery](gallery/README.md)):",
        "",
    ]
    for caption, path in DIAGRAMS:
        out += [f"### {caption}", "", f"![{caption}]({path})", ""]
    return "\n".join(out)


def main(argv: list[str]) -> int:
    """Write docs/lecture.md, or with --check report whether it is up to date."""
    text = render(figures())
    if "--check" in argv:
        if OUTPUT.read_text() != text:
            print(f"{OUTPUT} is out of date: run python docs/make_lecture.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
