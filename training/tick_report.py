"""What a training run reports at each tick boundary (official `training_loop.py`, the per-tick
maintenance): the status line, one stats.jsonl line and its TensorBoard scalars (with the
losses object's own tick statistics: the augmentation probability and ADA's r_t), a grid of Gs
images every `image_snapshot_ticks`, and a network snapshot with the configured metrics every
`network_snapshot_ticks`, at tick 1 and at the end. Without a run directory (a worker other than
the chief, or a test) only the status line is printed.

The grid shows the same latents and labels all run long: the first records of the dataset as
`reals.png` and, for the fakes, Gs's images of latents drawn from the run seed (no truncation,
the stored noise), nearest-upscaled to full resolution while the networks grow.
"""

from __future__ import annotations

import resource

import numpy as np
import tensorflow as tf

__all__ = ["TickReporter", "status_line"]


def _peak_rss_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KB on Linux


class TickReporter:
    """The reporting of one run (`Trainer.train` calls `begin`, `tick` and `end`).

    Args:
        trainer: the `training.loop.Trainer` whose networks, counters and run directory are
            reported.
    """

    def __init__(self, trainer):
        self.trainer = trainer
        self.cfg = trainer.cfg
        self.run_dir = trainer.run_dir
        self.log = trainer.log
        self._summary = None
        self.grid_reals = self.grid_labels = self.grid_latents = None

    # -- Image grids ------------------------------------------------------------------------------
    def grid_size(self):
        """(columns, rows) of the image grids: the config's, or the family's official layout
        (`grid_pixels`: '4k' for StyleGAN, '8k' for StyleGAN2, NVlabs/stylegan2
        run_training.py `grid='8k'`)."""
        if self.cfg.grid_size:
            return tuple(self.cfg.grid_size)
        r = self.trainer.net_cfg.resolution
        w, h = self.cfg.network_family.grid_pixels
        return (int(np.clip(w // r, 7, 32)), int(np.clip(h // r, 4, 32)))

    def setup_grid(self):
        """Reads the grid's reals and labels (the first records: dataset_tool shuffles at
        creation) and draws its latents from the run seed."""
        gw, gh = self.grid_size()
        n = gw * gh
        net_cfg = self.trainer.net_cfg
        reals, labels = [], []
        pipeline = self.trainer.dataset.iterate(net_cfg.resolution, min(n, 256), shuffle=False,
                                                repeat=True, drop_remainder=False)
        for x, y in pipeline:
            reals.append(x.numpy())
            labels.append(y.numpy())
            if sum(len(b) for b in reals) >= n:
                break
        self.grid_reals = np.concatenate(reals)[:n]
        self.grid_labels = np.concatenate(labels)[:n]
        rng = np.random.RandomState(self.cfg.seed)
        self.grid_latents = rng.randn(n, net_cfg.latent_size).astype(np.float32)

    def generate_grid(self, resolution, alpha, batch=64):
        """Gs images of the fixed grid latents (no truncation, const noise), float32 in about
        [-1, 1] at full resolution."""
        net_cfg = self.trainer.net_cfg
        Gs = self.trainer.networks.Gs
        out = []
        labels = self.grid_labels if net_cfg.label_size else None
        for i in range(0, len(self.grid_latents), batch):
            z = tf.constant(self.grid_latents[i:i + batch])
            lab = None if labels is None else tf.constant(labels[i:i + batch])
            img = Gs(z, lab, truncation_psi=1.0, noise="const", resolution=resolution,
                     alpha=float(alpha))
            out.append(tf.cast(img, tf.float32).numpy())
        images = np.concatenate(out)
        factor = net_cfg.resolution // resolution
        if factor > 1:  # nearest upscale, as the official networks output full resolution
            images = images.repeat(factor, axis=1).repeat(factor, axis=2)
        return images

    # -- The run ----------------------------------------------------------------------------------
    def begin(self, resumed: bool):
        """Before the first step: the event file, the grids' inputs, `reals.png` and (for a new
        run) the first fakes grid, and the run's description."""
        tr, run_dir = self.trainer, self.run_dir
        if run_dir is not None:
            self._summary = tf.summary.create_file_writer(run_dir.path)
            if resumed:  # drop the ticks written after the checkpoint (they will be redone)
                run_dir.truncate_stats(tr.nimg / 1000)
        self.setup_grid()
        if run_dir is not None:
            run_dir.save_grid("reals.png", self.grid_reals, self.grid_size())
            if not resumed:
                s = tr.schedule()
                run_dir.save_grid(run_dir.fakes_name(tr.nimg),
                                  self.generate_grid(s.resolution, s.alpha), self.grid_size())
        ds, net_cfg = tr.dataset, tr.net_cfg
        self.log(f"Training for {self.cfg.total_kimg:g} kimg on {tr.num_replicas} replica(s); "
                 f"dataset {ds.tfrecord_dir} ({ds.num_images} images, "
                 f"{net_cfg.resolution}x{net_cfg.resolution}x{net_cfg.num_channels}, "
                 f"{net_cfg.label_size} labels)")
        if tr.networks.precision:
            from .precision import describe

            self.log(describe(tr.networks.precision))

    def record(self, tick, sched, tick_time, tick_kimg):
        """The stats.jsonl line of a tick: progress, timing, memory and the step statistics
        (means over the tick's applied steps)."""
        tr = self.trainer
        return {
            "tick": tick, "kimg": tr.nimg / 1000.0, "resolution": sched.resolution,
            "lod": sched.lod, "alpha": sched.alpha, "minibatch": sched.minibatch,
            "G_lrate": sched.G_lrate, "D_lrate": sched.D_lrate,
            "sec_per_tick": tick_time, "sec_per_kimg": tick_time / max(tick_kimg, 1e-9),
            "Timing/img_per_sec": tick_kimg * 1000 / max(tick_time, 1e-9),
            "total_sec": float(tr.state.train_time.numpy()),
            "peak_rss_gb": _peak_rss_gb(),
            "nonfinite_steps": int(tr.state.nonfinite_total.numpy()),
            **tr.step.totals.read_means(),
            **tr.losses.tick_statistics(),  # the augmentation probability, ADA's r_t
        }

    def tick(self, tick, sched, tick_time, tick_kimg, done):
        """Reports the tick that just ended: `tick_time` seconds for `tick_kimg` kimg; `done`
        when it is the last one."""
        record = self.record(tick, sched, tick_time, tick_kimg)
        self.log(status_line(record))
        if self.run_dir is not None:
            self._write(record, sched, tick, done)

    def _write(self, record, sched, tick, done):
        """stats.jsonl, the event file, and the image grid / snapshot / metrics when due."""
        cfg, run_dir, tr = self.cfg, self.run_dir, self.trainer
        run_dir.append_stats(record)
        with self._summary.as_default(step=tr.nimg):
            for key, value in record.items():
                if key != "tick" and isinstance(value, (int, float)):
                    tf.summary.scalar(key if "/" in key else f"Progress/{key}", value)
        if tick % cfg.image_snapshot_ticks == 0 or done:
            grid = run_dir.save_grid(run_dir.fakes_name(tr.nimg),
                                     self.generate_grid(sched.resolution, sched.alpha),
                                     self.grid_size())
            with self._summary.as_default(step=tr.nimg):
                tf.summary.image("fakes", grid[None])
        self._summary.flush()
        if tick % cfg.network_snapshot_ticks == 0 or done or tick == 1:
            path = run_dir.snapshot_path(tr.nimg)
            tr.save_snapshot(path)
            tr.evaluate_metrics(path)

    def end(self):
        """After the last tick: the training curves and `_finished.txt`."""
        if self.run_dir is not None:
            self.run_dir.plot_curves()
            self.run_dir.mark_finished(self.trainer.nimg)


def status_line(record):
    """The one line printed per tick (official: tick, kimg, time per tick and per kimg, memory,
    and with augmentation its probability), with the level, the minibatch and the losses."""
    return (f"tick {record['tick']:<5d} kimg {record['kimg']:<8.1f} "
            f"res {record['resolution']:<4d} alpha {record['alpha']:<5.3f} "
            f"minibatch {record['minibatch']:<4d} sec/tick {record['sec_per_tick']:<6.1f} "
            f"sec/kimg {record['sec_per_kimg']:<7.2f} img/s {record['Timing/img_per_sec']:<7.1f} "
            f"mem {record['peak_rss_gb']:.2f}GB G {record['Loss/G']:.3f} D {record['Loss/D']:.3f}"
            + (f" augment {record['Progress/augment']:.3f}" if "Progress/augment" in record
               else "")
            + (f" skipped {record['nonfinite_steps']}" if record["nonfinite_steps"] else ""))
