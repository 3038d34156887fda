"""stylegan2-ada-pytorch's `--cfg` presets and augmentation options, as TrainingConfig fields.

`official_options` computes what the official `train.py` (`setup_training_loop_kwargs`,
train.py:149-322) sets up for a `--cfg` preset at a dataset resolution and GPU count, with the
options `--gamma`, `--kimg`, `--batch`, `--aug`, `--p`, `--target`, `--augpipe`, `--mirror`,
`--resume` and `--freezed`, in the official names (`batch_size`, `batch_gpu`, `channel_base`,
...; tests compare it with the official values). `training_fields` turns that into the fields
of our `TrainingConfig` (StyleGAN2 family):

official -> ours:
- channel_base, channel_max -> network.fmap_base = channel_base / 2, network.fmap_max (a block
  at 2^r has min(channel_base / 2^r, channel_max) feature maps in both);
- mapping layers, z_dim = w_dim = 512 -> network.mapping_layers, latent_size, dlatent_size,
  mapping_fmaps; D's mbstd group -> network.mbstd_group_size;
- batch_size, batch_gpu -> schedule.minibatch_base (the global minibatch), minibatch_gpu
  (samples per device per pass: batch_size / (replicas x batch_gpu) accumulated passes);
- lr (G and D), betas, eps -> schedule.G_lrate_base / D_lrate_base, adam_beta1 / 2,
  adam_epsilon;
- r1_gamma, pl_weight, style_mixing_prob, D architecture -> r1_gamma, pl_weight,
  network.style_mixing_prob, network.d_architecture;
- ema_kimg, ema_rampup -> G_smoothing_kimg, G_smoothing_rampup;
- total_kimg, kimg_per_tick 4, --snap 50 -> total_kimg, schedule.tick_kimg_base,
  image_snapshot_ticks and network_snapshot_ticks;
- ada_target, augment_p, ada_kimg, augment_kwargs -> aug, ada_target, augment_p, ada_kimg,
  augpipe; freeze_layers -> D_freeze_layers; the dataset's xflip -> mirror;
- num_fp16_res 4, conv_clamp 256 -> not used (below).

Mixed precision. The official networks run their 4 highest resolutions in float16
(`num_fp16_res = 4`) and clamp every convolution's output to +-256 (`conv_clamp = 256`, also in
float32 layers) so that float16 cannot overflow. Here the networks compute in float32, or with
`--mixed-precision` in the precisions of `training/precision.py` (on CPUs the oneDNN bfloat16
rewrite, whose bfloat16 has float32's exponent range; on GPUs `mixed_float16` with loss
scaling), and nothing is clamped: the clamp exists for float16 activations, and StyleGAN2's
own TF code has none.

How `--cfg` combines with `--config PRESET`: a YAML preset gives the run (dataset, labels,
metrics, grids, the StyleGAN2 family); `--cfg NAME` then sets everything the official `--cfg`
sets, listed above, computed from the dataset's resolution and the replica count (`--gpus`, or
the GPUs found); explicit options (`--total-kimg`, `--mirror`, `--gamma`, `--batch`, `--aug`
...) override it, and `--set` overrides everything. Without `--config`, `--cfg` starts from the
`stylegan2` preset. `--cfg` implies `--aug ada` as the official default; without `--cfg` the
preset's `aug` applies (`noaug` in every preset but the `-ada` demos).
"""

from __future__ import annotations

import dataclasses
import os

from tf_stylegan.augment import AUGMENT_PRESETS, DEFAULT_PRESET
from tf_stylegan.errors import UserError

from . import ada
from .transfer_learning import RESUME_SPECS, TRANSFER_OVERRIDES, resume_kind

__all__ = ["CFG_SPECS", "CfgSpec", "describe_augment", "load_run_config", "official_options",
           "training_fields"]


