"""Launching a training run: what `run_training.py` does (official `train.py` + `submit.py`).

`run(...)` resolves the TrainingConfig (preset <- options <- `--set` overrides), opens the dataset,
prints the dry-run table (`describe`) or picks the distribution strategy, creates or finds the
run directory (`create_run_dir`, `find_resume_dir`), writes `training_options.yaml`, and trains.
"""

from __future__ import annotations

import glob
import math
import os
import re

import tensorflow as tf
import yaml

from data.reader import TFRecordDataset
from tf_stylegan.errors import UserError
from tf_stylegan.snapshot import read_snapshot_info

from . import losses
from .ada_presets import describe_augment, load_run_config
from .checkpoint import latest_checkpoint
from .distribute import is_chief, make_strategy
from .loop import Trainer
from .preemption import StopSignals, TrainingStopped
from .run_dir import RunDir
from .schedule import schedule_table
from .training_config import CONFIG_DIR, TrainingConfig
from .transfer_learning import resume_kind

__all__ = ["check_resume", "create_run_dir", "describe", "find_resume_dir", "run"]

_RUN_ID = re.compile(r"^(\d+)-")


def describe(cfg: TrainingConfig, dataset_resolution: int, num_replicas: int) -> str:
    """The schedule table (one row per stable phase / fade-in) as text, for --dry-run; with the
    StyleGAN2 training losses followed by the regularization settings and each level's
    minibatch passes."""
    sched_cfg = cfg.schedule_config(num_replicas)
    rows = schedule_table(dataset_resolution, sched_cfg, cfg.total_kimg)
    lines = [f"{'kimg':>9} {'phase':>6} {'lod':>6} {'res':>5} {'minibatch':>9} {'G_lrate':>8} "
             f"{'D_lrate':>8} {'tick_kimg':>9}  r1_scale"]
    for s in rows:
        kind = "fade" if s.in_transition else "stable"
        lod = f"{s.lod_key[1]}->{s.lod_key[0]}" if s.in_transition else f"{s.lod_key[0]}"
        lines.append(f"{math.floor(s.kimg):>9} {kind:>6} {lod:>6} {s.resolution:>5} "
                     f"{s.minibatch:>9} {s.G_lrate:>8g} {s.D_lrate:>8g} {s.tick_kimg:>9g}  "
                     f"{losses.r1_scale_for(s.resolution, dataset_resolution):g}")
    if cfg.training_losses == "stylegan2":
        lines.append("")
        lines.append(f"losses: stylegan2 (NVlabs/stylegan2 loop), lazy regularization "
                     f"{'on' if cfg.lazy else 'off'}")
        for network, name, weight in (("G", "path length", f"pl_weight {cfg.pl_weight:g}"),
                                      ("D", "R1", f"gamma {cfg.r1_gamma:g}")):
            k, c = cfg.reg_interval(network), cfg.optimizer_ratio(network)
            when = f"every {k} minibatches" if k else "off"
            if network == "D" and not cfg.lazy and cfg.r1_gamma:
                when = "in every D step"
            lines.append(f"{network}: {name} {when} ({weight}); Adam lr x {c:.8g}, "
                         f"beta1 {cfg.adam_beta1 ** c:.8g}, beta2 {cfg.adam_beta2 ** c:.8g}")
        levels = {}
        for row in rows:  # one line per level's minibatch and passes
            levels.setdefault(row.resolution, row.minibatch)
        for res, minibatch in levels.items():
            per_pass = cfg.minibatch_gpu_at(res) or minibatch // num_replicas
            at = f" at {res}x{res}" if len(levels) > 1 else ""
            lines.append(f"minibatch {minibatch}{at} = {num_replicas} replica(s) x "
                         f"{minibatch // (per_pass * num_replicas)} pass(es) x {per_pass}")
    lines += describe_augment(cfg, rows[0].minibatch)  # StyleGAN2-ADA's options, when set
    return "\n".join(lines)


def _run_ids(outdir: str) -> list[int]:
    if not os.path.isdir(outdir):
        return []
    ids = []
    for name in os.listdir(outdir):
        m = _RUN_ID.match(name)
        if m and os.path.isdir(os.path.join(outdir, name)):
            ids.append(int(m.group(1)))
    return ids


