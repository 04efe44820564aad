"""Per-layer learning rates ("+ft") and the plateau schedule of Masi et al. (ECCV 2020, Sec. 3.1, 4).

Paper: "given the global learning rate mu, we define a decay for the DenseBlocks so that downstream
layers incorporate gradients quickly while upstream layers change less drastically ... mu_L = mu / 2^L
for the entire network with the exception of the DenseBlock of the Deep LoG and the layer in charge of
fusing the two-branches", which use mu. Our reading (the paper's Fig. 2 bars are not recoverable as
numbers), see :func:`paper_lr_rules`: L counts dense blocks from the head; the BiLSTM / heads have
L = 0, dense block 4 (+ final BN) L = 1, block 3 + transition 3 L = 2, block 2 + transition 2 L = 3,
the RGB stem + block 1 + transition 1 L = 4; the LoG branch and the fusion layer use mu (L = 0).

Mechanism: :class:`LayerwiseAdam` / :class:`LayerwiseSGD` scale the **learning rate** of each
variable (not its gradient: Adam is invariant to gradient scale) by the multiplier of the first rule
whose regular expression matches the variable path (``"conv3_block1_1_conv/kernel"``); unmatched
variables use 1. ``l2`` adds ``l2 * w`` to each gradient (PyTorch ``Adam(weight_decay=...)``
semantics, which the same group's code uses; the paper only says "weight decay of 1e-06").
The rules are part of the optimizer config, so a saved model keeps them.

Schedule (Sec. 4: "The learning rate is decreased three times by a factor of 10. We decrease it every
time the validation loss does not decrease after 50 stratified epochs"): Adam 1e-3, divided by 10 on
a validation-loss plateau of ``patience`` epochs, at most three times
(:class:`LimitedReduceLROnPlateau`). The paper gives no epoch count; with ``stop_after_last=True``
the run ends once the plateau after the third reduction has lasted ``patience`` epochs too (the
schedule's end), instead of training on at the last rate.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import keras
from keras import ops

PACKAGE = "deepfake_repro"


def paper_lr_rules(base: float = 2.0) -> list[list]:
    """The "+ft" rules: ``[[regex, multiplier], ...]`` with multiplier ``1 / base**L``.

    Args:
        base: the per-block decay base (2 in the paper).

    Returns:
        Rules for :class:`LayerwiseAdam`, first match wins.
    """
    return [
        [r"(^|/)(log_|deep_log|fusion_)", 1.0],
        [r"(^|/)(bilstm|p_fake|embedding)", 1.0],
        [r"(^|/)(conv5_|bn/)", 1.0 / base],
        [r"(^|/)(conv4_|pool4_)", 1.0 / base**2],
        [r"(^|/)(conv3_|pool3_)", 1.0 / base**3],
        [r"(^|/)(conv1_|conv2_|pool2_)", 1.0 / base**4],
    ]


def _normalise_rules(rules: Sequence[Sequence] | None) -> list[list]:
    out = []
    for rule in rules or []:
        pattern, mult = rule
        re.compile(pattern)
        if float(mult) < 0:
            raise ValueError(f"negative learning-rate multiplier {mult} for {pattern!r}")
        out.append([str(pattern), float(mult)])
    return out


class _LayerwiseMixin:
    """Per-variable learning-rate multipliers and coupled L2 for a Keras 3 optimizer."""

    def _init_layerwise(self, lr_rules, l2) -> None:
        self.lr_rules = _normalise_rules(lr_rules)
        self.l2 = float(l2)
        self._compiled_rules = [(re.compile(p), m) for p, m in self.lr_rules]

    def multiplier_for(self, path: str) -> float:
        """Learning-rate multiplier of the variable with this path."""
        for pattern, mult in self._compiled_rules:
            if pattern.search(path):
                return mult
        return 1.0

    def _scaled(self, gradient, variable, learning_rate):
        mult = self.multiplier_for(getattr(variable, "path", getattr(variable, "name", "")))
        if self.l2:
            gradient = gradient + ops.cast(self.l2, gradient.dtype) * ops.cast(variable, gradient.dtype)
        return gradient, learning_rate * mult

    def _layerwise_config(self, config: dict) -> dict:
        config.update({"lr_rules": [list(r) for r in self.lr_rules], "l2": self.l2})
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class LayerwiseAdam(_LayerwiseMixin, keras.optimizers.Adam):
    """Adam with per-variable learning-rate multipliers and coupled L2 decay.

    Args:
        learning_rate: global rate mu. Defaults to 1e-3 (paper).
        lr_rules: ``[[regex, multiplier], ...]`` (first match wins, default multiplier 1);
            :func:`paper_lr_rules` gives the paper's "+ft". Defaults to none (plain Adam).
        l2: coefficient of ``l2 * w`` added to every gradient. Defaults to 1e-6 (paper).
        **kwargs: any ``keras.optimizers.Adam`` argument.

    References:
        Masi et al., ECCV 2020, Sec. 3.1 ("Optimization") and Sec. 4.
    """

    def __init__(self, learning_rate=1e-3, lr_rules=None, l2: float = 1e-6, **kwargs) -> None:
        super().__init__(learning_rate=learning_rate, **kwargs)
        self._init_layerwise(lr_rules, l2)

    def update_step(self, gradient, variable, learning_rate):
        gradient, learning_rate = self._scaled(gradient, variable, learning_rate)
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self) -> dict:
        return self._layerwise_config(super().get_config())


@keras.saving.register_keras_serializable(package=PACKAGE)
class LayerwiseSGD(_LayerwiseMixin, keras.optimizers.SGD):
    """SGD with per-variable learning-rate multipliers and coupled L2 (see :class:`LayerwiseAdam`).

    Args:
        learning_rate: global rate.
        lr_rules: ``[[regex, multiplier], ...]``.
        l2: coupled L2 coefficient. Defaults to 0.
        **kwargs: any ``keras.optimizers.SGD`` argument.
    """

    def __init__(self, learning_rate=0.01, lr_rules=None, l2: float = 0.0, **kwargs) -> None:
        super().__init__(learning_rate=learning_rate, **kwargs)
        self._init_layerwise(lr_rules, l2)

    def update_step(self, gradient, variable, learning_rate):
        gradient, learning_rate = self._scaled(gradient, variable, learning_rate)
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self) -> dict:
        return self._layerwise_config(super().get_config())


class LimitedReduceLROnPlateau(keras.callbacks.ReduceLROnPlateau):
    """``ReduceLROnPlateau`` that stops reducing after ``max_reductions`` reductions.

    On a resumed run the reductions already made are recovered from the optimizer's current rate
    (``round(log(lr / initial_lr) / log(factor))``); the plateau wait counter restarts at 0.

    With ``stop_after_last`` the monitored value keeps being watched after the last reduction
    (same ``patience``, ``min_delta`` and ``cooldown``); when it has not improved for
    ``patience`` more epochs, ``model.stop_training`` is set, so ``fit`` ends after that epoch
    and :attr:`stopped_epoch` records it. A run therefore ends ``patience`` epochs without
    improvement after the third reduction (the paper's schedule, Sec. 4), or at ``epochs``.

    Args:
        max_reductions: how many times the rate may drop (3 in the paper).
        initial_lr: the run's starting rate (None: the rate found when training begins).
        stop_after_last: end the run when the last reduction's patience is used up.
        **kwargs: ``keras.callbacks.ReduceLROnPlateau`` arguments (factor 0.1, patience, monitor...).
    """

    def __init__(self, max_reductions: int = 3, initial_lr: float | None = None,
                 stop_after_last: bool = False, **kwargs) -> None:
        kwargs.setdefault("factor", 0.1)
        super().__init__(**kwargs)
        self.max_reductions = int(max_reductions)
        self.initial_lr = initial_lr
        self.stop_after_last = bool(stop_after_last)
        self.reductions = 0
        self.stopped_epoch: int | None = None

    def _lr(self) -> float:
        return float(ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        lr = self._lr()
        if self.initial_lr is None:
            self.initial_lr = lr
        self.reductions = max(0, round(math.log(lr / self.initial_lr) / math.log(self.factor)))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.reductions >= self.max_reductions:
            if self.stop_after_last:
                self._watch_last_plateau(epoch, logs or {})
            return
        before = self._lr()
        super().on_epoch_end(epoch, logs)
        if self._lr() < before:
            self.reductions += 1

    def _watch_last_plateau(self, epoch: int, logs: dict) -> None:
        """The parent's plateau bookkeeping without the reduction: stop when patience runs out."""
        if self.monitor_op is None:
            self._set_monitor_op()
        current = logs.get(self.monitor)
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                self.model.stop_training = True
                self.stopped_epoch = epoch
