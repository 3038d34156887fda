"""What the StyleGAN2 step minimizes: the official losses with lazy regularization, fed as
NVlabs/stylegan2 `training/training_loop.py` feeds them (`training/loss.py`:
`G_logistic_ns_pathreg`, `D_logistic_r1`).

The phases of a step, in the official order (training_loop.py, the minibatch loop):
  1. "G": non-saturating logistic loss on fakes of fresh latents with random dataset labels.
  2. "G_reg", on every `G_reg_interval`-th step (4), the first included: the path-length
     penalty on a separate G pass of `minibatch_gpu / pl_batch_shrink` fresh latents per pass,
     times `pl_weight * G_reg_interval` (the registered loss is `reg * interval`, so the
     regularizer keeps its average strength).
  3. "Gs": the moving average of G.
  4. "D": logistic loss on the reals (mirror only: no growing) and fakes with the reals'
     labels, without R1.
  5. "D_reg", on every `D_reg_interval`-th step (16), the first included: R1 on the same reals,
     times `gamma / 2 * D_reg_interval`.
Each regularization phase is one more Adam step of its network's optimizer, which shares the
main step's moments (official `share=G_opt`); the optimizers' learning rates and betas carry
the `interval / (interval + 1)` rescaling (`TrainingConfig.optimizer_ratio`).

Without lazy regularization (`TrainingConfig.lazy`: configs A and B) R1 is part of every "D"
step, times gamma / 2 (official `D_loss += D_reg`), and no phase is extra.

Progressive growing (configs A-D: networks of a progressive family, `NetworkFamily.progressive`)
runs G and D at the schedule's level with its fade-in alpha, as the StyleGAN losses do: the
reals are faded as the official `process_reals` does (FadeLOD: `lerp(x, up(box(x)), 1 -
alpha)`), and R1 is rescaled by `losses.r1_scale_for(level, full)` because the official R1 is
taken with respect to the nearest-upscaled full-size reals. The path-length noise is divided
by the level's sqrt(H * W): summed over each nearest-upscaled block, the official full-size
noise `N(0, 1) / res` has that distribution, and the mean over the dlatent rows still runs over
all `num_layers` rows, those the level does not use having a zero gradient, as officially.

The running mean of the path lengths, `pl_mean`, is one value per replica, as the official code
keeps one variable per GPU: a tf.Variable synchronized on read, so each replica reads and
updates its own copy, once per pass that runs the regularizer (each official GPU updates its
variable at every accumulation round). Checkpoints store the mean of the replicas' values
(exact on one device). An update whose mean would be non-finite leaves it unchanged (the
official code would keep a NaN forever; such a step is skipped anyway).

With discriminator augmentation (`cfg.aug`, StyleGAN2-ADA, stylegan2-ada-pytorch
`training/loss.py:50-126`) every image D sees goes through `augment`
(`training/adaptive_augment.py`): the fakes of "G" and "D", the reals of "D" and of "D_reg",
whose R1 is taken with respect to the un-augmented reals; the path-length pass never calls D.
The real signs of "D" and "D_reg" feed the ADA window.
"""

from __future__ import annotations

import tensorflow as tf

from tf_stylegan import rng
from tf_stylegan.families import family_of

from . import losses
from .adaptive_augment import FAKES, REALS
from .stylegan_losses import StyleGANLosses
from .stylegan_losses import process_reals as process_growing_reals

__all__ = ["StyleGAN2Losses", "process_reals"]


def process_reals(images):
    """uint8 NHWC -> float32 in [-1, 1] (official `process_reals` at lod 0: the dynamic range;
    the mirror augment is the reader's)."""
    return tf.cast(images, tf.float32) * (2.0 / 255.0) - 1.0