def create_run_dir(outdir: str, dataset: str, num_gpus: int, family: str = "stylegan") -> str:
    """Creates `<outdir>/<next id:05d>-<family>-<dataset>-<num_gpus>gpu` (never reuses an id)."""
    os.makedirs(outdir, exist_ok=True)
    desc = f"{family}-{os.path.basename(os.path.normpath(dataset))}-{num_gpus}gpu"
    run_id = max(_run_ids(outdir), default=-1) + 1
    while True:
        path = os.path.join(outdir, f"{run_id:05d}-{desc}")
        try:
            os.makedirs(path)  # fails if another process took the id: try the next one
            return path
        except FileExistsError:
            run_id += 1


def find_resume_dir(outdir: str, dataset: str, config_name: str) -> str | None:
    """The latest run directory of the same dataset and preset that holds a checkpoint."""
    best = None
    for path in glob.glob(os.path.join(glob.escape(outdir), "*-stylegan*-*")):
        m = _RUN_ID.match(os.path.basename(path))
        if not m or not os.path.isfile(os.path.join(path, "checkpoints", "checkpoint")):
            continue
        opts = (RunDir(path).read_options() or {}).get("training", {})
        if opts.get("dataset") != dataset or opts.get("config_name") != config_name:
            continue
        if best is None or int(m.group(1)) > best[0]:
            best = (int(m.group(1)), path)
    return None if best is None else best[1]


def _options(cfg, net_cfg, sched_cfg, num_replicas):
    """What training_options.yaml holds (and --dry-run prints)."""
    return {"training": cfg.to_dict(), "network": net_cfg.to_dict(),
            "schedule": sched_cfg.to_dict(), "num_replicas": num_replicas}


def _check_same_network(run_dir: RunDir, net_cfg):
    saved = (run_dir.read_options() or {}).get("network")
    if saved is not None and saved != net_cfg.to_dict():
        diff = sorted(k for k in set(saved) | set(net_cfg.to_dict())
                      if saved.get(k) != net_cfg.to_dict().get(k))
        raise UserError(f"{run_dir.file(RunDir.OPTIONS)}: the run was trained with a different "
                        f"network config (differs in {diff}); cannot resume it with this config.")


def check_resume(net_cfg, run_dir, prefix, snapshot) -> str | None:
    """Checks, before anything is built, what resuming would read: the run's recorded network
    config and the checkpoint's index, or the snapshot's network config. Returns a line saying
    what the run will continue from (None for a new run); raises UserError naming the file.
    A network to transfer from is read when the run starts (it may be a URL); here only a
    local snapshot's family is checked."""
    if prefix:
        _check_same_network(RunDir(run_dir), net_cfg)
        try:
            tf.train.list_variables(prefix)
        except (tf.errors.OpError, ValueError) as e:
            raise UserError(f"{prefix}: cannot read the checkpoint "
                            f"({str(e).strip().splitlines()[0]})") from None
        return f"Resume: continue {run_dir} from {prefix}"
    if snapshot:
        if str(snapshot).endswith(".zip") and os.path.isfile(snapshot):
            family = read_snapshot_info(snapshot).get("family")
            if family is not None and family != net_cfg.family:
                raise UserError(f"{snapshot}: a {family!r} network cannot start a "
                                f"{net_cfg.family!r} run.")
        return (f"Transfer learning: a new run at kimg 0 from the weights of {snapshot} "
                f"(fresh optimizers and counters)")
    return None


def _resume_target(cfg, resume, print_fn):
    """(run directory to continue or None, checkpoint prefix or None, network to transfer from
    or None): `training/transfer_learning.py` says which `--resume` values are which."""
    if not resume:
        return None, None, None
    if resume_kind(resume) == "transfer":
        return None, None, resume
    if resume == "auto":
        run_dir = find_resume_dir(cfg.outdir, cfg.dataset, cfg.config_name)
        if run_dir is None:
            print_fn(f"--resume auto: no earlier run of dataset {cfg.dataset!r} with config "
                     f"{cfg.config_name!r} in {cfg.outdir}; starting a new run.")
            return None, None, None
        return run_dir, latest_checkpoint(run_dir), None
    prefix = latest_checkpoint(resume)
    return os.path.dirname(os.path.dirname(os.path.abspath(prefix))), prefix, None