@dataclasses.dataclass(frozen=True)
class CfgSpec:
    """One `--cfg` preset (train.py:155-163); None fields of 'auto' come from its formulas.

    Args:
        ref_gpus: int or None. GPUs the per-GPU batch is defined for (None: the GPU count).
        kimg: int. Training length.
        mb: int or None. Global minibatch.
        mbstd: int or None. D's minibatch-stddev group size.
        fmaps: float or None. channel_base / 32768.
        lrate: float or None. Adam learning rate of G and D.
        gamma: float or None. R1 weight.
        ema: float or None. Gs half-life in kimg.
        ramp: float or None. Gs half-life ramp-up.
        map: int. Mapping layers.
    """

    ref_gpus: int | None
    kimg: int
    mb: int | None
    mbstd: int | None
    fmaps: float | None
    lrate: float | None
    gamma: float | None
    ema: float | None
    ramp: float | None
    map: int


CFG_SPECS = {
    "auto": CfgSpec(None, 25000, None, None, None, None, None, None, 0.05, 2),
    "stylegan2": CfgSpec(8, 25000, 32, 4, 1, 0.002, 10, 10, None, 8),
    "paper256": CfgSpec(8, 25000, 64, 8, 0.5, 0.0025, 1, 20, None, 8),
    "paper512": CfgSpec(8, 25000, 64, 8, 1, 0.0025, 0.5, 20, None, 8),
    "paper1024": CfgSpec(8, 25000, 32, 4, 1, 0.002, 2, 10, None, 8),
    "cifar": CfgSpec(2, 100000, 64, 32, 1, 0.0025, 0.01, 500, 0.05, 2),
}
AUG_MODES = ("ada", "noaug", "fixed")
# Official constants of train.py: kimg_per_tick (training_loop.py:113) and the default --snap.
_TICK_KIMG = 4
_SNAP_TICKS = 50


