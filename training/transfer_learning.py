"""Transfer learning: a new run that starts from another network's weights, and Freeze-D.

`--resume` takes two kinds of things (`resume_kind`):
- a run to **continue**: `auto`, a run directory, its `checkpoints/` directory or a checkpoint
  prefix. Everything is restored (networks, optimizers, counters, the augmentation probability
  and its window) and the run goes on in place at its kimg (`training/checkpoint.py`).
- a **network** to transfer from: one of our snapshots (`.zip`), an official pickle (NVIDIA's
  TF StyleGAN/StyleGAN2 `.pkl`, or a stylegan2-ada-pytorch pickle where `load_network` reads
  them), an http(s) URL, an official network name (`tf_stylegan.pretrained`) or one of
  stylegan2-ada-pytorch's transfer-learning sources (`RESUME_SPECS`: ffhq256, ffhq512,
  ffhq1024, celebahq256, lsundog256, train.py:293-315). A new run directory is created and
  the run starts at kimg 0 with fresh optimizers, fresh counters and p = `augment_p`, from the
  network's G, D and Gs weights (official training_loop.py:155-160: G, D and G_ema are copied,
  `require_all=False`). As officially, such a start sets `ada_kimg` to 100 ("make ADA react
  faster at the beginning") and turns the Gs ramp-up off (`TRANSFER_OVERRIDES`).

The run's networks are those of its own config (preset, `--cfg`, dataset): weights are copied by
name where the source has the same variable with the same shape; variables the source lacks
(e.g. the blocks of a higher resolution) keep their initial values and are listed; a variable
whose shape differs (another width, another label count) is an error naming it, with the
source's config values that differ, as the official copy fails on it.

Freeze-D (Mo et al. 2020, "Freeze the Discriminator"; official `--freezed N`, networks.py:
150-158, 519-540): the first N layers of D, numbered from the input side as
stylegan2-ada-pytorch numbers them (`discriminator_layers`: the highest-resolution block first;
in it FromRGB, Conv0, Conv1 and, for the residual D, Skip; the later blocks the same without
FromRGB except in the 'skip' architecture), are not trained. The 4x4 epilogue and the label
handling are never frozen. `frozen_variables` lists their variables; the training step gives
them no gradient.
"""

from __future__ import annotations

import os

from tf_stylegan.downloads import is_url
from tf_stylegan.errors import UserError
from tf_stylegan.families import family_of
from tf_stylegan.networks import StyleGAN2Discriminator
from tf_stylegan.pretrained import PRETRAINED
from tf_stylegan.snapshot import load_network

from .trained_networks import variables_by_name

__all__ = ["RESUME_SPECS", "TRANSFER_OVERRIDES", "copy_matching_weights", "discriminator_layers",
           "frozen_variables", "resume_kind", "start_from_network"]

# stylegan2-ada-pytorch train.py:293-307: the transfer-learning source networks by name.
_SOURCE_NETS = ("https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/"
                "transfer-learning-source-nets/")
RESUME_SPECS = {
    "ffhq256": _SOURCE_NETS + "ffhq-res256-mirror-paper256-noaug.pkl",
    "ffhq512": _SOURCE_NETS + "ffhq-res512-mirror-stylegan2-noaug.pkl",
    "ffhq1024": _SOURCE_NETS + "ffhq-res1024-mirror-stylegan2-noaug.pkl",
    "celebahq256": _SOURCE_NETS + "celebahq-res256-mirror-paper256-kimg100000-ada-target0.5.pkl",
    "lsundog256": _SOURCE_NETS + "lsundog-res256-paper256-kimg100000-noaug.pkl",
}
# What a transfer changes in the config (official train.py:313-314), as `--set` overrides that
# the user's own `--set` can still override.
TRANSFER_OVERRIDES = ("ada_kimg=100", "G_smoothing_rampup=null")


def resume_kind(resume) -> str | None:
    """What `--resume` names: None (nothing), "continue" (`auto`, an existing directory or a
    checkpoint prefix) or "transfer" (a network file, URL or name).

    Raises:
        UserError: `resume` is none of these (e.g. a path that does not exist).
    """
    if not resume:
        return None
    resume = os.fspath(resume)
    if resume == "auto" or os.path.isdir(resume) or os.path.isfile(resume + ".index"):
        return "continue"
    if os.path.isfile(resume) or is_url(resume) or resume in PRETRAINED \
            or resume in RESUME_SPECS:
        return "transfer"
    raise UserError(f"--resume {resume}: not a run directory, checkpoint prefix, network file "
                    f"(.zip snapshot or .pkl), URL or network name "
                    f"({', '.join(sorted(RESUME_SPECS))} or tf_stylegan.pretrained's). "
                    f"Received: resume={resume}")


