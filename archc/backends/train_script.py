"""The `train` build target: a standalone train.py beside model.py, from `training:`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from archc.backends.pytorch_code import doc_text
from archc.ir.graph import Graph
from archc.pycode import check_identifier, python_literal
from archc.spec.loader import folder_name
from archc.training import Training


def render(graph: Graph) -> str:
    """The text of train.py for an analysed graph (default settings if it has no training)."""
    from archc.backends.train_template import TEMPLATE

    training = graph.training if graph.training is not None else Training()
    config = training.model_dump(mode="json")
    if len(graph.output_shape) != 1:
        # A classifier's scores are a vector; train.py's loss needs one.
        shape = graph.nodes[graph.output].volume
        raise ValueError(
            f"train.py needs a network that outputs a vector of class scores; "
            f"{graph.network} [{graph.variant}] outputs {shape}"
        )
    channels = graph.input_shape[0]
    if training.normalize is not None and any(len(v) != channels for v in training.normalize):
        means, stds = (len(v) for v in training.normalize)
        raise ValueError(
            f"training.normalize gives {means} means and {stds} stds, but the "
            f"input has {channels} channel(s)"
        )
    scores = graph.nodes[graph.output].layer.output_scores
    slots = {
        "CLASS": check_identifier(graph.class_name),
        # These three stand in train.py's docstring.
        "NETWORK": doc_text(graph.network),
        "VARIANT": doc_text(graph.variant),
        "SPEC": doc_text(Path(graph.spec_path).as_posix()),
        "INPUT_SHAPE": python_literal(tuple(graph.input_shape)),
        "INPUT_TEXT": "x".join(map(str, graph.input_shape)),
        "NUM_CLASSES": str(graph.output_shape[0]),
        "LAST_CLASS": str(graph.output_shape[0] - 1),
        "CONFIG": _literal(config, ""),
        "RUNS": python_literal(f"runs/{folder_name(graph.network, graph.variant)}"),
        "OUTPUT": doc_text(scores),
        "OUTPUT_VALUE": python_literal(scores),
    }
    text = TEMPLATE
    for key, value in slots.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def _literal(value: Any, indent: str) -> str:
    """A Python literal of JSON-like data: a mapping per line, so it reads like code."""
    if isinstance(value, dict) and value:
        inner = indent + "    "
        items = "".join(
            f"{inner}{_literal(key, inner)}: {_literal(item, inner)},\n"
            for key, item in value.items()
        )
        return "{\n" + items + indent + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(item, indent) for item in value) + "]"
    return python_literal(value)


def write_target(graph: Graph, folder: Path, options: dict[str, Any]) -> None:
    """Write train.py into the (staging) build folder."""
    from archc.build import BuildError

    try:
        text = render(graph)
    except ValueError as exc:
        raise BuildError(str(exc)) from None
    (folder / "train.py").write_text(text)
