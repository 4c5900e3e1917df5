"""Regenerate docs/gallery/: diagrams of zoo networks, drawn by archc's Graphviz backend.

    python docs/make_gallery.py          # needs Graphviz's `dot` on PATH

Every picture comes from a spec in specs/ through the same code as `archc graph`; nothing
in the gallery is drawn by hand. The index (docs/gallery/README.md) is rewritten too.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GALLERY = ROOT / "docs" / "gallery"

#: (file stem, spec, variant, collapse level, direction, caption)
PICTURES = [
    (
        "alexnet_lecture",
        "alexnet.yaml",
        "lecture",
        None,
        "TB",
        "AlexNet as the lecture draws it: one tower, 227x227 input.",
    ),
    (
        "vgg_d",
        "vgg.yaml",
        "D",
        None,
        "TB",
        "VGG-16 (configuration D): 13 3x3 convolutions in five stages ended by max pools, "
        "three FC layers, in torchvision's `features` / `classifier` layout.",
    ),
    (
        "resnet_18",
        "resnet.yaml",
        "18",
        None,
        "TB",
        "ResNet-18 in full: basic blocks as clusters; shortcuts dashed red, the identity "
        "ones as a single edge, the projections (1x1 conv, BN) in a `downsample` cluster.",
    ),
    (
        "resnet_152_collapse1",
        "resnet.yaml",
        "152",
        1,
        "TB",
        "ResNet-152 with `--collapse 1`: each bottleneck block drawn as one box, 3+8+36+3.",
    ),
    (
        "googlenet_paper",
        "googlenet.yaml",
        "paper",
        None,
        "TB",
        "GoogLeNet (paper variant): inception modules as clusters, four branches each "
        "meeting in a concat.",
    ),
]


def main() -> int:
    """Render every picture into docs/gallery/ and rewrite its index."""
    sys.path.insert(0, str(ROOT))
    from archc.backends.graphviz import dot_executable, render
    from archc.backends.graphviz_dot import to_dot
    from archc.build import atomic_write
    from archc.pipeline import load

    if dot_executable() is None:
        print(
            "docs/make_gallery.py needs Graphviz's `dot` (apt-get install graphviz)",
            file=sys.stderr,
        )
        return 1
    lines = [
        "# Gallery",
        "",
        "Diagrams of zoo networks drawn by `archc graph`; regenerate them with",
        "`python docs/make_gallery.py` (do not edit by hand).",
        "",
    ]
    for stem, spec, variant, collapse, direction, caption in PICTURES:
        graph = load(ROOT / "specs" / spec, variant)
        # Spans are shown as spec line numbers only, so the output does not depend on
        # where the repository lives.
        svg = render(to_dot(graph, collapse=collapse, direction=direction), "svg")
        atomic_write(GALLERY / f"{stem}.svg", svg)
        command = f"archc graph specs/{spec} --variant {variant}"
        if collapse is not None:
            command += f" --collapse {collapse}"
        if direction != "TB":
            command += f" --direction {direction}"
        lines += [f"## {stem}", "", caption, "", f"`{command}`", "", f"![{stem}]({stem}.svg)", ""]
        print(f"wrote docs/gallery/{stem}.svg", file=sys.stderr)
    atomic_write(GALLERY / "README.md", "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
