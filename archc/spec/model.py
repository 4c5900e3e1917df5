"""The pydantic models of a spec file's top level, blocks and variants.

Layer entries are checked later, against each layer kind's own fields, once parameters and
expressions are known; here they are only "a string or a mapping". The JSON Schema of the
whole language (`archc schema`) is assembled from these models and the layer registry.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.fields import FieldInfo

LayerEntry = str | dict[str, Any]

#: Keys an entry of a `layers:` list may carry besides its type's own fields.
ENTRY_KEYS = {
    "name": "module name: decides the module path and state_dict keys (`conv1`, `layer1`)",
    "type": "a layer kind, a block name, or `sequential`; `$param` picks one by parameter",
    "inputs": "names of earlier entries (or `input`) this one reads; default: the previous",
    "when": "expression; if false the entry is left out and its name stands for its input",
    "repeat": "expression: how many copies (a named entry becomes a Sequential of them)",
    "overrides": "per-copy changes for `repeat`: {0: {stride: 2}} (negative indices count "
    "from the end)",
    "names": "how `repeat` names its copies instead of 0, 1, 2: text with expressions in "
    "braces, `denselayer{index + 1}`, `block{stage}-{index}`",
    "layers": "the entries of a Sequential (a list, or an expression naming a list parameter)",
    "init": "weight initialization: default, he (kaiming, msra), xavier (glorot), normal, "
    "zeros; on a Sequential or block instance it applies to every layer inside",
    "trainable": "false freezes the parameters (requires_grad = False) of the layer, or of "
    "everything inside a sequential or block; an expression such as `not finetune` works",
    "doc": "free text for readers: a comment above the layer in model.py, and a row of its "
    "details in report.html",
}


# Empty defaults are written `Field(default={})`, not `default_factory=dict`: pydantic copies
# a mutable default for each instance all the same, and a builtin factory makes it read the
# builtin's text signature with `tokenize`, whose regular expressions cost ~10 ms at start-up.


@dataclass(frozen=True)
class Section:
    """Marks a field holding a settings section that is a plain mapping here and is checked
    against a model of its own by the loader (spec/loader.py), which imports that model only
    for specs that have the section; `archc schema` and docs/language.md describe the field
    by that model."""

    module: str
    model_name: str

    def model(self) -> type[BaseModel]:
        """The settings model (imported now)."""
        return getattr(importlib.import_module(self.module), self.model_name)


#: `training:`, checked against archc.training.Training (5 models most specs never need).
TrainingSection = Annotated[dict[str, Any] | None, Section("archc.training", "Training")]


def section_of(field: FieldInfo) -> Section | None:
    """The Section marker of a model field, if it has one."""
    return next((m for m in field.metadata if isinstance(m, Section)), None)


class Strict(BaseModel):
    """Models of the spec's own structure refuse unknown keys."""

    model_config = ConfigDict(extra="forbid")


class BlockSpec(Strict):
    """A reusable micro-architecture, used like a layer: `{type: bottleneck, planes: 64}`."""

    description: str = Field("", description="what the block is, with its source")
    params: dict[str, Any] = Field(
        default={},
        description="block parameters and their defaults; null (~) marks a required one",
    )
    layers: list[LayerEntry] = Field(description="the block's body, as in a network's layers")
    output: str | None = Field(None, description="the entry whose output the block returns")
    sequential: bool = Field(
        False,
        description="number the unnamed entries 0, 1, 2 as an nn.Sequential does "
        "(torchvision's Conv2dNormActivation: `.0 .1 .2` wherever the block is used)",
    )


class FunctionSpec(Strict):
    """A function for expressions, defined in the spec: `make_divisible(32 * width, 8)`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    description: str = Field("", description="what the function computes, with its source")
    params: dict[str, Any] = Field(
        default={},
        description="parameters in call order and their defaults; ~ marks a required one",
    )
    let: dict[str, Any] = Field(
        default={},
        description="local names, each an expression over the parameters and the names before it",
    )
    result: Any = Field(
        alias="return", description="the value: an expression over parameters and `let` names"
    )


class VariantSpec(Strict):
    """One column of a family: parameter values, optionally on top of another variant."""

    description: str = Field("", description="what this variant is, with its source")
    extends: str | None = Field(None, description="a variant whose settings this one starts from")
    params: dict[str, Any] = Field(default={}, description="parameter values")
    input: list[int | str] | None = Field(None, description="input volume [C, H, W]")
    class_name: str | None = Field(None, description="name of the generated class")
    notation: dict[str, list[LayerEntry]] | None = Field(
        None, description="layers appended after each notation layer of a kind"
    )
    training: TrainingSection = Field(
        None, description="training settings laid over the spec's, field by field"
    )


class SpecFile(Strict):
    """A network spec: an input volume, layers, and optionally blocks, params and variants."""

    archc: int = Field(1, description="spec language version")
    network: str = Field(description="the network's name (lower case is usual)")
    description: str = Field("", description="what the network is, with its paper")
    input: list[int | str] = Field(description="input volume per example, channels first")
    default: str | None = Field(None, description="the default variant (else the first)")
    class_name: str | None = Field(None, description="name of the generated class")
    params: dict[str, Any] = Field(default={}, description="parameters and defaults")
    notation: dict[str, list[LayerEntry]] = Field(
        default={},
        description="layers appended after each layer written in paper notation, by kind: "
        "{conv: [relu]} makes `conv3-64` a convolution followed by a ReLU",
    )
    init: str | None = Field(None, description="default weight initialization")
    imports: list[str] = Field(
        default=[],
        description="files of shared blocks and functions, relative to this file and inside "
        "the spec's folder (or the folder given with --import-root)",
    )
    blocks: dict[str, BlockSpec] = Field(default={}, description="blocks by name")
    functions: dict[str, FunctionSpec] = Field(
        default={}, description="functions that expressions can call, by name"
    )
    variants: dict[str, VariantSpec] = Field(default={}, description="variants")
    training: TrainingSection = Field(
        None,
        description="how the network is trained (optimizer, schedule, batches, "
        "augmentation); `archc build` writes train.py from it",
    )
    layers: list[LayerEntry] = Field(description="the network, in order: a chain by default")


class BlockFile(Strict):
    """A file of shared blocks and functions, imported by specs."""

    archc: int = 1
    description: str = ""
    imports: list[str] = Field(default=[])
    blocks: dict[str, BlockSpec] = Field(default={})
    functions: dict[str, FunctionSpec] = Field(default={})
