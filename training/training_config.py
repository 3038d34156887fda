"""TrainingConfig: every knob of a training run, YAML presets (`configs/*.yaml`) and overrides.

Defaults are the official StyleGAN values (NVlabs/stylegan `train.py` and
`training/training_loop.py`): logistic non-saturating G loss, logistic D loss with R1 gamma 10,
Gs half-life 10 kimg, minibatch_repeats 4, optimizer reset at every LOD boundary, 25000 kimg,
image grid every tick, network snapshot every 10 ticks.

`family` names the network family (`tf_stylegan.families`), which sets what the family's
official code does: `stylegan2` trains as NVlabs/stylegan2 `run_training.py` and
`training/training_loop.py` do: no growing (`schedule.STYLEGAN2`), lazy R1 every
`D_reg_interval` (16) minibatches and path-length regularization every `G_reg_interval` (4),
each optimizer's learning rate and betas rescaled by `interval / (interval + 1)`
(`optimizer_ratio`), global minibatch 32 in per-device passes of `minibatch_gpu` (4). The
presets `configs/stylegan2*.yaml` set these; the official values are the field defaults.

A preset is a YAML mapping of `TrainingConfig` fields; `base: other-preset` inherits another
preset (mappings are merged key by key). Command-line overrides are `key=value` strings with
dotted keys for nested mappings (`network.fmap_base=2048`, `schedule.lod_training_kimg=50`);
values are parsed as YAML (`true`, `0.002`, `[10, 10]`).

Example:
    >>> cfg = load_config("demo", overrides=["total_kimg=100"])
    >>> cfg.total_kimg
    100.0
"""

from __future__ import annotations

import copy
import dataclasses
import os
from typing import Any

import yaml

from tf_stylegan.config import BaseNetworkConfig
from tf_stylegan.errors import UserError
from tf_stylegan.families import get_family, list_families

from .adaptive_augment import check_augment_options
from .precision import PRECISIONS
from .schedule import PRESETS, STYLEGAN2, STYLEGAN2_GROWING, ScheduleConfig

__all__ = ["CONFIG_DIR", "TrainingConfig", "apply_overrides", "list_presets", "load_config"]

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")
LOSSES = ("logistic", "wgangp")
MIXED_PRECISION = PRECISIONS  # training/precision.py
WGANGP_MAX_LRATE = 0.002  # official train.py caps the learning rates at this with WGAN-GP
# NetworkConfig fields that come from the dataset, never from a preset.
_DATA_FIELDS = ("resolution", "num_channels", "label_size")
# The schedule tables by name: the official StyleGAN GPU presets and StyleGAN2's single table.
_SCHEDULES = {**PRESETS, "stylegan2": STYLEGAN2, "stylegan2-growing": STYLEGAN2_GROWING}
# The losses objects of the training loops (`training.loop.LOSSES`).
TRAINING_LOSSES = ("stylegan", "stylegan2")


