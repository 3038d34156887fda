"""Progressive-growing schedule of the official StyleGAN loop, as a pure function of images seen.

The official `training_schedule()` (NVlabs/stylegan `training/training_loop.py`) maps the number of
real images shown to D so far to the level of detail (`lod`), the resolution whose data and
minibatch are used, the global minibatch size, the learning rates and the tick length. This module
reproduces it exactly (every row of `tests/fixtures/official/schedule.csv`, which is that
function's own output for the 1/2/4/8-GPU presets of the official `train.py`).

Growth, with the defaults (Karras et al. 2018, sec. 3; StyleGAN keeps the ProGAN schedule):
training starts at `lod_initial_resolution` (8x8); each *phase* is `lod_training_kimg` (600) kimg
at a stable resolution followed by `lod_transition_kimg` (600) kimg in which the next resolution
fades in. `lod` counts the levels below the dataset resolution:

    lod = log2(R) - floor(log2(lod_initial_resolution)) - phase_idx
          - max(phase_kimg - lod_training_kimg, 0) / lod_transition_kimg,   clamped at 0

During a fade-in `lod` is fractional and the *higher* resolution, `2 ** (log2 R - floor(lod))`,
already sets the data, minibatch and learning rates. The official loop resets Adam whenever
`floor(lod)` or `ceil(lod)` changes, i.e. at the start and the end of every fade-in
(`reset_opt_for_new_lod=True`); `Schedule.lod_key` is exactly that pair.

StyleGAN2 does not grow: its schedule (`STYLEGAN2`, the official NVlabs/stylegan2
`training_schedule` with `lod_initial_resolution=None`) keeps lod at 0, the global minibatch at
32 and both learning rates at 0.002 for the whole run, and only the tick length depends on the
resolution.

Example:
    >>> cfg = PRESETS["8gpu"]
    >>> s = training_schedule(900_000, dataset_resolution=1024, cfg=cfg)
    >>> s.resolution, s.minibatch, round(s.alpha, 3), s.lod_key
    (16, 128, 0.5, (6, 7))
"""

from __future__ import annotations

import dataclasses
import math
import operator
import types
from collections.abc import Mapping
from typing import Any, NamedTuple

from tf_stylegan.errors import UserError

__all__ = [
    "PRESETS",
    "STYLEGAN2",
    "STYLEGAN2_GROWING",
    "Schedule",
    "ScheduleConfig",
    "num_levels_below",
    "schedule_table",
    "training_schedule",
]

# Official defaults (training_loop.py `training_schedule` signature and train.py).
_LRATE_DICT = {128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003}
_TICK_KIMG_DICT = {4: 160, 8: 140, 16: 120, 32: 100, 64: 80, 128: 60, 256: 40, 512: 30, 1024: 20}
# NVlabs/stylegan2 training_loop.py `training_schedule(tick_kimg_base=4, tick_kimg_dict=...)`.
_TICK_KIMG_DICT_STYLEGAN2 = {8: 28, 16: 24, 32: 20, 64: 16, 128: 12, 256: 8, 512: 6, 1024: 4}
_DICT_FIELDS = ("minibatch_dict", "max_minibatch_per_gpu", "G_lrate_dict", "D_lrate_dict",
                "tick_kimg_dict")


