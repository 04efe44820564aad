"""From a protocol cell to the values the training code takes (one reading of each setting).

Every table script takes every setting of a cell from :func:`experiments.protocol.cells`
(:func:`resolved_cells` adds only what the command line changes: ``--epochs``, ``--seed``).
The functions here read the settings whose protocol value is a description (loss, optimiser,
augmentation, checkpoint selection, schedule) from a closed vocabulary and fail in one line on
anything else, so a protocol change the code does not follow cannot pass silently.

:class:`SmokeCaps` is the documented way to run the *full* protocol's cells for a few steps
(``--max-steps``, ``--max-batch``): the settings stay the protocol's, the caps are applied when
a training starts, recorded in the run record and named in the title ("smoke run").
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from experiments import protocol as P
from experiments.cells import ExperimentError

#: Prefixes of ``checkpoint_selection`` -> the logged value that selects ``best.keras``.
MONITORS = {"best val accuracy": "val_accuracy", "lowest val loss": "val_loss"}


def resolved_cells(table: str, profile: str, *, epochs: int | None = None,
                   seed: int | None = None) -> list[dict[str, Any]]:
    """The cells of ``table`` in ``profile`` with the command line's changes applied.

    Args:
        table: a table script name.
        profile: ``"quick"`` or ``"full"``.
        epochs: ``--epochs``: replaces every epoch count of a cell (training, source, merge).
        seed: ``--seed`` (None: the protocol's).

    Returns:
        One flat dict per cell, as :func:`experiments.protocol.cells` plus those changes.
    """
    out = []
    for cell in P.cells(table, profile):
        cell = copy.deepcopy(cell)
        if epochs is not None:
            for key in ("epochs", "source_epochs", "merge_epochs"):
                if key in cell:
                    cell[key] = epochs
        if seed is not None:
            cell["seed"] = seed
        out.append(cell)
    return out


def _where(cell: Mapping[str, Any], key: str) -> str:
    return f"{cell.get('table')}/{cell.get('cell')}: {key} {cell.get(key)!r}"


def monitor_of(cell: Mapping[str, Any]) -> str:
    """The value that selects the checkpoint (``val_accuracy`` or ``val_loss``)."""
    text = str(cell["checkpoint_selection"])
    for prefix, monitor in MONITORS.items():
        if text.startswith(prefix):
            return monitor
    raise ExperimentError(f"{_where(cell, 'checkpoint_selection')}: not a selection the "
                          f"harness implements ({', '.join(MONITORS)})")


def augment_of(cell: Mapping[str, Any]) -> bool:
    """Whether training data are augmented (CLRNet's clip augmentation) or not."""
    if cell["augmentation"] == "none":
        return False
    if cell["augmentation"] == P.CLRNET_AUGMENT:
        return True
    raise ExperimentError(f"{_where(cell, 'augmentation')}: unknown augmentation")


def bn_recalibration_of(cell: Mapping[str, Any]) -> int | None:
    """Training batches to recalibrate BatchNorm statistics on (None: no recalibration)."""
    value = cell.get("bn_recalibration")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ExperimentError(f"{_where(cell, 'bn_recalibration')}: expected None or a number "
                              "of batches >= 1")
    return value


def model_overrides_of(cell: Mapping[str, Any]) -> dict[str, Any]:
    """The builder keyword arguments of the cell's model (``model_config``).

    Masi et al.'s ``recurrent`` flag is the model name (``two_branch`` vs
    ``two_branch_frame``), not a builder argument, and is checked against it instead.
    """
    over = copy.deepcopy(dict(cell.get("model_config") or {}))
    recurrent = over.pop("recurrent", None)
    if recurrent is not None and recurrent != (cell["model"] == "two_branch"):
        raise ExperimentError(f"{_where(cell, 'model_config')}: recurrent={recurrent} does not "
                              f"match model {cell['model']}")
    return over


def init_weights_of(cell: Mapping[str, Any]) -> str:
    """``"none"``, ``"imagenet"``, a local file, or ``"source:<domain>"``."""
    value = str(cell["init_weights"])
    if value in ("none", "imagenet") or value.startswith("source:") or value.endswith(".h5"):
        return value
    raise ExperimentError(f"{_where(cell, 'init_weights')}: unknown initialisation")


def masi_loss_of(cell: Mapping[str, Any]) -> str:
    """``"isolation"`` or ``"bce"`` for a Masi et al. cell."""
    text = str(cell["loss"])
    if text.startswith("isolation"):
        return "isolation"
    if text.startswith("binary_crossentropy"):
        return "bce"
    raise ExperimentError(f"{_where(cell, 'loss')}: unknown loss")


def masi_ft_of(cell: Mapping[str, Any]) -> bool:
    """Whether a Masi et al. cell uses the per-DenseBlock learning rates ("+ft")."""
    if cell["optimizer"] == P._FT:
        return True
    if cell["optimizer"] == P._NO_FT:
        return False
    raise ExperimentError(f"{_where(cell, 'optimizer')}: unknown optimiser")


def masi_schedule_of(cell: Mapping[str, Any]) -> dict[str, Any]:
    """The plateau schedule of a Masi et al. cell: ``{monitor, factor, patience,
    max_reductions}`` from ``lr_schedule`` and the early stop after it (``stop_after``:
    epochs without improvement after the last reduction, None = never)."""
    sched = cell["lr_schedule"]
    if not isinstance(sched, Mapping) or sched.get("rule") != "plateau" or \
            not math.isclose(float(sched.get("factor", 0)), 0.1):
        raise ExperimentError(f"{_where(cell, 'lr_schedule')}: only the x0.1 plateau schedule "
                              "is implemented (twobranch.optim.LimitedReduceLROnPlateau)")
    stop = cell["early_stopping"]
    if isinstance(stop, Mapping):
        if stop.get("rule") != "after the last lr reduction":
            raise ExperimentError(f"{_where(cell, 'early_stopping')}: unknown rule")
        stop_after = int(stop["patience"])
    elif str(stop).startswith("none"):
        stop_after = None
    else:
        raise ExperimentError(f"{_where(cell, 'early_stopping')}: unknown rule")
    return {"monitor": sched["monitor"], "patience": int(sched["patience"]),
            "max_reductions": int(sched["max_reductions"]), "stop_after": stop_after}


def clrnet_patience_of(cell: Mapping[str, Any]) -> int | None:
    """Early-stopping patience of a CLRNet-paper cell (the protocol: none)."""
    if str(cell["early_stopping"]).startswith("none"):
        return None
    raise ExperimentError(f"{_where(cell, 'early_stopping')}: unknown rule")


def check_constant_schedule(cell: Mapping[str, Any]) -> None:
    """CLRNet-paper cells train at a constant rate (``clrnet.strategies`` has no schedule)."""
    if cell["lr_schedule"] != "constant":
        raise ExperimentError(f"{_where(cell, 'lr_schedule')}: only a constant rate is "
                              "implemented for the CLRNet-paper strategies")


@dataclass(frozen=True)
class SmokeCaps:
    """Caps of a smoke run of the full protocol (``--max-steps``, ``--max-batch``).

    The cells' settings are the protocol's; only how long each training runs and how large
    its batches are is capped, so that the full-size models at their official input sizes run
    end to end on a CPU. A capped run's numbers measure nothing; its title says "smoke run".

    Args:
        max_steps: at most this many training batches per training (one epoch of at most
            ``max_steps`` steps) and validation batches per validation; None = no cap.
        max_batch: at most this many samples per batch; None = the protocol's batch size.
    """

    max_steps: int | None = None
    max_batch: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_steps", "max_batch"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ExperimentError(f"--{name.replace('_', '-')} must be >= 1, got {value}")

    @property
    def active(self) -> bool:
        """Whether any cap is set."""
        return self.max_steps is not None or self.max_batch is not None

    def batch(self, batch_size: int) -> int:
        """The batch size to use for a protocol batch size."""
        return batch_size if self.max_batch is None else min(batch_size, self.max_batch)

    def epochs(self, epochs: int) -> int:
        """The epochs to train for a protocol epoch count."""
        return epochs if self.max_steps is None else 1

    def steps(self, steps: int | None) -> int | None:
        """Training batches per epoch for a protocol value (None = one pass)."""
        if self.max_steps is None:
            return steps
        return self.max_steps if steps is None else min(steps, self.max_steps)

    def describe(self) -> str:
        """The title's words for the caps ("" when none)."""
        if not self.active:
            return ""
        parts = []
        if self.max_steps is not None:
            parts.append(f"at most {self.max_steps} step(s) per training")
        if self.max_batch is not None:
            parts.append(f"batches of at most {self.max_batch}")
        return "smoke run (" + ", ".join(parts) + "; numbers meaningless)"

    def as_record(self) -> dict[str, Any]:
        """JSON-ready caps for the run record."""
        return asdict(self)