@dataclasses.dataclass
class TrainingConfig:
    """A training run (official defaults).

    Args:
        family: str. The network family (`tf_stylegan.families`): "stylegan" (the StyleGAN
            networks and loop, NVlabs/stylegan) or "stylegan2" (the StyleGAN2 networks and loop,
            NVlabs/stylegan2). Each preset names its family.
        dataset: str. Dataset name: the directory `<data_dir>/<dataset>` of TFRecords.
        data_dir: str. Parent directory of the datasets.
        resolution: int or None. Train at this resolution using the levels <= it of the dataset
            (official ffhq256 / ffhq512); None = the dataset's full resolution.
        mirror: bool. Official mirror augment (per-sample random x-flip of the reals).
        cond: bool. Condition the networks on the dataset's labels (False, as officially:
            `max_label_size=0` ignores a `.labels` file unless asked; the demo preset asks).
        network: dict. NetworkConfig overrides (resolution, channels and labels come from data).
        schedule_preset: str. "auto" (StyleGAN: the official `<N>gpu` table for N replicas: 1,
            2, 4 or 8, the largest one <= N otherwise; StyleGAN2: 'stylegan2') or one of
            '1gpu', '2gpu', '4gpu', '8gpu', 'stylegan2' (no growing), 'stylegan2-growing' (the
            StyleGAN2 paper's configs A-D; training/schedule.py).
        schedule: dict. ScheduleConfig overrides applied on top of the preset.
        total_kimg: float. Length of training in thousands of real images.
        losses: str or None. The training losses and loop phases (`training.loop.LOSSES`):
            "stylegan" (NVlabs/stylegan: D, Gs, G with R1 in every D step) or "stylegan2"
            (NVlabs/stylegan2: G, path length, Gs, D, R1, with lazy regularization and
            gradient accumulation); None: the family's (`NetworkFamily.losses`). The StyleGAN2
            paper's config A trains StyleGAN's networks with "stylegan2".
        lazy_regularization: bool or None. With the "stylegan2" losses: the regularizers run
            as extra steps every `G_reg_interval` / `D_reg_interval` minibatches and both Adams
            are rescaled (configs C-F); False: R1 is part of every D step and nothing is
            rescaled (configs A, B; path length needs lazy regularization). None: the family's
            (`NetworkFamily.lazy_regularization`).
        loss: "logistic" (G non-saturating + D logistic with R1) or "wgangp" (WGAN-GP, the
            paper's CelebA-HQ setup).
        r1_gamma: float. R1 weight (10; StyleGAN2 config E and LSUN church/horse: 100).
        wgan_lambda, wgan_epsilon, wgan_target: WGAN-GP weights (10, 0.001, 1).
        G_smoothing_kimg: float. Half-life of the Gs moving average in kimg (10).
        G_smoothing_rampup: float or None. StyleGAN2-ADA's EMA ramp-up: the half-life is
            `min(G_smoothing_kimg * 1000, images shown * rampup)` images (official
            `ema_rampup`, 0.05 in the ADA `auto` and `cifar` presets; None: a constant
            half-life, as in StyleGAN and StyleGAN2).
        minibatch_repeats: int. Steps between schedule evaluations (4).
        reset_opt_for_new_lod: bool. Reset Adam when floor(lod) or ceil(lod) changes (True).
        adam_beta1, adam_beta2, adam_epsilon: Adam hyper-parameters (0, 0.99, 1e-8), before
            the lazy-regularization rescaling (StyleGAN2).
        G_reg_interval: int. StyleGAN2: path-length regularization every this many minibatches
            (4), starting with the first.
        D_reg_interval: int. StyleGAN2: R1 every this many minibatches (16), starting with the
            first.
        pl_weight: float. StyleGAN2 path-length weight (2; 0 turns the regularizer off).
        pl_decay: float. Decay of the running mean of the path lengths (0.01).
        pl_batch_shrink: int. The path-length pass uses minibatch_gpu / this many samples (2).
        minibatch_gpu: int or None. StyleGAN2: samples per device per pass (4); each replica's
            share of the global minibatch is run in passes of this size whose gradients are
            summed (official gradient accumulation). None: one pass (StyleGAN).
        minibatch_gpu_dict: {resolution: samples per pass} overriding `minibatch_gpu` at those
            levels (official `minibatch_gpu_dict`; configs A-D: {8: 32, 16: 16, 32: 8, 64: 4}).
        aug: str. Discriminator augmentation (StyleGAN2-ADA, `training/adaptive_augment.py`):
            "noaug" (off: StyleGAN and StyleGAN2 have none), "ada" (p follows the overfitting
            heuristic) or "fixed" (p stays `augment_p`).
        augpipe: str. Which augmentations (`tf_stylegan.augment.AUGMENT_PRESETS`; "bgc").
        augment_p: float in [0, 1]. The initial (ada) or constant (fixed) probability (0).
        ada_target: float in [0, 1]. Target of the heuristic r_t (0.6).
        ada_interval: int. Steps between two adjustments of p (4).
        ada_kimg: float. kimg of reals in which p can move by 1 (500; 100 when transfer
            learning, as the official `--resume` sets it).
        D_freeze_layers: int. Freeze-D (Mo et al. 2020): the first N layers of D, counted from
            the input as stylegan2-ada-pytorch numbers them, are not trained (`--freezed`; 0;
            StyleGAN2 only, `training/transfer_learning.py`).
        image_snapshot_ticks: int. Write fakesKKKKKK.png every N ticks (1).
        network_snapshot_ticks: int. Write network-snapshot-KKKKKK.zip every N ticks (10).
        checkpoint_ticks: int. Write a resumable checkpoint every N ticks (1).
        checkpoint_minutes: float. Also write one every this many minutes of training, in the
            middle of a tick if need be, so that a kill or power loss at any moment loses at
            most that much work (20; 0: at ticks only). A tick at the official settings lasts
            hours; a checkpoint of the demo takes well under a second (docs/training.md).
        max_nonfinite_steps: int. Stop after more than this many consecutive skipped steps.
        grid_size: [columns, rows] of the image grids, or None for the official '4k' layout.
        seed: int. Run seed: network init, latents, noise and data order derive from it.
        mixed_precision: False, True, "onednn_bfloat16", "bfloat16" or "float16"
            (`training/precision.py`). True picks mixed_float16 with dynamic loss scaling on
            machines with GPUs and "onednn_bfloat16" without: float32 networks whose training
            step TensorFlow rewrites to run convolutions in oneDNN's bfloat16 kernels. That is
            1.3-1.7x faster than float32 at official widths on CPUs with native bfloat16 (x86
            flags avx512_bf16 or amx_bf16, AMX gaining more); elsewhere bfloat16 is emulated and
            gains little or loses. It does not combine with `xla` (XLA-compiled functions are
            not rewritten). "bfloat16" and "float16" force Keras' mixed_bfloat16 /
            mixed_float16 policy on any device (float16 always with loss scaling;
            mixed_bfloat16 is about 10x slower than float32 on CPUs).
        xla: bool. Compile the per-replica forward/backward passes with XLA.
        gpus: int or None. Replicas to use (None: every GPU found, else the CPU).
        metrics: list of metric names (metrics/registry.py: fid50k, ppl_wend, ...) evaluated on
            Gs at every network snapshot, appended to `metric-<name>.jsonl` (official: fid50k;
            empty by default here because the metrics need user-supplied network files).
        metric_options: dict of `metrics.registry.MetricOptions` fields (e.g. inception path,
            num_samples).
        outdir: str. Parent directory of the run directories.
        config_name: str. Name of the preset the config came from (for `--resume auto`).
    """

    family: str = "stylegan"
    dataset: str = ""
    data_dir: str = "datasets"
    resolution: int | None = None
    mirror: bool = False
    cond: bool = False
    network: dict = dataclasses.field(default_factory=dict)
    schedule_preset: str = "auto"
    schedule: dict = dataclasses.field(default_factory=dict)
    total_kimg: float = 25000.0
    losses: str | None = None
    lazy_regularization: bool | None = None
    loss: str = "logistic"
    r1_gamma: float = 10.0
    wgan_lambda: float = 10.0
    wgan_epsilon: float = 0.001
    wgan_target: float = 1.0
    G_smoothing_kimg: float = 10.0
    G_smoothing_rampup: float | None = None
    minibatch_repeats: int = 4
    reset_opt_for_new_lod: bool = True
    adam_beta1: float = 0.0
    adam_beta2: float = 0.99
    adam_epsilon: float = 1e-8
    G_reg_interval: int = 4
    D_reg_interval: int = 16
    pl_weight: float = 2.0
    pl_decay: float = 0.01
    pl_batch_shrink: int = 2
    minibatch_gpu: int | None = None
    minibatch_gpu_dict: dict = dataclasses.field(default_factory=dict)
    aug: str = "noaug"
    augpipe: str = "bgc"
    augment_p: float = 0.0
    ada_target: float = 0.6
    ada_interval: int = 4
    ada_kimg: float = 500.0
    D_freeze_layers: int = 0
    image_snapshot_ticks: int = 1
    network_snapshot_ticks: int = 10
    checkpoint_ticks: int = 1
    checkpoint_minutes: float = 20.0
    max_nonfinite_steps: int = 20
    grid_size: list | None = None
    seed: int = 1000
    mixed_precision: bool | str = False
    xla: bool = False
    gpus: int | None = None
    metrics: list = dataclasses.field(default_factory=list)
    metric_options: dict = dataclasses.field(default_factory=dict)
    outdir: str = "results"
    config_name: str = "custom"

    def __post_init__(self):
        self.total_kimg = float(self.total_kimg)
        if self.family not in list_families():
            raise UserError(f"`family` must be one of {list_families()}. "
                            f"Received: family={self.family!r}")
        if not isinstance(self.cond, bool):
            raise UserError(f"`cond` must be true or false. Received: cond={self.cond!r}")
        if self.loss not in LOSSES:
            raise UserError(f"`loss` must be one of {LOSSES}. Received: loss={self.loss!r}")
        for name in ("minibatch_repeats", "image_snapshot_ticks", "network_snapshot_ticks",
                     "checkpoint_ticks", "max_nonfinite_steps", "G_reg_interval",
                     "D_reg_interval", "pl_batch_shrink"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UserError(f"`{name}` must be an int >= 1. Received: {name}={value!r}")
        if (not isinstance(self.checkpoint_minutes, (int, float))
                or isinstance(self.checkpoint_minutes, bool) or self.checkpoint_minutes < 0):
            raise UserError(f"`checkpoint_minutes` must be a number >= 0 (0: at ticks only). "
                            f"Received: checkpoint_minutes={self.checkpoint_minutes!r}")
        self.checkpoint_minutes = float(self.checkpoint_minutes)
        if self.total_kimg <= 0:
            raise UserError(f"`total_kimg` must be > 0. Received: total_kimg={self.total_kimg}")
        if not isinstance(self.network, dict) or not isinstance(self.schedule, dict):
            raise UserError("`network` and `schedule` must be mappings. Received: "
                             f"network={self.network!r}, schedule={self.schedule!r}")
        bad = sorted(set(self.network) & set(_DATA_FIELDS))
        if bad:
            raise UserError(f"`network` must not set {bad}: they come from the dataset (use the "
                             f"top-level `resolution` key). Received: network={self.network}")
        net_class = self.network_family.config_class
        unknown = sorted(set(self.network) - {f.name for f in dataclasses.fields(net_class)})
        if unknown:
            raise UserError(f"Unknown {net_class.__name__} keys in `network` (family "
                            f"{self.family!r}). Received: {unknown}")
        unknown = sorted(set(self.schedule) - {f.name for f in dataclasses.fields(ScheduleConfig)})
        if unknown:
            raise UserError(f"Unknown ScheduleConfig keys in `schedule`. Received: {unknown}")
        if self.schedule_preset != "auto" and self.schedule_preset not in _SCHEDULES:
            raise UserError(f"`schedule_preset` must be 'auto' or one of {sorted(_SCHEDULES)}. "
                             f"Received: schedule_preset={self.schedule_preset!r}")
        self._check_family_options()
        check_augment_options(self)
        rampup = self.G_smoothing_rampup
        if rampup is not None and (isinstance(rampup, bool) or not isinstance(rampup, (int, float))
                                   or not rampup > 0):
            raise UserError(f"`G_smoothing_rampup` must be a number > 0 or null. "
                            f"Received: G_smoothing_rampup={rampup!r}")
        if self.grid_size is not None:
            gs = list(self.grid_size)
            if len(gs) != 2 or not all(isinstance(v, int) and v >= 1 for v in gs):
                raise UserError(f"`grid_size` must be [columns, rows] of positive ints. "
                                 f"Received: grid_size={self.grid_size!r}")
            self.grid_size = gs
        if isinstance(self.metrics, str):
            self.metrics = [m for m in self.metrics.split(",") if m]
        if not isinstance(self.metrics, list) or not isinstance(self.metric_options, dict):
            raise UserError("`metrics` must be a list of names and `metric_options` a mapping. "
                             f"Received: metrics={self.metrics!r}, "
                             f"metric_options={self.metric_options!r}")
        if self.mixed_precision not in MIXED_PRECISION:
            raise UserError(f"`mixed_precision` must be one of {MIXED_PRECISION}. Received: "
                             f"mixed_precision={self.mixed_precision!r}")
        if self.gpus is not None and (not isinstance(self.gpus, int) or self.gpus < 1):
            raise UserError(f"`gpus` must be an int >= 1 or None. Received: gpus={self.gpus!r}")

    def _check_family_options(self):
        """The options whose validity depends on what the family's training supports."""
        family = self.network_family
        if self.losses is not None and self.losses not in TRAINING_LOSSES:
            raise UserError(f"`losses` must be null or one of {TRAINING_LOSSES}. "
                            f"Received: losses={self.losses!r}")
        if self.lazy_regularization not in (None, True, False):
            raise UserError(f"`lazy_regularization` must be true, false or null. "
                            f"Received: lazy_regularization={self.lazy_regularization!r}")
        stylegan2_losses = self.training_losses == "stylegan2"
        if self.lazy_regularization and not stylegan2_losses:
            raise UserError("`lazy_regularization` needs the 'stylegan2' training losses. "
                            f"Received: losses={self.training_losses!r}")
        mb = self.minibatch_gpu
        accumulates = (family.gradient_accumulation if self.losses is None
                       else stylegan2_losses)
        if (mb is not None or self.minibatch_gpu_dict) and not accumulates:
            raise UserError("`minibatch_gpu` (gradient accumulation) is not an option of the "
                            f"{self.family!r} family's training with the "
                            f"{self.training_losses!r} losses. "
                            f"Received: minibatch_gpu={mb!r}, "
                            f"minibatch_gpu_dict={self.minibatch_gpu_dict!r}")
        gpu_dict = self.minibatch_gpu_dict
        if not isinstance(gpu_dict, dict) or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 1
                for v in gpu_dict.values()):
            raise UserError(f"`minibatch_gpu_dict` must map resolutions to ints >= 1. "
                            f"Received: minibatch_gpu_dict={gpu_dict!r}")
        self.minibatch_gpu_dict = {int(k): v for k, v in gpu_dict.items()}
        if self.loss not in family.loss_types:
            raise UserError(f"the {self.family!r} family trains with the losses "
                            f"{list(family.loss_types)} only. Received: loss={self.loss!r}")
        freeze = self.D_freeze_layers
        if not isinstance(freeze, int) or isinstance(freeze, bool) or freeze < 0:
            raise UserError(f"`D_freeze_layers` must be an int >= 0. "
                            f"Received: D_freeze_layers={freeze!r}")
        if mb is not None and (not isinstance(mb, int) or isinstance(mb, bool) or mb < 1):
            raise UserError(f"`minibatch_gpu` must be an int >= 1 or null. "
                            f"Received: minibatch_gpu={mb!r}")
        if not stylegan2_losses:
            return
        if self.loss != "logistic":
            raise UserError(f"the 'stylegan2' training losses are logistic only. "
                            f"Received: loss={self.loss!r}")
        if self.pl_weight and not self.lazy:
            raise UserError(f"path length regularization (pl_weight {self.pl_weight!r}) runs "
                            f"as lazy regularization only: set `lazy_regularization: true` "
                            f"or `pl_weight: 0`.")
        for size in {mb, *self.minibatch_gpu_dict.values()} - {None}:
            if self.pl_weight and size % self.pl_batch_shrink:
                raise UserError(f"`minibatch_gpu` ({size}) must be a multiple of "
                                f"`pl_batch_shrink` ({self.pl_batch_shrink}): each pass "
                                f"regularizes minibatch_gpu / pl_batch_shrink samples.")
        for name in ("pl_weight", "pl_decay", "r1_gamma"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise UserError(f"`{name}` must be a number >= 0. Received: {name}={value!r}")
        if self.pl_decay > 1:
            raise UserError(f"`pl_decay` must be in [0, 1]. Received: pl_decay={self.pl_decay}")

    # --- Derived -----------------------------------------------------------------------------
    @property
    def network_family(self):
        """The `tf_stylegan.families.NetworkFamily` of `family`."""
        return get_family(self.family)

    @property
    def training_losses(self) -> str:
        """The name of the training losses (`losses`, or the family's)."""
        return self.losses or self.network_family.losses

    @property
    def lazy(self) -> bool:
        """Whether the regularizers run lazily (`lazy_regularization`, or the family's; never
        with the "stylegan" losses)."""
        if self.training_losses != "stylegan2":
            return False
        if self.lazy_regularization is None:
            return bool(self.network_family.lazy_regularization)
        return bool(self.lazy_regularization)

    def minibatch_gpu_at(self, resolution: int) -> int | None:
        """Samples per device per pass at the level `resolution` (None: one pass)."""
        return self.minibatch_gpu_dict.get(int(resolution), self.minibatch_gpu)

    @property
    def dataset_dir(self) -> str:
        return os.path.join(self.data_dir, self.dataset)

    def network_config(self, resolution: int, num_channels: int,
                       label_size: int) -> BaseNetworkConfig:
        """The network config of this family for a dataset of that shape, with this config's
        overrides.

        `label_size` is the dataset's; it reaches the networks only when `cond` is set.
        """
        return self.network_family.config_class(
            resolution=int(resolution), num_channels=int(num_channels),
            label_size=int(label_size) if self.cond else 0, **self.network)

    def reg_interval(self, network: str) -> int | None:
        """Minibatches between two lazy regularization steps of `network` ("G": path length,
        "D": R1), or None when that network has none (without lazy regularization R1 is part
        of every D step; a zero weight turns a regularizer off)."""
        if not self.lazy:
            return None
        if network == "G":
            return self.G_reg_interval if self.pl_weight else None
        return self.D_reg_interval if self.r1_gamma else None

    def optimizer_ratio(self, network: str) -> float:
        """`k / (k + 1)` for a network regularized every k minibatches, else 1: its Adam's
        learning rate is multiplied by it and both betas raised to its power, so that the k
        main steps and the extra regularization step together move as k plain steps would
        (NVlabs/stylegan2 training_loop.py, `mb_ratio`). With lazy regularization both
        optimizers are rescaled whatever the weights, as the official loops do (`mb_ratio`
        depends on `lazy_regularization` and the interval only: config C rescales G's Adam
        though it has no path-length term; stylegan2-ada-pytorch likewise with pl_weight 0)."""
        if not self.lazy:
            return 1.0
        k = self.G_reg_interval if network == "G" else self.D_reg_interval
        return k / (k + 1.0)

    def schedule_config(self, num_replicas: int) -> ScheduleConfig:
        """The official schedule table for `num_replicas`, with `schedule` overrides applied.

        The global minibatch and learning rates come from the table whatever the replica count;
        `num_gpus` is set to the replica count so the minibatch splits evenly (official rule).
        With `loss: wgangp` the table's learning rates are capped at 0.002, as officially.
        A family with a single table (StyleGAN2: `schedule.STYLEGAN2`) uses it for every replica
        count.
        """
        name = self.schedule_preset
        if name == "auto":
            n = max(k for k in (1, 2, 4, 8) if k <= max(1, num_replicas))
            name = self.network_family.schedule or f"{n}gpu"
        base = _SCHEDULES[name].to_dict()
        if self.loss == "wgangp":
            # Official train.py, WGAN-GP option: the table's learning rates are capped at 0.002
            # (`min(v, 0.002)`), D's equal to G's. Explicit `schedule` overrides still win.
            for key in ("G_lrate_dict", "D_lrate_dict"):
                base[key] = {r: min(v, WGANGP_MAX_LRATE) for r, v in base[key].items()}
            for key in ("G_lrate_base", "D_lrate_base"):
                base[key] = min(base[key], WGANGP_MAX_LRATE)
        base.update(copy.deepcopy(self.schedule))
        base["num_gpus"] = int(num_replicas)
        return ScheduleConfig.from_dict(base)

    def to_dict(self) -> dict:
        return copy.deepcopy(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, d: dict) -> TrainingConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise UserError(f"Unknown training config keys. Received: {unknown}")
        return cls(**copy.deepcopy(d))


def list_presets(config_dir: str = CONFIG_DIR) -> list[str]:
    """Names of the YAML presets in `config_dir`."""
    if not os.path.isdir(config_dir):
        return []
    return sorted(f[:-5] for f in os.listdir(config_dir) if f.endswith(".yaml"))


def _merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _read_preset(name_or_path: str, config_dir: str, seen: tuple = ()) -> dict:
    path = name_or_path
    if not (os.path.isfile(path) and path.endswith((".yaml", ".yml"))):
        path = os.path.join(config_dir, f"{name_or_path}.yaml")
    if not os.path.isfile(path):
        raise UserError(f"config preset not found: {path} (presets: "
                                f"{', '.join(list_presets(config_dir))}). "
                                f"Received: config={name_or_path!r}")
    if path in seen:
        raise UserError(f"{path}: `base` presets form a cycle: {list(seen)}")
    with open(path) as f:
        try:
            data = yaml.safe_load(f) or {}
        except yaml.YAMLError as e:
            raise UserError(f"{path}: invalid YAML ({e})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: a preset must be a YAML mapping. "
                         f"Received: {type(data).__name__}")
    base = data.pop("base", None)
    if base is not None:
        data = _merge(_read_preset(base, config_dir, seen + (path,)), data)
    return data


def apply_overrides(d: dict, overrides) -> dict:
    """Applies `key=value` strings (dotted keys, YAML values) to the plain dict `d`."""
    out = copy.deepcopy(d)
    for item in overrides or ():
        if "=" not in item:
            raise UserError(f"overrides must look like key=value. Received: {item!r}")
        key, text = item.split("=", 1)
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise UserError(f"cannot parse the value of override {item!r} ({e})") from None
        parts = key.strip().split(".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise UserError(f"override {item!r}: {part!r} is not a mapping")
        node[parts[-1]] = value
    return out


def load_config(preset: str | None = None, overrides=(), config_dir: str = CONFIG_DIR,
                **fields: Any) -> TrainingConfig:
    """Resolves a TrainingConfig: official defaults <- preset YAML <- `fields` <- overrides.

    Args:
        preset: preset name (a file in `config_dir`) or path to a YAML file; None = defaults.
        overrides: iterable of "key=value" strings (dotted keys for nested mappings).
        **fields: explicit values (e.g. from CLI options); None values are ignored.
    """
    d = {}
    if preset:
        d = _read_preset(preset, config_dir)
        d.setdefault("config_name", os.path.splitext(os.path.basename(preset))[0])
    d = _merge(d, {k: v for k, v in fields.items() if v is not None})
    d = apply_overrides(d, overrides)
    return TrainingConfig.from_dict(d)