def _spec(name, resolution, gpus):
    if name not in CFG_SPECS:
        raise UserError(f"--cfg must be one of {list(CFG_SPECS)}. Received: cfg={name!r}")
    spec = CFG_SPECS[name]
    if name != "auto":
        return spec
    # train.py:165-174, the 'auto' formulas.
    mb = max(min(gpus * min(4096 // resolution, 32), 64), gpus)
    return dataclasses.replace(
        spec, ref_gpus=gpus, mb=mb, mbstd=min(mb // gpus, 4),
        fmaps=1 if resolution >= 512 else 0.5, lrate=0.002 if resolution >= 1024 else 0.0025,
        gamma=0.0002 * resolution**2 / mb, ema=mb * 10 / 32)


def official_options(cfg="auto", *, resolution, gpus=1, gamma=None, kimg=None, batch=None,
                     aug=None, p=None, target=None, augpipe=None, mirror=None, resume=None,
                     freezed=None) -> dict:
    """What the official train.py sets up, in its names (the keys of its
    `training_options.json`), and the GPU count `num_gpus`: batch_size, batch_gpu,
    mbstd_group_size, channel_base, channel_max, mapping_layers, num_fp16_res, conv_clamp, lr,
    betas, eps, r1_gamma, loss_kwargs (r1_gamma; pl_weight and style_mixing_prob for cifar),
    D_architecture ("orig" for cifar, else "resnet"), total_kimg, ema_kimg, ema_rampup,
    ada_target, augment_p, ada_kimg, augment_kwargs ({multiplier: 1} of the pipe, None for
    noaug), augpipe, resume_pkl, freeze_layers, training_set_xflip.

    Args:
        cfg: str. The `--cfg` preset.
        resolution: int. The dataset's resolution.
        gpus: int. A power of two.
        gamma, kimg, batch, aug, p, target, augpipe, mirror, resume, freezed: the official
            options (None: not given).

    Raises:
        UserError: the official validity rules (train.py:108-322).
    """
    if not (isinstance(gpus, int) and gpus >= 1 and gpus & (gpus - 1) == 0):
        raise UserError(f"--gpus must be a power of two. Received: gpus={gpus!r}")
    spec = _spec(cfg, int(resolution), gpus)
    out = {
        "num_gpus": gpus,
        "batch_size": spec.mb, "batch_gpu": spec.mb // spec.ref_gpus,
        "mbstd_group_size": spec.mbstd, "channel_base": int(spec.fmaps * 32768),
        "channel_max": 512, "mapping_layers": spec.map, "num_fp16_res": 4, "conv_clamp": 256,
        "lr": spec.lrate, "betas": [0, 0.99], "eps": 1e-8, "r1_gamma": spec.gamma,
        "loss_kwargs": {"r1_gamma": spec.gamma}, "D_architecture": "resnet",
        "total_kimg": spec.kimg, "ema_kimg": spec.ema, "ema_rampup": spec.ramp,
    }
    if cfg == "cifar":
        out["loss_kwargs"].update(pl_weight=0, style_mixing_prob=0)
        out["D_architecture"] = "orig"
    if gamma is not None:
        if not gamma >= 0:
            raise UserError(f"--gamma must be non-negative. Received: gamma={gamma}")
        out["r1_gamma"] = out["loss_kwargs"]["r1_gamma"] = gamma
    if kimg is not None:
        if not kimg >= 1:
            raise UserError(f"--kimg must be at least 1. Received: kimg={kimg}")
        out["total_kimg"] = kimg
    if batch is not None:
        if not (isinstance(batch, int) and batch >= 1 and batch % gpus == 0):
            raise UserError(f"--batch must be at least 1 and divisible by --gpus ({gpus}). "
                            f"Received: batch={batch!r}")
        out["batch_size"], out["batch_gpu"] = batch, batch // gpus
    out.update(_augment_options(aug or "ada", p, target, augpipe))
    out["training_set_xflip"] = bool(mirror)
    out["resume_pkl"] = RESUME_SPECS.get(resume, resume) if resume not in (None, "noresume") \
        else None
    if out["resume_pkl"] is not None:
        # train.py:313-314: "make ADA react faster at the beginning"; no EMA ramp-up.
        out["ada_kimg"], out["ema_rampup"] = ada.ADA_KIMG_RESUME, None
    if freezed is not None and not (isinstance(freezed, int) and freezed >= 0):
        raise UserError(f"--freezed must be non-negative. Received: freezed={freezed!r}")
    out["freeze_layers"] = freezed
    return out


def _augment_options(aug, p, target, augpipe) -> dict:
    """The official rules of --aug, --p, --target and --augpipe (train.py:226-287)."""
    if aug not in AUG_MODES:
        raise UserError(f"--aug must be one of {list(AUG_MODES)}. Received: aug={aug!r}")
    if p is not None and aug != "fixed":
        raise UserError("--p can only be specified with --aug fixed")
    if aug == "fixed" and p is None:
        raise UserError("--aug fixed requires specifying --p")
    if p is not None and not 0 <= p <= 1:
        raise UserError(f"--p must be between 0 and 1. Received: p={p}")
    if target is not None and aug != "ada":
        raise UserError("--target can only be specified with --aug ada")
    if target is not None and not 0 <= target <= 1:
        raise UserError(f"--target must be between 0 and 1. Received: target={target}")
    if augpipe is not None and aug == "noaug":
        raise UserError("--augpipe cannot be specified with --aug noaug")
    if augpipe is not None and augpipe not in AUGMENT_PRESETS:
        raise UserError(f"--augpipe must be one of {list(AUGMENT_PRESETS)}. "
                        f"Received: augpipe={augpipe!r}")
    pipe = augpipe or DEFAULT_PRESET
    return {
        "ada_target": (ada.ADA_TARGET if target is None else target) if aug == "ada" else None,
        "augment_p": p, "ada_kimg": None,
        "augment_kwargs": None if aug == "noaug" else {op: 1 for op in AUGMENT_PRESETS[pipe]},
        "augpipe": None if aug == "noaug" else pipe,
    }


def training_fields(options: dict, name: str | None = None) -> dict:
    """TrainingConfig fields (StyleGAN2 family) of `official_options(...)`; the table in the
    module docstring says which is which. `name` is the `--cfg` preset (recorded as part of
    `config_name`)."""
    loss = options["loss_kwargs"]
    aug = "noaug" if options["augment_kwargs"] is None else \
        "ada" if options["ada_target"] is not None else "fixed"
    lr = options["lr"]
    fields = {
        "family": "stylegan2",
        "network": {
            "fmap_base": options["channel_base"] // 2, "fmap_max": options["channel_max"],
            "latent_size": 512, "dlatent_size": 512, "mapping_fmaps": 512,
            "mapping_layers": options["mapping_layers"],
            "mbstd_group_size": options["mbstd_group_size"],
            "g_architecture": "skip", "d_architecture": options["D_architecture"],
            "style_mixing_prob": float(loss.get("style_mixing_prob", 0.9)),
        },
        "schedule_preset": "stylegan2",
        "schedule": {"minibatch_base": options["batch_size"], "minibatch_dict": {},
                     "G_lrate_base": lr, "D_lrate_base": lr, "G_lrate_dict": {},
                     "D_lrate_dict": {}, "tick_kimg_base": _TICK_KIMG, "tick_kimg_dict": {}},
        # Each official GPU splits its batch_size / num_gpus samples into rounds of at most
        # batch_gpu (training_loop.py, `.split(batch_gpu)`): cifar's 64 on 4 GPUs is one
        # round of 16, not 32.
        "minibatch_gpu": min(options["batch_gpu"],
                             options["batch_size"] // options["num_gpus"]),
        "adam_beta1": float(options["betas"][0]), "adam_beta2": float(options["betas"][1]),
        "adam_epsilon": float(options["eps"]),
        "r1_gamma": float(loss["r1_gamma"]), "pl_weight": float(loss.get("pl_weight", 2.0)),
        "G_smoothing_kimg": float(options["ema_kimg"]),
        "G_smoothing_rampup": options["ema_rampup"],
        "total_kimg": float(options["total_kimg"]),
        "aug": aug, "augpipe": options["augpipe"] or DEFAULT_PRESET,
        "augment_p": float(options["augment_p"] or 0.0),
        "ada_target": float(options["ada_target"] if options["ada_target"] is not None
                            else ada.ADA_TARGET),
        "ada_kimg": float(options["ada_kimg"] or ada.ADA_KIMG),
        "D_freeze_layers": int(options["freeze_layers"] or 0),
        "mirror": bool(options["training_set_xflip"]),
        "image_snapshot_ticks": _SNAP_TICKS, "network_snapshot_ticks": _SNAP_TICKS,
    }
    if name is not None:
        fields["config_name"] = f"cfg-{name}"
    return fields


def load_run_config(preset, overrides, fields, options=None, resume=None, dataset_fn=None):
    """The TrainingConfig of a `run_training.py` command: defaults <- `--config` preset <-
    `--cfg` <- explicit options (`fields`, the `--aug` family) <- `--set` overrides; a transfer
    (`--resume` naming a network) adds the official `TRANSFER_OVERRIDES` before the user's.

    Args:
        preset: str or None. The `--config` preset.
        overrides: the `--set KEY=VALUE` strings.
        fields: {TrainingConfig field: value} of the plain options (None: not given).
        options: {name: value or None} of cfg, aug, p, target, augpipe, gamma, batch, freezed.
        resume: the `--resume` value.
        dataset_fn: callable(cfg) -> the dataset's resolution (only called for `--cfg`).
    """
    from .training_config import load_config

    opts = {k: v for k, v in (options or {}).items() if v is not None}
    overrides = list(overrides or ())
    if resume_kind(resume) == "transfer":
        overrides = [*TRANSFER_OVERRIDES, *overrides]
    base = load_config(preset, overrides, **fields)
    if not opts:
        return base
    name = opts.pop("cfg", None)
    if name is None:
        if "batch" in opts:
            raise UserError("--batch sets the minibatch of a --cfg preset; without --cfg use "
                            "--set schedule.minibatch_base=N (and minibatch_gpu).")
        # The --aug rules, with the preset's mode as the default.
        aug = opts.get("aug", base.aug)
        checked = _augment_options(aug, opts.get("p"), opts.get("target"), opts.get("augpipe"))
        extra = {"aug": aug}
        if "p" in opts:
            extra["augment_p"] = float(opts["p"])
        if "target" in opts:
            extra["ada_target"] = float(checked["ada_target"])
        if "augpipe" in opts:
            extra["augpipe"] = opts["augpipe"]
        if "gamma" in opts:
            extra["r1_gamma"] = _non_negative(opts["gamma"], "--gamma")
        if "freezed" in opts:
            extra["D_freeze_layers"] = opts["freezed"]
        return load_config(preset, overrides, **_with(extra, fields))
    if not base.dataset:
        raise UserError("no dataset given: pass --dataset NAME (a directory under --data-dir).")
    gpus = base.gpus or _visible_gpus()
    official = official_options(
        name, resolution=dataset_fn(base), gpus=gpus, gamma=opts.get("gamma"),
        batch=opts.get("batch"), aug=opts.get("aug"), p=opts.get("p"),
        target=opts.get("target"), augpipe=opts.get("augpipe"),
        freezed=opts.get("freezed"), kimg=fields.get("total_kimg"),
        mirror=fields.get("mirror", base.mirror if preset else None))
    extra = training_fields(official, name)
    extra["gpus"] = gpus
    if preset:
        extra["config_name"] = f"{os.path.splitext(os.path.basename(preset))[0]}+{name}"
    # A None the preset must not keep (e.g. no Gs ramp-up) goes in as an override, before the
    # user's own.
    nulls = [f"{k}=null" for k, v in extra.items() if v is None]
    return load_config(preset or "stylegan2", [*nulls, *overrides], **_with(extra, fields))


def describe_augment(cfg, minibatch) -> list[str]:
    """The `--dry-run` lines of the StyleGAN2-ADA settings of a TrainingConfig that uses any
    (the augmentation, the Gs ramp-up, Freeze-D), for the global `minibatch` of its first
    phase."""
    lines = []
    if cfg.aug == "ada":
        step = minibatch * cfg.ada_interval / (cfg.ada_kimg * 1000)
        lines.append(f"augmentation: ada, pipe {cfg.augpipe}, p from {cfg.augment_p:g} towards "
                     f"r_t = {cfg.ada_target:g}, +-{step:.4g} every {cfg.ada_interval} "
                     f"minibatches (ada_kimg {cfg.ada_kimg:g})")
    elif cfg.aug == "fixed":
        lines.append(f"augmentation: fixed, pipe {cfg.augpipe}, p = {cfg.augment_p:g}")
    if cfg.G_smoothing_rampup is not None:
        lines.append(f"Gs half-life: min({cfg.G_smoothing_kimg:g} kimg, images shown x "
                     f"{cfg.G_smoothing_rampup:g})")
    if cfg.D_freeze_layers:
        lines.append(f"Freeze-D: D's first {cfg.D_freeze_layers} layers are not trained")
    return lines


def _non_negative(value, option):
    if not value >= 0:
        raise UserError(f"{option} must be non-negative. Received: {value}")
    return float(value)


def _with(extra: dict, fields: dict) -> dict:
    """`extra` updated with the explicit options of `fields` (flat; None: not given)."""
    return {**extra, **{k: v for k, v in fields.items() if v is not None}}


def _visible_gpus() -> int:
    import tensorflow as tf

    return max(1, len(tf.config.list_logical_devices("GPU")))