def _is_pow2(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 1 and (x & (x - 1)) == 0


def _log2(resolution: int, name: str) -> int:
    if not _is_pow2(resolution) or resolution < 4:
        raise UserError(
            f"{name} must be a power of two >= 4 (an int). Received: {name}={resolution!r}"
        )
    return resolution.bit_length() - 1


def num_levels_below(resolution: int, dataset_resolution: int) -> int:
    """Number of 2x levels between `resolution` and the full `dataset_resolution`.

    `num_levels_below(16, 1024) == 6`; 0 at full resolution. This is `floor(lod)` of the phase
    whose data is at `resolution`, and the exponent of the R1 / gradient-penalty rescaling in
    `training/losses.py`.
    """
    r = _log2(resolution, "resolution")
    full = _log2(dataset_resolution, "dataset_resolution")
    if r > full:
        raise UserError(
            "resolution must not exceed dataset_resolution. "
            f"Received: resolution={resolution}, dataset_resolution={dataset_resolution}"
        )
    return full - r


@dataclasses.dataclass(frozen=True)
class ScheduleConfig:
    """Hyper-parameters of the official progressive-growing schedule (official defaults).

    Args:
        lod_initial_resolution: int or None. Resolution training starts at (8); None: no
            progressive growing, lod is 0 throughout (official StyleGAN2).
        lod_training_kimg: float. kimg of each stable phase (600).
        lod_transition_kimg: float. kimg of each fade-in (600).
        minibatch_base: int. Global minibatch for resolutions not in `minibatch_dict`.
        minibatch_dict: {resolution: global minibatch}.
        max_minibatch_per_gpu: {resolution: cap per GPU}; unused by the StyleGAN presets.
        G_lrate_base, D_lrate_base: float. Learning rate below the dict's resolutions (0.001).
        G_lrate_dict, D_lrate_dict: {resolution: learning rate}.
        tick_kimg_base: float. Tick length in kimg for resolutions not in `tick_kimg_dict` (160).
        tick_kimg_dict: {resolution: tick length in kimg}.
        num_gpus: int. The global minibatch is rounded down to a multiple of it (official rule),
            so that it splits evenly over the replicas.

    The mapping fields accept any mapping with int keys; they are stored read-only, and the
    config stays hashable. `to_dict()` / `from_dict()` round-trip through plain dicts (YAML).
    """

    lod_initial_resolution: int | None = 8
    lod_training_kimg: float = 600.0
    lod_transition_kimg: float = 600.0
    minibatch_base: int = 16
    minibatch_dict: Mapping[int, int] = dataclasses.field(default_factory=dict)
    max_minibatch_per_gpu: Mapping[int, int] = dataclasses.field(default_factory=dict)
    G_lrate_base: float = 0.001
    D_lrate_base: float = 0.001
    G_lrate_dict: Mapping[int, float] = dataclasses.field(default_factory=dict)
    D_lrate_dict: Mapping[int, float] = dataclasses.field(default_factory=dict)
    tick_kimg_base: float = 160.0
    tick_kimg_dict: Mapping[int, float] = dataclasses.field(
        default_factory=lambda: dict(_TICK_KIMG_DICT)
    )
    num_gpus: int = 1

    def __post_init__(self):
        if self.lod_initial_resolution is not None:
            _log2(self.lod_initial_resolution, "lod_initial_resolution")
        for name in ("lod_training_kimg", "lod_transition_kimg"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0:
                raise UserError(f"{name} must be a number >= 0. Received: {name}={value!r}")
        for name in ("minibatch_base", "num_gpus"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UserError(f"{name} must be an int >= 1. Received: {name}={value!r}")
        for name in ("G_lrate_base", "D_lrate_base", "tick_kimg_base"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value <= 0:
                raise UserError(f"{name} must be a number > 0. Received: {name}={value!r}")
        for name in _DICT_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, Mapping):
                raise UserError(f"{name} must be a mapping. Received: {name}={value!r}")
            clean = {}
            for res, v in value.items():
                # YAML/JSON may give string keys ("128"): accept them, store ints.
                res_int = int(res) if isinstance(res, str) and res.isdigit() else res
                if not _is_pow2(res_int):
                    raise UserError(
                        f"{name} keys must be power-of-two resolutions. Received: {name}={value!r}"
                    )
                if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
                    raise UserError(
                        f"{name} values must be positive numbers. Received: {name}={value!r}"
                    )
                clean[res_int] = v
            # Frozen means frozen: a read-only view of a private copy.
            object.__setattr__(self, name, types.MappingProxyType(dict(sorted(clean.items()))))

    def __hash__(self):
        return hash(tuple(
            tuple(getattr(self, f.name).items()) if f.name in _DICT_FIELDS
            else getattr(self, f.name)
            for f in dataclasses.fields(self)
        ))

    def to_dict(self) -> dict:
        """Plain-dict form (mappings as dicts), for `training_options.yaml`."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = dict(value) if f.name in _DICT_FIELDS else value
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ScheduleConfig:
        """Inverse of `to_dict`; unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise UserError(f"Unknown ScheduleConfig keys. Received: {unknown}")
        return cls(**d)

    @classmethod
    def from_preset(cls, name: str, **overrides) -> ScheduleConfig:
        """A copy of `PRESETS[name]` ('1gpu', '2gpu', '4gpu', '8gpu') with `overrides` applied."""
        if name not in PRESETS:
            raise UserError(
                f"Unknown schedule preset; expected one of {sorted(PRESETS)}. "
                f"Received: name={name!r}"
            )
        return dataclasses.replace(PRESETS[name], **overrides)


def _official_preset(num_gpus: int, minibatch_base: int, minibatch_dict: dict) -> ScheduleConfig:
    return ScheduleConfig(
        minibatch_base=minibatch_base,
        minibatch_dict=minibatch_dict,
        G_lrate_dict=_LRATE_DICT,
        D_lrate_dict=_LRATE_DICT,
        num_gpus=num_gpus,
    )


# The GPU presets of the official train.py (StyleGAN block). Global minibatch sizes.
PRESETS: Mapping[str, ScheduleConfig] = types.MappingProxyType({
    "1gpu": _official_preset(
        1, 4, {4: 128, 8: 128, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8, 512: 4}),
    "2gpu": _official_preset(2, 8, {4: 256, 8: 256, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8}),
    "4gpu": _official_preset(4, 16, {4: 512, 8: 256, 16: 128, 32: 64, 64: 32, 128: 16}),
    "8gpu": _official_preset(8, 32, {4: 512, 8: 256, 16: 128, 32: 64, 64: 32}),
})


# The schedule of the official StyleGAN2 run_training.py (configs E and F, every GPU count): no
# growing, global minibatch 32 (`minibatch_size_base`), learning rates 0.002 before the
# lazy-regularization rescaling (training/training_config.py), ticks of 4-28 kimg by resolution.
STYLEGAN2 = ScheduleConfig(
    lod_initial_resolution=None,
    minibatch_base=32,
    G_lrate_base=0.002,
    D_lrate_base=0.002,
    tick_kimg_base=4.0,
    tick_kimg_dict=_TICK_KIMG_DICT_STYLEGAN2,
)


# The schedule of the official StyleGAN2 run_training.py for configs A-D (:84-92): progressive
# growing from 8x8 (600 kimg stable + 600 kimg fade-in per level) with the StyleGAN2 loop's
# tick table, learning rates 0.001 below 128 px, global minibatch 256/128/64/32 at 8-64 px and
# 32 above. The per-device passes ({8: 32, 16: 16, 32: 8, 64: 4}, 4 above) are the training
# config's `minibatch_gpu` / `minibatch_gpu_dict`.
STYLEGAN2_GROWING = ScheduleConfig(
    lod_initial_resolution=8,
    minibatch_base=32,
    minibatch_dict={8: 256, 16: 128, 32: 64, 64: 32},
    G_lrate_base=0.001,
    D_lrate_base=0.001,
    G_lrate_dict=_LRATE_DICT,
    D_lrate_dict=_LRATE_DICT,
    tick_kimg_base=4.0,
    tick_kimg_dict=_TICK_KIMG_DICT_STYLEGAN2,
)


class Schedule(NamedTuple):
    """The schedule at one point of training (see `training_schedule`).

    Fields:
        kimg: float. Thousands of real images shown so far.
        lod: float. Levels of detail below full resolution; fractional during a fade-in.
        resolution: int. The resolution whose data, minibatch and learning rates are used
            (during a fade-in, the new, higher one).
        minibatch: int. Global minibatch size (all replicas together).
        G_lrate, D_lrate: float. Learning rates.
        tick_kimg: float. Tick length in kimg.
        level_resolution: int. Same as `resolution` (the level the networks run at).
        alpha: float. Fade-in weight of the newest level: `1 - frac(lod)`; ramps 0 -> 1 during a
            fade-in, 1 when stable. Our networks' `alpha` argument.
        phase: int. Index of the stable/fade segment: 0 = first stable resolution, 1 = first
            fade-in, 2 = next stable one, ...; stops growing once full resolution is stable.
        lod_key: (floor(lod), ceil(lod)). The official loop resets the optimizers exactly when
            this changes (`reset_opt_for_new_lod`).
    """

    kimg: float
    lod: float
    resolution: int
    minibatch: int
    G_lrate: float
    D_lrate: float
    tick_kimg: float
    level_resolution: int
    alpha: float
    phase: int
    lod_key: tuple[int, int]

    @property
    def in_transition(self) -> bool:
        """True during a fade-in (fractional lod)."""
        return self.lod_key[0] != self.lod_key[1]


def training_schedule(cur_nimg: int, dataset_resolution: int, cfg: ScheduleConfig) -> Schedule:
    """The official `training_schedule()` at `cur_nimg` real images shown.

    Args:
        cur_nimg: int >= 0. Real images shown to D so far (the official `cur_nimg`).
        dataset_resolution: int. Full resolution of the dataset (power of two >= 4).
        cfg: ScheduleConfig.

    Returns:
        Schedule. The arithmetic follows the official code step by step (float64, same order of
        operations), so `lod` matches it bit for bit.
    """
    try:
        nimg = operator.index(cur_nimg)  # int or numpy integer; floats are refused.
    except TypeError:
        nimg = -1
    if isinstance(cur_nimg, bool) or nimg < 0:
        raise UserError(f"cur_nimg must be an int >= 0. Received: cur_nimg={cur_nimg!r}")
    cur_nimg = nimg
    resolution_log2 = _log2(dataset_resolution, "dataset_resolution")

    kimg = cur_nimg / 1000.0
    if cfg.lod_initial_resolution is None:  # no growing (official: `lod = 0.0`)
        initial_log2 = resolution_log2
        lod = 0.0
    else:
        initial_log2 = math.floor(math.log2(cfg.lod_initial_resolution))
        phase_dur = cfg.lod_training_kimg + cfg.lod_transition_kimg
        phase_idx = int(math.floor(kimg / phase_dur)) if phase_dur > 0 else 0
        phase_kimg = kimg - phase_idx * phase_dur

        # Level of detail (same operation order as the official code).
        lod = float(resolution_log2)
        lod -= initial_log2
        lod -= phase_idx
        if cfg.lod_transition_kimg > 0:
            lod -= max(phase_kimg - cfg.lod_training_kimg, 0.0) / cfg.lod_transition_kimg
        lod = max(lod, 0.0)
    lod_floor = int(math.floor(lod))
    lod_ceil = int(math.ceil(lod))
    resolution = 2 ** (resolution_log2 - lod_floor)

    # Minibatch: per-resolution table, rounded down to a multiple of num_gpus, optional cap.
    minibatch = int(cfg.minibatch_dict.get(resolution, cfg.minibatch_base))
    minibatch -= minibatch % cfg.num_gpus
    if resolution in cfg.max_minibatch_per_gpu:
        minibatch = min(minibatch, int(cfg.max_minibatch_per_gpu[resolution]) * cfg.num_gpus)
    if minibatch < 1:
        raise UserError(
            f"Minibatch for resolution {resolution} rounds down to 0 with num_gpus={cfg.num_gpus}. "
            f"Received: minibatch_dict={dict(cfg.minibatch_dict)}, "
            f"minibatch_base={cfg.minibatch_base}"
        )

    # Segment index: 0 = initial stable level, then fade/stable alternately; derived from lod so
    # that it changes exactly when lod_key does.
    lod_start = max(resolution_log2 - initial_log2, 0)
    phase = 2 * (lod_start - lod_ceil) + (1 if lod_ceil != lod_floor else 0)

    return Schedule(
        kimg=kimg,
        lod=lod,
        resolution=resolution,
        minibatch=minibatch,
        G_lrate=cfg.G_lrate_dict.get(resolution, cfg.G_lrate_base),
        D_lrate=cfg.D_lrate_dict.get(resolution, cfg.D_lrate_base),
        tick_kimg=cfg.tick_kimg_dict.get(resolution, cfg.tick_kimg_base),
        level_resolution=resolution,
        alpha=1.0 - (lod - lod_floor),
        phase=phase,
        lod_key=(lod_floor, lod_ceil),
    )


def schedule_table(
    dataset_resolution: int, cfg: ScheduleConfig, total_kimg: float
) -> list[Schedule]:
    """The schedule at the start of every stable phase and fade-in that begins before `total_kimg`.

    Each row is a real `training_schedule` output: a stable phase at its first image, a fade-in
    at one image past its boundary (at the boundary itself lod is still the integer of the stable
    phase before it). Rows are in training order, one per distinct `lod_key`; useful for
    `--dry-run`.
    """
    _log2(dataset_resolution, "dataset_resolution")
    if not isinstance(total_kimg, (int, float)) or total_kimg < 0:
        raise UserError(f"total_kimg must be a number >= 0. Received: total_kimg={total_kimg!r}")
    phase_dur = cfg.lod_training_kimg + cfg.lod_transition_kimg
    rows = [training_schedule(0, dataset_resolution, cfg)]
    if phase_dur <= 0:  # No growth at all: lod never changes.
        return rows
    phase_idx = 0
    while rows[-1].lod > 0:
        start = phase_idx * phase_dur
        # Candidate boundaries of this phase: its stable start and its fade-in start.
        candidates = [start]
        if cfg.lod_transition_kimg > 0:
            candidates.append(start + cfg.lod_training_kimg)
        for boundary_kimg in candidates:
            if boundary_kimg >= total_kimg:
                return rows
            nimg = int(round(boundary_kimg * 1000))
            s = training_schedule(nimg, dataset_resolution, cfg)
            if s.lod_key == rows[-1].lod_key:  # The boundary itself still shows the old state.
                s = training_schedule(nimg + 1, dataset_resolution, cfg)
            if s.lod_key != rows[-1].lod_key:
                rows.append(s)
        phase_idx += 1
    return rows
