"""The `training:` section of a spec: how the network was (or is to be) trained.

In the spirit of Caffe's solver file: the optimizer, the learning rate and its schedule,
regularisation, batch size, epochs and augmentation, validated here (pydantic, no torch) and
turned into a standalone `train.py` by `archc.backends.train_script`. A variant may override
any of it field by field (`variants: {B: {training: {lr: 0.05}}}`), and so may the command
line (`--set training.lr=0.05`).

```yaml
training:                      # AlexNet, Krizhevsky et al. 2012, section 5
  optimizer: sgd
  lr: 0.01
  momentum: 0.9
  weight_decay: 0.0005
  schedule: {type: plateau, factor: 0.1}   # divide by 10 when validation error stalls
  batch_size: 128
  epochs: 90
  augment: {hflip: true, random_crop: true}
```
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from archc.layers.base import NumbersNotBooleans


class _Strict(NumbersNotBooleans):
    # `.inf` and `.nan` are YAML numbers; no training setting has a use for them.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


#: Adam's decay rate of a running average: torch refuses one outside [0, 1), but only once
#: train.py runs.
DecayRate = Annotated[float, Field(ge=0, lt=1)]


class StepSchedule(_Strict):
    """Multiply the learning rate by `gamma` every `step_size` epochs."""

    type: Literal["step"]
    step_size: int = Field(30, ge=1, description="epochs between decays")
    gamma: float = Field(0.1, gt=0, le=1, description="factor applied at each decay")


class PlateauSchedule(_Strict):
    """Multiply the learning rate by `factor` when the validation metric stops improving."""

    type: Literal["plateau"]
    factor: float = Field(0.1, gt=0, lt=1, description="factor applied when progress stalls")
    patience: int = Field(2, ge=0, description="epochs without improvement before a decay")
    monitor: Literal["val_error", "val_loss"] = Field(
        "val_error", description="what must improve (the training data's when no --val set)"
    )
    threshold: float = Field(1e-4, ge=0, description="smallest change that counts (relative)")
    min_lr: float = Field(0.0, ge=0, description="the learning rate never goes below this")


class CosineSchedule(_Strict):
    """Anneal the learning rate along a half cosine to `min_lr` over the training."""

    type: Literal["cosine"]
    min_lr: float = Field(0.0, ge=0, description="the learning rate at the end")
    warmup_epochs: int = Field(0, ge=0, description="epochs of linear warm-up first")


Schedule = Annotated[StepSchedule | PlateauSchedule | CosineSchedule, Field(discriminator="type")]


class Augment(_Strict):
    """Random changes applied to each training example (none at evaluation)."""

    hflip: bool = Field(False, description="mirror left-right with probability 1/2")
    random_crop: bool = Field(
        False,
        description="take a random input-sized crop: of the zero-padded example "
        "(`crop_padding`), or of an image resized to `resize`",
    )
    crop_padding: int = Field(0, ge=0, description="zero padding around a tensor example")
    resize: int | None = Field(
        None,
        ge=1,
        description="image folders: resize the shorter side to this first (then crop to the "
        "input size: randomly in training with random_crop, centred otherwise)",
    )


class Training(_Strict):
    """How to train the network: optimizer, schedule, batches, epochs, augmentation."""

    optimizer: Literal["sgd", "adam", "adamw"] = Field("sgd", description="the update rule")
    lr: float = Field(0.01, gt=0, description="initial learning rate")
    momentum: float = Field(0.0, ge=0, lt=1, description="SGD momentum")
    nesterov: bool = Field(False, description="Nesterov momentum (SGD)")
    betas: tuple[DecayRate, DecayRate] = Field(
        (0.9, 0.999), description="Adam's moment decay rates, each in [0, 1)"
    )
    weight_decay: float = Field(0.0, ge=0, description="L2 penalty (decoupled for adamw)")
    schedule: Schedule | None = Field(None, description="how the learning rate changes")
    batch_size: int = Field(64, ge=1, description="examples per step (per process under torchrun)")
    epochs: int = Field(10, ge=1, description="passes over the training data")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="cross-entropy smoothing")
    augment: Augment = Field(default_factory=Augment, description="training augmentation")
    normalize: tuple[list[float], list[Annotated[float, Field(gt=0)]]] | None = Field(
        None,
        description="per-channel [mean, std] subtracted and divided before the network "
        "(every std positive)",
    )
    seed: int = Field(0, description="random seed (weights, shuffling, dropout)")
    freeze: list[str] = Field(
        default=[],
        description="module paths whose parameters are not trained (with everything below "
        "them); the same as `trainable: false` on those entries",
    )


def merge_training(base: dict[str, Any] | None, change: dict[str, Any]) -> dict[str, Any]:
    """Lay a variant's (or the command line's) training settings over the base's.

    Nested settings (`augment`, `schedule` of the same type) merge key by key, so a variant
    can change one augmentation flag without restating the rest; a schedule of another type
    replaces the base's.
    """
    result = dict(base or {})
    for key, value in change.items():
        old = result.get(key)
        same_schedule = key != "schedule" or (
            isinstance(old, dict)
            and isinstance(value, dict)
            and value.get("type", old.get("type")) == old.get("type")
        )
        if isinstance(old, dict) and isinstance(value, dict) and same_schedule:
            result[key] = {**old, **value}
        else:
            result[key] = value
    return result


__all__ = [
    "Training",
    "Augment",
    "StepSchedule",
    "PlateauSchedule",
    "CosineSchedule",
    "merge_training",
]
