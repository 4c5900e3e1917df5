"""Generated specs for the scaling and memory benchmarks, written as YAML text.

Each generator returns the YAML and the number of primitive layers it describes, counted
by construction (independently of archc), so the benchmark can report time per layer.
They stay inside archc's input limits: at most 10,000 copies per `repeat:` (larger stacks
are several repeated stages) and files of at most 1 MiB, so the families written out entry
by entry stop at 10,000 layers (`MAX_WRITTEN_OUT`).
"""

from __future__ import annotations

#: archc's `repeat:` limit (archc.passes.expand.MAX_REPEAT).
MAX_COPIES = 10_000
#: Largest size of the families written out entry by entry (1 MiB file limit).
MAX_WRITTEN_OUT = 10_000

#: The families of the scaling benchmark: name -> (generator, what it stresses, largest
#: size it can be generated at, None for no bound).
FAMILIES: dict[str, tuple] = {}


def _family(description: str, largest: int | None = None):
    def register(function):
        FAMILIES[function.__name__.replace("_", "-")] = (function, description, largest)
        return function

    return register


def _stages(kind: str, copies: int) -> list[str]:
    """`copies` instances of block `kind` as repeated stages of at most MAX_COPIES each."""
    lines, stage = [], 0
    while copies > 0:
        count = min(copies, MAX_COPIES)
        lines.append(f"  - {{name: stage{stage}, type: {kind}, repeat: {count}}}")
        copies -= count
        stage += 1
    return lines


@_family("residual blocks expanded by `repeat:` (block expansion, scopes, shortcut adds)")
def deep_repeat(layers: int) -> tuple[str, int]:
    """A residual stack: a stem, then (conv, relu, add) blocks made by one `repeat:`."""
    blocks, extra = divmod(max(layers - 1, 0), 3)
    lines = [
        f"network: deep_repeat_{layers}",
        "input: [16, 8, 8]",
        "blocks:",
        "  res:",
        "    layers:",
        "      - {name: conv, type: conv, out: 16, kernel: 3, padding: 1, bias: false}",
        "      - {name: relu, type: relu}",
        "      - {name: add, type: add, inputs: [relu, input]}",
        "layers:",
        "  - {name: stem, type: conv, out: 16, kernel: 1}",
    ]
    lines += _stages("res", blocks)
    lines += ["  - relu"] * extra
    return "\n".join(lines) + "\n", 1 + 3 * blocks + extra


@_family("residual stack written out entry by entry (YAML loading, name lookup)", MAX_WRITTEN_OUT)
def deep_flat(layers: int) -> tuple[str, int]:
    """The same residual stack with every layer written in the file, shortcuts by name."""
    blocks, extra = divmod(max(layers - 1, 0), 3)
    lines = [
        "network: deep_flat",
        "input: [16, 8, 8]",
        "layers:",
        "  - {name: a0, type: conv, out: 16, kernel: 1}",
    ]
    for i in range(1, blocks + 1):
        lines += [
            f"  - {{name: c{i}, type: conv, out: 16, kernel: 3, padding: 1, bias: false}}",
            f"  - {{name: r{i}, type: relu}}",
            f"  - {{name: a{i}, type: add, inputs: [r{i}, a{i - 1}]}}",
        ]
    lines += ["  - relu"] * extra
    return "\n".join(lines) + "\n", 1 + 3 * blocks + extra


@_family("inception-like modules: 1x1 branches merged by concat, then a 1x1 reduction")
def wide_concat(layers: int) -> tuple[str, int]:
    """Inception-like modules of 8 branches each (conv 1x1), a concat, a 1x1 reduction."""
    width = 8
    per_module = width + 2
    modules, extra = divmod(max(layers - 1, 0), per_module)
    lines = [
        "network: wide_concat",
        "input: [16, 8, 8]",
        "blocks:",
        "  mixed:",
        "    layers:",
    ]
    for b in range(width):
        lines.append(f"      - {{name: b{b}, type: conv, out: 4, kernel: 1, inputs: input}}")
    lines += [
        "      - {name: cat, type: concat, inputs: ["
        + ", ".join(f"b{b}" for b in range(width))
        + "]}",
        "      - {name: reduce, type: conv, out: 16, kernel: 1}",
        "layers:",
        "  - {name: stem, type: conv, out: 16, kernel: 1}",
    ]
    lines += _stages("mixed", modules)
    lines += ["  - relu"] * extra
    return "\n".join(lines) + "\n", 1 + per_module * modules + extra


@_family("one concat merging every branch (a single very wide merge)", MAX_WRITTEN_OUT)
def wide_merge(layers: int) -> tuple[str, int]:
    """A stem, then `layers - 2` parallel 1x1 convolutions merged by one concat."""
    branches = max(layers - 2, 1)
    lines = [
        "network: wide_merge",
        "input: [8, 4, 4]",
        "layers:",
        "  - {name: stem, type: conv, out: 8, kernel: 1}",
    ]
    lines += [
        f"  - {{name: b{i}, type: conv, out: 1, kernel: 1, inputs: stem}}" for i in range(branches)
    ]
    lines.append("  - name: cat")
    lines.append("    type: concat")
    lines.append("    inputs:")
    lines += [f"      - b{i}" for i in range(branches)]
    return "\n".join(lines) + "\n", branches + 2


# --- the 100-billion-parameter VGG ------------------------------------------------------

_VGG_D = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def wide_vgg_params(k: int) -> int:
    """Parameters of VGG-16 with every width times k, counted here in closed form."""
    total, channels = 0, 3
    for item in _VGG_D:
        if item == "M":
            continue
        total += (channels * 9 + 1) * item * k
        channels = item * k
    fc = 4096 * k
    total += (channels * 7 * 7 + 1) * fc + (fc + 1) * fc + (fc + 1) * 1000
    return total


def wide_vgg(target_params: int = 100_000_000_000) -> tuple[str, int, int]:
    """A VGG-16 widened until it has at least `target_params`; (yaml, params, width factor)."""
    k = 1
    while wide_vgg_params(k) < target_params:
        k += 1
    lines = [
        f"network: wide_vgg_x{k}",
        "input: [3, 224, 224]",
        "layers:",
        "  - name: features",
        "    layers:",
    ]
    for item in _VGG_D:
        if item == "M":
            lines.append("      - {type: maxpool, kernel: 2, stride: 2}")
        else:
            lines.append(f"      - {{type: conv, out: {item * k}, kernel: 3, padding: 1}}")
            lines.append("      - relu")
    lines += [
        "  - flatten",
        "  - name: classifier",
        "    layers:",
        f"      - {{type: linear, out: {4096 * k}}}",
        "      - relu",
        "      - dropout",
        f"      - {{type: linear, out: {4096 * k}}}",
        "      - relu",
        "      - dropout",
        "      - {type: linear, out: 1000}",
    ]
    return "\n".join(lines) + "\n", wide_vgg_params(k), k
