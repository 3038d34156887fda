"""Adaptive discriminator augmentation in training: the pipe D's inputs go through, its
probability p, and the overfitting heuristic that moves p (StyleGAN2-ADA, Karras et al. 2020,
arXiv 2006.06676, sections 2.3 and 3).

Where it acts (stylegan2-ada-pytorch `training/loss.py:50-126`). Every image the discriminator
sees is augmented, with draws of its own: the fakes of the G loss (G's gradient flows back
through the pipe), the fakes and reals of the D loss, and the reals of the R1 penalty, which is
taken with respect to the un-augmented reals, through the pipe. The losses objects
(`stylegan_losses`, `stylegan2_losses`) call `augment` on each of those D inputs; Gs, the image
grids, snapshots and metrics never go through it. The draws are stateless: each D input of a
pass is seeded by the phase's step seed, a tag of the input (`FAKES`, `REALS`) and the pass's
slot among all passes of all replicas (`ReplicaBatch.own_seed`), so each replica and each
accumulation pass draws its own augmentations (as each official GPU does, training_loop.py:
125-126) and a resumed run draws what the uninterrupted one would.

The heuristic (`ADA`, training_loop.py:311-315, `training/ada.py`). The signs of D's outputs
on the augmented reals are summed, with their count, over every real pass of the window: the D
loss and the R1 pass (D_reg) of every replica and accumulation pass, i.e. the global batch. Each
replica adds its own to float64 variables synchronized on read, zeroed when a step begins; at
the end of the step they are read (summed over the replicas and workers, as the official
Collector all-reduces its float64 counters) into the window's sums, ordinary (mirrored)
variables, so that saving a checkpoint reads no replica-local value (under
MultiWorkerMirroredStrategy that read would be a collective the other workers do not join).
After every `interval` (4) steps, r_t = sum / count (float64, so an exact tie such as
24/40 = 0.6 is no step) and p <- max(p + sign(r_t - target) * global_batch * interval /
(ada_kimg * 1000), 0), float32, no upper clamp; the window starts again. This runs at the end
of the traced step (no host sync). A window in which no real score was finite leaves p
unchanged (the official code would take the previous window's mean); non-finite scores (a step
that is then skipped) are not counted.

State. p, the window's sums and its step count, and the last r_t are variables, checkpointed
with the losses' own state (`variables_by_name`, as `losses/augment/...`), so a run killed in
the middle of a window resumes bit-exactly; the official code restarts p at `augment_p` on
resume (training_loop.py:155-160), here a continued run keeps it. A transfer from a network
file starts a fresh p, as officially.

Small images. `imgfilter` needs H, W >= 22 (its reflect padding of 21, augment.py:390-400,
fails below). Progressive growing runs D at 4x4 .. 16x16 first: at levels smaller than 22
pixels the pipe runs without imgfilter (every other op, with the same draws), and the full
pipe from 32x32 on.

Precision. The pipe computes in float32 whatever the networks' policy. Under the oneDNN
bfloat16 rewrite (`training/precision.py`) its sym6 up- and down-sampling (depthwise
convolutions) and the bilinear sampling between them run in bfloat16, like every convolution
of the step, while its matrices and the colour transform (matrix products,
`precision.KEEP_FLOAT32`) stay float32; tests/training/test_ada_precision.py compares the
augmented phases with float32 there and under XLA (static padding).
"""

from __future__ import annotations

import math

import tensorflow as tf

from tf_stylegan import rng
from tf_stylegan.augment import AUGMENT_PRESETS, AugmentPipe
from tf_stylegan.errors import UserError

from . import ada

__all__ = ["AUGMENT_MODES", "FAKES", "REALS", "AdaptiveAugment", "check_augment_options"]

# --aug values (official train.py:226-252): no pipe, p adapted by the heuristic, p fixed.
AUGMENT_MODES = ("noaug", "ada", "fixed")
# Tags of the D inputs a pass augments: each gets draws of its own.
FAKES = 0x41464B  # "AFK"
REALS = 0x41524C  # "ARL"
# The smallest side the imgfilter stage takes (official: reflect padding of 21).
IMGFILTER_MIN_SIZE = 22