class StyleGAN2Losses(StyleGANLosses):
    """The StyleGAN2 losses wired to the step's phases (see the module docstring).

    Args:
        cfg: TrainingConfig whose `training_losses` are "stylegan2" (r1_gamma, pl_*,
            *_reg_interval, minibatch_gpu, minibatch_gpu_dict, lazy_regularization).
        networks: training.trained_networks.Networks of any family (progressive ones grow).
        dataset_labels: [num_images, label_size] array of the dataset's labels (random rows of
            it condition G's fakes, as officially); ignored without labels.
        strategy: the run's tf.distribute.Strategy (`pl_mean` is created in its scope).

    Attributes:
        pl_mean: tf.Variable, the running mean of the path lengths (per replica).
    """

    def __init__(self, cfg, networks, dataset_labels=None, strategy=None):
        super().__init__(cfg, networks, dataset_labels, strategy)
        self.r1_gamma = float(cfg.r1_gamma)
        self.pl_weight = float(cfg.pl_weight)
        self.pl_decay = float(cfg.pl_decay)
        self.pl_batch_shrink = int(cfg.pl_batch_shrink)
        self.minibatch_gpu = cfg.minibatch_gpu
        self.progressive = family_of(networks.G).progressive
        # Without lazy regularization R1 is a term of every D step.
        self.r1_in_D = not cfg.lazy and self.r1_gamma != 0.0
        self.reg_intervals = {}
        if cfg.reg_interval("G"):
            self.reg_intervals["G_reg"] = cfg.reg_interval("G")
        if cfg.reg_interval("D"):
            self.reg_intervals["D_reg"] = cfg.reg_interval("D")
        self.PHASES = tuple(p for p in ("G", "G_reg", "Gs", "D", "D_reg")
                            if p in ("G", "Gs", "D") or p in self.reg_intervals)
        self.stat_names = {
            "G": (),
            "G_reg": ("Loss/pl_lengths", "Loss/pl_penalty", "Loss/pl_mean"),
            "D": ("Loss/scores/real", "Loss/scores/fake")
            + (("Loss/gradient_penalty",) if self.r1_in_D else ()) + self.sign_stats(),
            "D_reg": ("Loss/gradient_penalty",),
        }
        strategy = strategy or tf.distribute.get_strategy()
        with strategy.scope():
            self.pl_mean = tf.Variable(
                0.0, dtype=tf.float32, trainable=False, name="pl_mean",
                synchronization=tf.VariableSynchronization.ON_READ,
                aggregation=tf.VariableAggregation.MEAN)

    # -- What TrainStep reads ----------------------------------------------------------------------
    def loss(self, phase):
        """The loss function of `phase` ("G", "G_reg", "D" or "D_reg")."""
        return {"G": self.G_loss, "G_reg": self.G_reg_loss, "D": self.D_loss,
                "D_reg": self.D_reg_loss}[phase]

    @staticmethod
    def phase_seeds(seed):
        """{phase: seed} of the step seeded `seed`."""
        seeds = rng.split(seed, 4)
        return {"G": seeds[0], "G_reg": seeds[1], "D": seeds[2], "D_reg": seeds[3]}

    def pass_size(self, replica_batch, resolution=None):
        """Samples per pass at the level `resolution`: `minibatch_gpu_at(resolution)`
        (`minibatch_gpu` when no level is given; the whole replica batch when None)."""
        size = self.minibatch_gpu if resolution is None else self.cfg.minibatch_gpu_at(resolution)
        size = size or replica_batch
        if replica_batch % size:
            raise ValueError(f"a replica's batch of {replica_batch} does not split into passes "
                             f"of minibatch_gpu={size}")
        return size

    def variables_by_name(self):
        """The losses' own state, checkpointed as `losses/<name>`: the path-length mean and the
        augmentation's state."""
        return {"pl_mean": self.pl_mean, **super().variables_by_name()}

    # -- Networks ----------------------------------------------------------------------------------
    def generate(self, replica, z, labels, resolution, alpha, seed, return_dlatents=False):
        """G's training-mode images (style mixing, dlatent_avg update, random noise), float32;
        the noise and the mixing are drawn from this pass's own seed. A progressive G runs at
        the level `resolution` with the fade-in `alpha`; the others at full resolution."""
        level = {"resolution": resolution, "alpha": alpha} if self.progressive else {}
        out = self.G(z, labels, training=True, seed=replica.own_seed(seed),
                     return_dlatents=return_dlatents, **level)
        if return_dlatents:
            return tf.cast(out[0], tf.float32), out[1]
        return tf.cast(out, tf.float32)

    def discriminate(self, images, labels, alpha):
        if self.progressive:
            return tf.cast(self.D(images, labels, alpha=alpha), tf.float32)
        return tf.cast(self.D(images, labels), tf.float32)

    def process(self, reals, alpha):
        """The reals as D sees them: [-1, 1], faded during a fade-in when growing."""
        return process_growing_reals(reals, alpha) if self.progressive else process_reals(reals)

    def r1_scale(self, resolution):
        """`losses.r1_scale_for` of the level (1 at full resolution)."""
        return losses.r1_scale_for(resolution, self.dataset_resolution)

    def _random_labels(self, replica, num, seed):
        """This pass's rows of `num` random dataset label rows (None without labels)."""
        if self.dataset_labels is None:
            return None
        rows = rng.stateless_randint([num], seed, 0, int(self.dataset_labels.shape[0]))
        return tf.gather(self.dataset_labels, replica.rows(rows))

    # -- The losses --------------------------------------------------------------------------------
    # G's main loss is StyleGAN's `G_loss` (official `G_logistic_ns` = `G_logistic_nonsaturating`).

    def D_loss(self, replica, resolution, reals, labels, alpha, seed):
        """D's logistic loss on this pass's reals and fakes of fresh latents with the reals'
        labels; R1 is the separate "D_reg" phase, or a term of this loss without lazy
        regularization."""
        s = rng.split(seed, 2)
        z = self.latents(replica, s[0])
        labels = labels if self.label_size else None

        def G_fn(z, labels):  # D's update must not reach into G
            return tf.stop_gradient(self.generate(replica, z, labels, resolution, alpha, s[1]))

        # r1_gamma 0: the plain logistic loss, no penalty term.
        loss, terms = losses.D_logistic_r1(
            G_fn, self.D_view(replica, seed, FAKES, alpha), z, self.process(reals, alpha),
            labels, r1_gamma=self.r1_gamma if self.r1_in_D else 0.0,
            r1_scale=self.r1_scale(resolution),
            D_real_fn=self.D_view(replica, seed, REALS, alpha))
        stats = {"Loss/scores/real": terms["real_scores"],
                 "Loss/scores/fake": terms["fake_scores"]}
        if self.r1_in_D:
            stats["Loss/gradient_penalty"] = terms["r1_penalty"]
        return loss, self.report_real_scores(terms["real_scores"], stats)

    def D_reg_loss(self, replica, resolution, reals, labels, alpha, seed):
        """R1 on this pass's reals, times gamma / 2 and the interval."""
        labels = labels if self.label_size else None
        penalty, real_scores = losses.r1_penalty(self.D_view(replica, seed, REALS, alpha),
                                                 self.process(reals, alpha), labels)
        penalty = penalty * self.r1_scale(resolution)
        # Only the window counts these signs: the phase's statistics are the penalty's.
        self.report_real_scores(real_scores, {})
        weight = self.r1_gamma * 0.5 * self.reg_intervals["D_reg"]
        return penalty * weight, {"Loss/gradient_penalty": penalty}

    def G_reg_loss(self, replica, resolution, reals, labels, alpha, seed):
        """The path-length penalty of a separate G pass on `global_batch / pl_batch_shrink`
        fresh latents with random dataset labels (this pass's rows of them), times
        `pl_weight` and the interval; updates this replica's `pl_mean`."""
        s = rng.split(seed, 4)
        num = replica.global_batch // self.pl_batch_shrink
        z = replica.rows(rng.stateless_normal([num, self.latent_size], s[0]))
        pl_labels = self._random_labels(replica, num, s[1])

        def G_fn(z, labels):
            return self.generate(replica, z, labels, resolution, alpha, s[2],
                                 return_dlatents=True)

        old = self.pl_mean.read_value()
        penalty, lengths, new_mean = losses.path_length_penalty(
            G_fn, z, pl_labels, old, self.pl_decay, replica.own_seed(s[3]))
        self.pl_mean.assign(tf.where(tf.math.is_finite(new_mean), new_mean, old))
        weight = self.pl_weight * self.reg_intervals["G_reg"]
        return penalty * weight, {"Loss/pl_lengths": lengths, "Loss/pl_penalty": penalty,
                                  "Loss/pl_mean": tf.fill(tf.shape(lengths), new_mean)}
