"""archc: a declarative neural-network architecture compiler.

Example::

    >>> import archc
    >>> net = archc.load("specs/vgg.yaml", variant="D")  # validated, analysed; no torch
    >>> net.summary()["totals"]["params"]  # the dict of `archc summary --json`
    138357544
    >>> model = archc.compile("specs/vgg.yaml", variant="D")  # a torch.nn.Module
"""

from __future__ import annotations

import os
from typing import Any

from archc.diagnostics import Diagnostic, SpecError
from archc.network import Network

__version__ = "0.1.0"


def load(
    path: str | os.PathLike,
    variant: str | None = None,
    params: dict[str, Any] | None = None,
    import_root: str | os.PathLike | None = None,
) -> Network:
    """Load, validate and analyse one variant of a spec; raise SpecError on problems.

    `params` overrides parameters (`{"num_classes": 10}`) or training settings
    (`{"training.lr": 0.1}`), as `--set` does on the command line. `import_root` is the
    folder the spec's `imports:` may read from (default: the spec's own folder), as
    `--import-root` is.
    """
    from archc.pipeline import load as load_graph

    return Network(load_graph(path, variant, overrides=params, import_root=import_root))


def compile(
    path: str | os.PathLike,
    variant: str | None = None,
    params: dict[str, Any] | None = None,
    import_root: str | os.PathLike | None = None,
    **kwargs: Any,
) -> Any:
    """Build the PyTorch module of a spec's variant (imports torch)."""
    from archc.backends.pytorch import compile_module

    return compile_module(load(path, variant, params, import_root).graph, **kwargs)


# `archc.transfer(source, target, plan)`: a function, bound after the submodule of that name.
from archc.transfer import TransferError, TransferPlan, plan_transfer, transfer  # noqa: E402

__all__ = [
    "load",
    "compile",
    "transfer",
    "plan_transfer",
    "TransferPlan",
    "TransferError",
    "Network",
    "SpecError",
    "Diagnostic",
    "__version__",
]