def check_augment_options(cfg):
    """Raises a UserError for augmentation options of a TrainingConfig that the official
    train.py refuses (`--p` / `--target` in [0, 1]) or that have no meaning here."""
    if cfg.aug not in AUGMENT_MODES:
        raise UserError(f"`aug` must be one of {list(AUGMENT_MODES)}. Received: aug={cfg.aug!r}")
    if cfg.augpipe not in AUGMENT_PRESETS:
        raise UserError(f"`augpipe` must be one of {list(AUGMENT_PRESETS)}. "
                        f"Received: augpipe={cfg.augpipe!r}")
    for name in ("augment_p", "ada_target"):
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not 0 <= value <= 1:
            raise UserError(f"`{name}` must be a number in [0, 1]. Received: {name}={value!r}")
    value = cfg.ada_kimg
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 \
            or not math.isfinite(value):
        raise UserError(f"`ada_kimg` must be a number > 0. Received: ada_kimg={value!r}")
    value = cfg.ada_interval
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"`ada_interval` must be an int >= 1. Received: ada_interval={value!r}")
    if cfg.aug != "noaug" and cfg.loss != "logistic":
        raise UserError(f"adaptive discriminator augmentation is defined for the logistic loss "
                        f"with R1 (StyleGAN2-ADA); it does not combine with loss={cfg.loss!r}. "
                        f"Received: aug={cfg.aug!r}")