def copy_matching_weights(networks, G, D, Gs) -> dict:
    """Assigns to the run's `networks` (training.trained_networks.Networks) every variable of
    the source G, D and Gs that has the same name and shape.

    Returns:
        {"copied": [names], "kept": [names the source lacks], "unused": [source names the run
        lacks]}, names as "G/<path>".

    Raises:
        UserError: a variable has another shape in the source (listing them), or nothing
            matches at all.
    """
    pairs, kept, unused, mismatched = [], [], [], []
    for name, source in (("G", G), ("D", D), ("Gs", Gs)):
        dst = variables_by_name(networks.network(name))
        src = variables_by_name(source)
        for key, v in dst.items():
            if key not in src:
                kept.append(f"{name}/{key}")
            elif tuple(src[key].shape) != tuple(v.shape):
                mismatched.append(f"{name}/{key} {list(src[key].shape)} -> {list(v.shape)}")
            else:
                pairs.append((f"{name}/{key}", v, src[key]))
        unused += [f"{name}/{key}" for key in src if key not in dst]
    if mismatched:
        ours, theirs = networks.G.config.to_dict(), G.config.to_dict()
        differ = {k: (theirs.get(k), ours.get(k)) for k in sorted(set(ours) | set(theirs))
                  if theirs.get(k) != ours.get(k)}
        shown = "; ".join(mismatched[:4]) + (f"; and {len(mismatched) - 4} more"
                                             if len(mismatched) > 4 else "")
        raise UserError(f"the source network's variables do not fit this run's networks "
                        f"({len(mismatched)} of another shape: {shown}). Its config differs in "
                        f"{ {k: f'{a} (run: {b})' for k, (a, b) in differ.items()} }; give the "
                        f"run the source's widths (e.g. --set network.fmap_base=...).")
    if not pairs:
        raise UserError("the source network shares no variable with this run's networks.")
    for _, v, src in pairs:
        v.assign(src.numpy())
    return {"copied": [p[0] for p in pairs], "kept": kept, "unused": unused}


def start_from_network(trainer, source, log=print) -> dict:
    """Starts `trainer` (training.loop.Trainer, fresh) from the network `source` (path, URL or
    name, see the module docstring): its weights where they fit (`copy_matching_weights`);
    counters, optimizers and the augmentation state stay fresh. Returns the copy report."""
    G, D, Gs = load_network(RESUME_SPECS.get(source, source))
    family = family_of(G)
    if family.name != trainer.net_cfg.family:
        raise UserError(f"{source}: a {family.name!r} network cannot start a "
                        f"{trainer.net_cfg.family!r} run.")
    report = copy_matching_weights(trainer.networks, G, D, Gs)
    trainer.step.forget_functions()
    kept = report["kept"]
    listed = "" if not kept else (f"; {len(kept)} kept their initial values: "
                                  f"{', '.join(kept[:6])}{' ...' if len(kept) > 6 else ''}")
    log(f"Transfer learning from {source}: {len(report['copied'])} variables copied{listed}; "
        f"starting at kimg 0 with fresh optimizers")
    return report


def discriminator_layers(D) -> list:
    """D's layers that Freeze-D can freeze, in the official order: [(official name, layer)],
    e.g. `b64.fromrgb`, `b64.conv0`, `b64.conv1`, `b64.skip`, `b32.conv0`, ... for a residual D
    at 64x64 (stylegan2-ada-pytorch `DiscriminatorBlock`: FromRGB where the block reads the
    image, Conv0, Conv1 (the down-sampling conv), Skip for 'resnet'). The epilogue (4x4 conv,
    dense layers, a 'skip' D's last FromRGB) is not listed: it is never frozen.

    Raises:
        UserError: D is not a StyleGAN2 discriminator (Freeze-D is StyleGAN2-ADA's).
    """
    if not isinstance(D, StyleGAN2Discriminator):
        raise UserError(f"Freeze-D (`D_freeze_layers`, --freezed) needs a StyleGAN2 "
                        f"discriminator. Received: {type(D).__name__}")
    cfg = D.config
    top = cfg.resolution_log2
    arch = cfg.d_architecture
    out = []
    for r in range(top, 2, -1):
        size = 2**r
        if arch == "skip" or r == top:
            out.append((f"b{size}.fromrgb", D.from_rgb[r - 2]))
        out.append((f"b{size}.conv0", D.conv0[r - 3]))
        out.append((f"b{size}.conv1", D.conv1_down[r - 3]))
        if arch == "resnet":
            out.append((f"b{size}.skip", D.skips[r - 3]))
    return out


def frozen_variables(D, num_layers: int) -> list:
    """The trainable variables of D's first `num_layers` layers (`discriminator_layers`; all of
    them when there are fewer): the ones Freeze-D does not train. [] for 0."""
    if not num_layers:
        return []
    return [v for _, layer in discriminator_layers(D)[:num_layers]
            for v in layer.trainable_variables]