def run(*, dataset=None, data_dir=None, preset=None, mirror=None, cond=None, total_kimg=None,
        gpus=None, loss=None, mixed_precision=None, xla=None, seed=None, outdir=None, resume=None,
        metrics=None, checkpoint_minutes=None, overrides=(), dry_run=False, progress=True,
        print_fn=print, ada_options=None):
    """What `run_training.py` does (see its --help): resolve the config, check what a resume
    would read, pick the strategy and the run directory, then train. Returns the run directory
    (None for --dry-run). `ada_options` holds the StyleGAN2-ADA options (cfg, aug, p, target,
    augpipe, gamma, batch, freezed; `training/ada_presets.py`).

    Raises:
        TrainingStopped: a stop signal ended the run after writing a checkpoint.
    """
    if preset is None and dataset and os.path.isfile(os.path.join(CONFIG_DIR, f"{dataset}.yaml")):
        preset = dataset
    fields = dict(dataset=dataset, data_dir=data_dir, mirror=mirror, cond=cond,
                  total_kimg=total_kimg, gpus=gpus, loss=loss,
                  mixed_precision=mixed_precision or None, xla=xla or None, seed=seed,
                  outdir=outdir, metrics=metrics, checkpoint_minutes=checkpoint_minutes)
    cfg = load_run_config(preset, overrides, fields, ada_options, resume,
                          lambda c: TFRecordDataset(c.dataset_dir, resolution=c.resolution)
                          .resolution)
    if not cfg.dataset:
        raise UserError("no dataset given: pass --dataset NAME (a directory under --data-dir).")
    ds = TFRecordDataset(cfg.dataset_dir, resolution=cfg.resolution)
    net_cfg = cfg.network_config(ds.resolution, ds.num_channels, ds.label_size)
    # What a resume reads is checked first, by a dry run too, so that a job script can check
    # its command before it queues for hours.
    run_dir, prefix, snapshot = _resume_target(cfg, resume, print_fn)
    resume_line = check_resume(net_cfg, run_dir, prefix, snapshot)
    if dry_run:
        num_replicas = cfg.gpus or max(1, len(tf.config.list_logical_devices("GPU")))
        options = _options(cfg, net_cfg, cfg.schedule_config(num_replicas), num_replicas)
        print_fn(yaml.safe_dump(options, sort_keys=False, default_flow_style=None).rstrip())
        print_fn(f"\nSchedule ({num_replicas} replica(s), dataset {ds.resolution}x{ds.resolution}"
                 f", total {cfg.total_kimg:g} kimg):")
        print_fn(describe(cfg, ds.resolution, num_replicas))
        if resume_line:
            print_fn(f"\n{resume_line}")
        return None

    # From here on a stop signal only asks the run to stop (training/preemption.py): one that
    # arrives while the networks are built or traced stops the run after its first steps.
    with StopSignals(print_fn) as signals:
        strategy = make_strategy(cfg.gpus)
        num_replicas = int(strategy.num_replicas_in_sync)
        chief = is_chief(strategy)
        tee = None
        if chief:
            if run_dir is None:
                run_dir = create_run_dir(cfg.outdir, cfg.dataset, num_replicas, cfg.family)
            tee = RunDir(run_dir).open_log()
        try:
            # Only the chief writes the run directory; the other workers train without one.
            trainer = Trainer(cfg, strategy=strategy, dataset=ds,
                              run_dir=run_dir if chief else None, progress=progress,
                              log=print_fn)
            if chief:
                trainer.run_dir.write_options(
                    _options(cfg, trainer.net_cfg, trainer.sched_cfg, num_replicas))
                print_fn(f"Run directory: {run_dir}")
            trainer.train(resume=prefix, snapshot=snapshot, stop=signals)
            if trainer.stopped_by is not None:
                raise TrainingStopped(run_dir, trainer.stopped_by)
            if chief:
                print_fn(f"Done: {run_dir}")
        finally:
            if tee is not None:
                tee.close()
    return run_dir