class AdaptiveAugment:
    """The augmentation of D's inputs during training, with its probability p (see the module
    docstring).

    Args:
        mode: "ada" (p follows the heuristic from `p`) or "fixed" (p stays `p`).
        augpipe: str. The `--augpipe` preset (`tf_stylegan.augment.AUGMENT_PRESETS`).
        p: float. The initial (ada) or constant (fixed) probability.
        target: float. The heuristic's target r_t (0.6).
        interval: int. Steps between two adjustments of p (4).
        ada_kimg: float. kimg of real images in which p can move by 1 (500; 100 on transfer).
        static_padding: bool. The pipe's geometric padding (`AugmentPipe`): static shapes
            (needed by XLA) or the batch's own margin (less work, not XLA-compilable).
        strategy: the run's tf.distribute.Strategy; the variables are created in its scope.

    Attributes:
        pipe: AugmentPipe of `augpipe`; `small_pipe` the same without imgfilter (D inputs
            smaller than 22 pixels).
        p: float32 tf.Variable, the probability used by the step (mirrored over replicas).
        sign_sum, sign_count: float64 tf.Variables: the sum of the real signs of the current
            window's finished steps and how many there are ("ada" only).
        step_sum, step_count: float64 tf.Variables synchronized on read (each replica's own,
            summed when read): the same for the step that runs ("ada" only; not checkpointed,
            zeroed by `begin_step`).
        window_steps: int64 tf.Variable, steps run in the current window ("ada" only).
        r_t: float64 tf.Variable, r_t of the last completed window (NaN before the first).
    """

    def __init__(self, mode, augpipe, *, p=0.0, target=ada.ADA_TARGET,
                 interval=ada.ADA_INTERVAL, ada_kimg=ada.ADA_KIMG, static_padding=True,
                 strategy=None):
        if mode not in ("ada", "fixed"):
            raise ValueError(f"mode must be 'ada' or 'fixed'. Received: mode={mode!r}")
        self.mode = mode
        self.augpipe = augpipe
        self.target = float(target)
        self.interval = int(interval)
        self.ada_kimg = float(ada_kimg)
        self.pipe = AugmentPipe.from_preset(augpipe, static_padding=static_padding)
        self.small_pipe = self.pipe
        if self.pipe.spec.enabled("imgfilter"):
            self.small_pipe = AugmentPipe.from_preset(augpipe, static_padding=static_padding,
                                                      imgfilter=0.0)
        strategy = strategy or tf.distribute.get_strategy()
        with strategy.scope():
            self.p = tf.Variable(float(p), dtype=tf.float32, trainable=False, name="augment_p")
            if self.adaptive:
                summed = dict(dtype=tf.float64, trainable=False,
                              synchronization=tf.VariableSynchronization.ON_READ,
                              aggregation=tf.VariableAggregation.SUM)
                self.step_sum = tf.Variable(0.0, name="step_sum", **summed)
                self.step_count = tf.Variable(0.0, name="step_count", **summed)
                window = dict(dtype=tf.float64, trainable=False)
                self.sign_sum = tf.Variable(0.0, name="sign_sum", **window)
                self.sign_count = tf.Variable(0.0, name="sign_count", **window)
                self.window_steps = tf.Variable(0, dtype=tf.int64, trainable=False,
                                                name="window_steps")
                self.r_t = tf.Variable(math.nan, dtype=tf.float64, trainable=False, name="r_t")

    @classmethod
    def from_config(cls, cfg, strategy=None):
        """The augmentation of a TrainingConfig (`aug`, `augpipe`, `augment_p`, `ada_target`,
        `ada_interval`, `ada_kimg`; static padding with `xla`), or None for `aug: noaug` and for
        a fixed p of 0 (officially the pipe exists only with ADA or a fixed p > 0,
        training_loop.py:174-176; with ADA it runs from p = 0)."""
        if cfg.aug == "noaug" or (cfg.aug == "fixed" and cfg.augment_p == 0):
            return None
        return cls(cfg.aug, cfg.augpipe, p=cfg.augment_p, target=cfg.ada_target,
                   interval=cfg.ada_interval, ada_kimg=cfg.ada_kimg,
                   static_padding=bool(cfg.xla), strategy=strategy)

    @property
    def adaptive(self) -> bool:
        """True when p follows the heuristic ("ada")."""
        return self.mode == "ada"

    # -- In a replica ------------------------------------------------------------------------------
    def __call__(self, images, seed):
        """`images` [B, H, W, C] float (in about [-1, 1]) augmented with probability p, with the
        draws of `seed` (int32 [2]); differentiable with respect to `images`."""
        pipe = self.pipe if min(images.shape[1], images.shape[2]) >= IMGFILTER_MIN_SIZE \
            else self.small_pipe
        return tf.ensure_shape(pipe(images, self.p.read_value(), seed), images.shape)

    @staticmethod
    def seed(replica, seed, tag):
        """The draws' seed of the D input `tag` (FAKES, REALS) of this pass: the phase's seed
        folded with the tag, then with the pass's slot (`ReplicaBatch.own_seed`)."""
        return replica.own_seed(rng.fold_in(seed, tag))

    def report_real_scores(self, scores):
        """Adds the signs of D's scores of augmented reals [N] (or [N, 1]) to the step's: their
        sum and how many are finite ("ada" only; nothing outside a replica, and what is
        reported outside a training step, e.g. by `TrainStep.loss_values`, is dropped when the
        next step begins)."""
        if not self.adaptive or tf.distribute.in_cross_replica_context():
            return
        scores = tf.reshape(tf.cast(scores, tf.float32), [-1])
        finite = tf.math.is_finite(scores)
        signs = tf.where(finite, tf.sign(scores), tf.zeros_like(scores))
        self.step_sum.assign_add(tf.reduce_sum(tf.cast(signs, tf.float64)))
        self.step_count.assign_add(tf.reduce_sum(tf.cast(finite, tf.float64)))

    # -- Around a step (cross-replica, traced) ---------------------------------------------------
    def begin_step(self):
        """Zeroes the step's sign sums (called by the traced step before its phases)."""
        if self.adaptive:
            self.step_sum.assign(tf.zeros([], tf.float64))
            self.step_count.assign(tf.zeros([], tf.float64))

    def end_step(self, global_batch):
        """Adds the step's signs (all replicas) to the window; after `interval` steps, adjusts p
        from the window's r_t (official rule, `ada.adjust`, with the step's global minibatch)
        and starts a new window. Called once per step by the traced step, after its phases."""
        if not self.adaptive:
            return
        total = self.sign_sum.read_value() + self.step_sum.read_value()
        count = self.sign_count.read_value() + self.step_count.read_value()
        steps = self.window_steps.read_value() + 1
        due = steps >= self.interval
        r = total / tf.maximum(count, 1.0)
        p = self.p.read_value()
        new_p = ada.adjust(p, r, global_batch, self.interval, self.ada_kimg, self.target)
        update = tf.logical_and(due, count > 0)
        self.p.assign(tf.where(update, new_p, p))
        self.r_t.assign(tf.where(update, r, self.r_t.read_value()))
        zero = tf.zeros([], tf.float64)
        self.sign_sum.assign(tf.where(due, zero, total))
        self.sign_count.assign(tf.where(due, zero, count))
        self.window_steps.assign(tf.where(due, tf.zeros_like(steps), steps))

    # -- State -------------------------------------------------------------------------------------
    def variables_by_name(self) -> dict:
        """{name: tf.Variable} of the state checkpoints hold (under `losses/augment/`)."""
        out = {"augment/p": self.p}
        if self.adaptive:
            out.update({"augment/sign_sum": self.sign_sum, "augment/sign_count": self.sign_count,
                        "augment/window_steps": self.window_steps, "augment/r_t": self.r_t})
        return out

    def tick_statistics(self) -> dict:
        """What a tick reports (host reads at the tick boundary): `Progress/augment` (p, as the
        official stats.jsonl names it) and, once a window has completed, `Progress/ada_r_t`."""
        out = {"Progress/augment": float(self.p.numpy())}
        if self.adaptive:
            r_t = float(self.r_t.numpy())
            if math.isfinite(r_t):
                out["Progress/ada_r_t"] = r_t
        return out
