"""What the StyleGAN step minimizes: the official losses fed as NVlabs/stylegan
`training/training_loop.py` feeds them (`training/loss.py`: `G_logistic_nonsaturating`,
`D_logistic_simplegp`, or WGAN-GP), with progressive growing.

The phases of a step, in the official order (`D_train_op`, `Gs_update_op`, then `G_train_op`):
  1. "D": `D_logistic_r1` (or `D_wgan_gp`) on a real minibatch processed as the official
     `process_reals` does and fakes from G with `training=True`, with the reals' labels; R1 is
     part of every D step.
  2. "Gs": the moving average of G (`training/step.py`).
  3. "G": non-saturating logistic (or WGAN) with random rows of the dataset labels.

With discriminator augmentation (`cfg.aug`, StyleGAN2-ADA; off by default, as StyleGAN has
none) every image D sees goes through `augment` (`training/adaptive_augment.py`): the fakes of
both losses and the reals of the D loss, R1 taken with respect to the un-augmented reals; D
runs at the level's resolution, so the pipe does too (without imgfilter below 22 pixels).
"""

from __future__ import annotations

import tensorflow as tf

from tf_stylegan import rng
from tf_stylegan.layers import downscale2d, upscale2d

from . import losses
from .adaptive_augment import FAKES, REALS, AdaptiveAugment

__all__ = ["StyleGANLosses", "process_reals"]


def process_reals(images, alpha):
    """Official `process_reals` minus mirror (done by the reader) and the upscale to full size.

    uint8 NHWC -> float32 in [-1, 1]; during a fade-in (alpha < 1) the image is blended with its
    2x2 box-downscaled, nearest-upscaled copy: `lerp(x, up(down(x)), 1 - alpha)` (official
    FadeLOD with `frac(lod) = 1 - alpha`). 4x4 images are returned unfaded.
    """
    x = tf.cast(images, tf.float32) * (2.0 / 255.0) - 1.0
    if x.shape[1] is not None and x.shape[1] <= 4:
        return x
    y = upscale2d(downscale2d(x))
    t = 1.0 - tf.cast(alpha, tf.float32)
    return x + (y - x) * t


