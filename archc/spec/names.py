"""The one rule for spec names that become Python identifiers in generated code.

Layer names become attributes of generated nn.Module classes and local variables of their
`forward`; block parameter names become parameters of a class's `__init__`; `class_name`
names the generated class. Each must be a plain ASCII identifier that is not a Python
keyword, does not start with `_` (private and dunder names are nn.Module's own and
Python's), and does not shadow a name the generated code relies on. The backends check
every identifier again against the same rule as they emit it (archc/backends/pytorch_code.py),
so a name that slipped past loading fails the build instead of becoming code.

`NN_MODULE_ATTRIBUTES` is written out here, so that `archc check` need not import torch;
tests/test_hostile_names.py compares it with `dir(torch.nn.Module)` so it cannot drift.
"""

from __future__ import annotations

import builtins
import keyword
import re

from archc.diagnostics import quote

MAX_NAME_LENGTH = 64

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

#: Public attributes of torch.nn.Module (torch 2.13) and its instance attribute `training`:
#: a layer named after one would shadow it (`self.compile = nn.Conv2d(...)` breaks
#: `model.compile()`; `self.modules = ...` breaks `.to()` and `state_dict()`).
NN_MODULE_ATTRIBUTES = frozenset(
    {
        "T_destination",
        "add_module",
        "apply",
        "bfloat16",
        "buffers",
        "call_super_init",
        "children",
        "compile",
        "cpu",
        "cuda",
        "double",
        "dump_patches",
        "eval",
        "extra_repr",
        "float",
        "forward",
        "get_buffer",
        "get_extra_state",
        "get_parameter",
        "get_submodule",
        "half",
        "ipu",
        "load_state_dict",
        "modules",
        "mtia",
        "named_buffers",
        "named_children",
        "named_modules",
        "named_parameters",
        "parameters",
        "register_backward_hook",
        "register_buffer",
        "register_forward_hook",
        "register_forward_pre_hook",
        "register_full_backward_hook",
        "register_full_backward_pre_hook",
        "register_load_state_dict_post_hook",
        "register_load_state_dict_pre_hook",
        "register_module",
        "register_parameter",
        "register_state_dict_post_hook",
        "register_state_dict_pre_hook",
        "requires_grad_",
        "set_extra_state",
        "set_submodule",
        "share_memory",
        "state_dict",
        "to",
        "to_empty",
        "train",
        "training",
        "type",
        "xpu",
        "zero_grad",
    }
)

#: Names generated Python uses for itself (modules, locals, builtins it calls).
CODE_NAMES = frozenset(
    {
        "self",
        "x",
        "input",
        "torch",
        "nn",
        "F",
        "math",
        "Tensor",
        "annotations",
        "super",
        "getattr",
        "isinstance",
        "print",
        "len",
        "range",
        "list",
        "dict",
        "tuple",
        "None",
        "True",
        "False",
    }
)

#: Functions generated code defines (archc/backends/pytorch_init.py) and a class_name must
#: not take; tests check the backend defines no other.
INIT_FUNCTIONS = frozenset({"default_init", "he_init", "xavier_init", "normal_init", "zeros_init"})

#: Names a block expansion binds itself (`in_channels`), and the keys an entry reads as
#: its own (a parameter named `name` could never be given).
IMPLICIT_PARAMS = frozenset({"in_channels", "in_shape", "index"})


def helper_names() -> frozenset[str]:
    """Names of the helper classes layers add to model.py (`ScaledTanh`, `RBF`, ...)."""
    from archc.layers import REGISTRY

    return frozenset(name for kind in REGISTRY.values() for name in kind.torch_helpers)


def _base_problem(name: object) -> str | None:
    if not isinstance(name, str):
        return f"a name must be text, got {quote(name)}"
    if len(name) > MAX_NAME_LENGTH:
        return f"name is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}"
    if not _IDENTIFIER.fullmatch(name):
        return (
            f"name {name!r} is not a plain identifier (ASCII letters, digits and _, "
            "not starting with a digit)"
        )
    if name.startswith("_"):
        return f"name '{name}' starts with '_' (reserved for Python's and nn.Module's own names)"
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return f"name '{name}' is reserved in Python"
    return None


def layer_name_problem(name: object) -> str | None:
    """Why `name` cannot name a layer (an attribute and a local variable), or None."""
    problem = _base_problem(name)
    if problem is None and name in NN_MODULE_ATTRIBUTES:
        problem = f"name '{name}' is reserved (it would shadow nn.Module.{name})"
    elif problem is None and name in CODE_NAMES:
        problem = f"name '{name}' is reserved (it would shadow generated code)"
    return problem


_COPY_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")


def copy_name_problem(name: str) -> str | None:
    """Why `name`, made by a `names:` pattern, cannot name a copy, or None. Besides layer
    names, numbers and dashes are allowed (RegNet's `block1-0`): a module path may hold
    them, and generated code reaches such a child with getattr."""
    if name.isidentifier():
        return layer_name_problem(name)
    if len(name) > MAX_NAME_LENGTH:
        return f"name is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}"
    if not _COPY_NAME.fullmatch(name):
        return (
            f"name {name!r} may hold only ASCII letters, digits, _ and - "
            "(and must not start with -)"
        )
    return None


def param_name_problem(name: object, entry_keys: frozenset[str] | set[str]) -> str | None:
    """Why `name` cannot name a block parameter (an `__init__` parameter), or None."""
    problem = layer_name_problem(name)
    if problem is None and (name in IMPLICIT_PARAMS or name in entry_keys):
        problem = f"name '{name}' is reserved (archc gives every block '{name}' itself)"
        if name in entry_keys:
            problem = f"name '{name}' is reserved (it is a key of every entry)"
    elif problem is None and (name in INIT_FUNCTIONS or name in helper_names()):
        problem = f"name '{name}' is reserved (it would shadow generated code)"
    return problem


def shadows_generated_code(name: str) -> bool:
    """Whether a class of this name would hide something model.py uses or defines."""
    return (
        name in CODE_NAMES
        or name in INIT_FUNCTIONS
        or name in helper_names()
        or hasattr(builtins, name)
    )


def class_name_problem(name: object) -> str | None:
    """Why `name` cannot name the generated class, or None."""
    problem = _base_problem(name)
    if problem is None and shadows_generated_code(name):
        problem = f"'{name}' is reserved (it would shadow a name the generated code uses)"
    return problem


def code_identifier_problem(name: object) -> str | None:
    """The backends' check of any identifier they emit (the base rule alone: generated
    names such as `self` and `torch` pass it, spec text that is not a name does not)."""
    if not isinstance(name, str) or not name.isascii() or not name.isidentifier():
        return f"{quote(name)} is not an identifier"
    if keyword.iskeyword(name) and name not in ("None", "True", "False"):
        return f"{name!r} is a Python keyword"
    return None