class StyleGANLosses:
    """What the StyleGAN step minimizes: the official losses (`training/loss.py`) fed with latents,
    labels, reals and G's fakes as the official training loop feeds them.

    Args:
        cfg: TrainingConfig (loss, r1_gamma, wgan_*).
        networks: training.trained_networks.Networks.
        dataset_labels: [num_images, label_size] array of the dataset's labels (G's labels are
            random rows of it, as the official G loss draws them); ignored without labels.
        strategy: the run's tf.distribute.Strategy: the losses' own state (the augmentation's
            p and window; StyleGAN2's path-length mean) is created in its scope.

    `D_loss` and `G_loss` run in one replica and return `(loss [batch], stats)`: the per-sample
    loss and {statistic name: per-sample values}; the step reports the global mean of each.

    What `TrainStep` reads (StyleGAN2Losses has the same):
        PHASES: the step's phases in order; "Gs" is the moving average. StyleGAN: D, Gs, G.
        reg_intervals: {phase: interval} of the lazy regularization phases (none here: R1 is
            part of D's loss at every step).
        stat_names: {phase: extra statistics its loss reports}.
        loss(phase), phase_seeds(seed), pass_size(replica_batch), variables_by_name(),
        begin_step() and end_step(global_batch) (around the phases of every step).

    Attributes:
        augment: training.adaptive_augment.AdaptiveAugment, or None without augmentation.
    """

    PHASES = ("D", "Gs", "G")
    reg_intervals: dict = {}

    def __init__(self, cfg, networks, dataset_labels=None, strategy=None):
        self.cfg = cfg
        self.augment = AdaptiveAugment.from_config(cfg, strategy)
        self.G, self.D = networks.G, networks.D
        net_cfg = networks.G.config
        self.latent_size = net_cfg.latent_size
        self.dataset_resolution = net_cfg.resolution
        self.label_size = net_cfg.label_size
        self.dataset_labels = (tf.constant(dataset_labels, tf.float32) if net_cfg.label_size
                               else None)
        penalty = "Loss/r1_penalty" if cfg.loss == "logistic" else "Loss/gradient_penalty"
        # The statistics each loss reports besides the loss itself (reported as Loss/<network>).
        self.stat_names = {"D": ("Loss/scores/real", "Loss/scores/fake", penalty)
                           + self.sign_stats(), "G": ()}

    def sign_stats(self):
        """With augmentation, the D phase also reports `Loss/signs/real`, the mean sign of D's
        outputs on the augmented reals (official `training/loss.py:113-114`)."""
        return ("Loss/signs/real",) if self.augment is not None else ()

    def latents(self, replica, seed):
        """This replica's rows of N(0, 1) latents drawn for the global batch."""
        z = rng.stateless_normal([replica.global_batch, self.latent_size], seed)
        return replica.rows(z)

    def generate(self, replica, z, labels, resolution, alpha, seed):
        """G's training-mode images (style mixing, dlatent_avg update, random noise), float32;
        the noise and the mixing are drawn from this replica's own seed."""
        images = self.G(z, labels, resolution=resolution, alpha=alpha, training=True,
                        seed=replica.own_seed(seed))
        return tf.cast(images, tf.float32)

    def discriminate(self, images, labels, alpha):
        return tf.cast(self.D(images, labels, alpha=alpha), tf.float32)

    def D_view(self, replica, seed, tag, alpha):
        """`D_fn(images, labels)` as the losses call D on one of a pass's inputs (`tag`:
        adaptive_augment.FAKES or REALS): the images augmented with that input's own draws
        first when the run augments, D alone otherwise."""
        if self.augment is None:
            return lambda images, labels: self.discriminate(images, labels, alpha)
        aug_seed = self.augment.seed(replica, seed, tag)
        return lambda images, labels: self.discriminate(self.augment(images, aug_seed), labels,
                                                        alpha)

    def report_real_scores(self, scores, stats):
        """Adds the signs of D's scores of augmented reals to the ADA window and, with
        augmentation, to the phase's statistics `stats` as `Loss/signs/real`."""
        if self.augment is not None:
            self.augment.report_real_scores(scores)
            stats["Loss/signs/real"] = tf.sign(scores)
        return stats

    def D_loss(self, replica, resolution, reals, labels, alpha, seed):
        """D's loss on this replica's reals (uint8) and fakes of fresh latents with the reals'
        labels. R1 is rescaled by `r1_scale_for(level, full)` (the WGAN-GP norm by
        `grad_norm_scale_for`) because our D runs at the level's resolution instead of on
        nearest-upscaled full-resolution images (see training/losses.py)."""
        cfg = self.cfg
        s = rng.split(seed, 3)
        z = self.latents(replica, s[0])
        labels = labels if self.label_size else None

        def G_fn(z, labels):  # D's update must not reach into G
            return tf.stop_gradient(self.generate(replica, z, labels, resolution, alpha, s[1]))

        D_fn = self.D_view(replica, seed, FAKES, alpha)
        reals = process_reals(reals, alpha)
        if cfg.loss == "logistic":
            loss, terms = losses.D_logistic_r1(
                G_fn, D_fn, z, reals, labels, r1_gamma=cfg.r1_gamma,
                r1_scale=losses.r1_scale_for(resolution, self.dataset_resolution),
                D_real_fn=self.D_view(replica, seed, REALS, alpha))
            penalty = ("Loss/r1_penalty", terms.get("r1_penalty", tf.zeros_like(loss)))
        else:
            u = replica.rows(rng.stateless_uniform([replica.global_batch], s[2]))
            loss, terms = losses.D_wgan_gp(
                G_fn, D_fn, z, reals, labels, wgan_lambda=cfg.wgan_lambda,
                wgan_epsilon=cfg.wgan_epsilon, wgan_target=cfg.wgan_target,
                grad_norm_scale=losses.grad_norm_scale_for(resolution, self.dataset_resolution),
                mixing_factors=u)
            penalty = ("Loss/gradient_penalty", terms["gradient_penalty"])
        return loss, self.report_real_scores(terms["real_scores"], {
            "Loss/scores/real": terms["real_scores"], "Loss/scores/fake": terms["fake_scores"],
            penalty[0]: penalty[1]})

    def G_loss(self, replica, resolution, reals, labels, alpha, seed):
        """G's loss on fakes of fresh latents with random dataset labels (`reals` and `labels`,
        the minibatch D sees, are not used: the official G loss draws its own)."""
        s = rng.split(seed, 3)
        z = self.latents(replica, s[0])
        labels = None
        if self.dataset_labels is not None:
            rows = rng.stateless_randint([replica.global_batch], s[1], 0,
                                         int(self.dataset_labels.shape[0]))
            labels = tf.gather(self.dataset_labels, replica.rows(rows))

        def G_fn(z, labels):
            return self.generate(replica, z, labels, resolution, alpha, s[2])

        D_fn = self.D_view(replica, seed, FAKES, alpha)
        if self.cfg.loss == "logistic":
            return losses.G_logistic_nonsaturating(G_fn, D_fn, z, labels), {}
        return losses.G_wgan(G_fn, D_fn, z, labels), {}

    def loss(self, phase):
        """The loss function of `phase` ("D" or "G")."""
        return {"D": self.D_loss, "G": self.G_loss}[phase]

    @staticmethod
    def phase_seeds(seed):
        """{"D": seed, "G": seed}: the seeds of the two updates of the step seeded `seed`."""
        seeds = rng.split(seed, 2)
        return {"D": seeds[0], "G": seeds[1]}

    @staticmethod
    def pass_size(replica_batch, resolution=None):
        """Samples per pass: StyleGAN runs each replica's batch in one pass at every level."""
        return replica_batch

    def variables_by_name(self):
        """The losses' own state to checkpoint (as `losses/<name>`): the augmentation's p and
        ADA window (`augment/...`), none without augmentation."""
        return self.augment.variables_by_name() if self.augment is not None else {}

    def begin_step(self):
        """Before the phases of a step (cross-replica, traced): the ADA step sums start at 0."""
        if self.augment is not None:
            self.augment.begin_step()

    def end_step(self, global_batch):
        """After the phases of a step of `global_batch` samples (cross-replica, traced): the
        ADA window and p (`AdaptiveAugment.end_step`)."""
        if self.augment is not None:
            self.augment.end_step(global_batch)

    def tick_statistics(self):
        """{name: float} a tick reports besides the step statistics: the augmentation
        probability `Progress/augment` and ADA's last r_t (host reads)."""
        return self.augment.tick_statistics() if self.augment is not None else {}

    def snapshot_metadata(self):
        """What a network snapshot records of the losses' state: `augment_p`, the probability
        at the snapshot (the official pickle holds the augment pipe with its p)."""
        if self.augment is None:
            return {}
        return {"augment_p": float(self.augment.p.numpy())}
