"""Images, grids, interpolation walks and the paper's figures from a trained generator.

The figures follow the official `generate_figures.py` of NVlabs/stylegan (layouts, seeds, layer
ranges, truncation and noise settings; see reference section 5), adapted to any resolution and
layer count: crops are scaled by `resolution / 1024` and the coarse / middle / fine layer ranges
(0-3 / 4-7 / 8-17 of 18 layers at 1024 px) are scaled to the network's `num_layers`.

Latents come from seeds as in the official scripts: `z = np.random.RandomState(seed).randn(
latent_size)`. Where the official figures use random noise (figures 2 and 4) the noise is drawn
statelessly from the seed too, so every figure is reproducible bit for bit on one machine.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import tensorflow as tf
from PIL import Image
from tqdm.auto import tqdm

# --- Official figure parameters (generate_figures.py) ---------------------------------------
FIG2_SEED, FIG2_LODS, FIG2_ROWS = 5, (0, 1, 2, 2, 3, 3), 3
FIG3_SRC_SEEDS = (639, 701, 687, 615, 2268)
FIG3_DST_SEEDS = (888, 829, 1898, 1733, 1614, 845)
FIG4_SEEDS, FIG4_SAMPLES, FIG4_CROP = (1157, 1012), 100, (650, 180, 906, 436)
FIG5_SEEDS, FIG5_FLIPS = (1967, 1555), (1,)
FIG8_SEEDS, FIG8_PSIS = (91, 388), (1.0, 0.7, 0.5, 0.0, -0.5, -1.0)
OFFICIAL_NUM_LAYERS = 18  # the layer ranges above are given for 1024 px


# --- Conversions and files -----------------------------------------------------------------
def to_uint8(images):
    """Float images in [-1, 1] -> uint8 [0, 255], as the official `convert_images_to_uint8`.

    `saturate_cast(x * 127.5 + 128)`: round half up, clip to [0, 255].
    """
    x = np.asarray(images, dtype=np.float32) * np.float32(127.5) + np.float32(128.0)
    return np.clip(x, 0, 255).astype(np.uint8)


def to_pil(image):
    """uint8 [H, W, C] -> PIL image; one channel gives mode "L", three "RGB"."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        return Image.fromarray(image[:, :, 0], "L")
    return Image.fromarray(image, "RGB")


def save_image(image, path):
    """Writes a uint8 [H, W, C] array or PIL image as PNG, atomically (temp name, rename)."""
    path = os.fspath(path)
    img = image if isinstance(image, Image.Image) else to_pil(image)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".png", dir=directory)
    os.close(fd)
    try:
        img.save(tmp, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def image_grid(images, cols=None):
    """uint8 [N, H, W, C] -> one [rows*H, cols*W, C] grid (row-major, black padding)."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    cols = cols or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    grid = np.zeros([rows * h, cols * w, c], dtype=images.dtype)
    for i, image in enumerate(images):
        r, q = divmod(i, cols)
        grid[r * h:(r + 1) * h, q * w:(q + 1) * w] = image
    return grid


# --- Latents, labels, generation -----------------------------------------------------------
def z_from_seed(seed, latent_size):
    """The official convention: `np.random.RandomState(seed).randn(latent_size)`, float32."""
    return np.random.RandomState(seed).randn(latent_size).astype(np.float32)


def z_from_seeds(seeds, latent_size):
    """[N, latent_size] float32: one `z_from_seed` row per seed."""
    return np.stack([z_from_seed(s, latent_size) for s in seeds]) if len(seeds) else \
        np.zeros([0, latent_size], np.float32)


def noise_seed(*values):
    """A stateless-RNG seed (int32 [2]) from python ints, for reproducible random noise."""
    h = 0
    for v in values:
        h = (h * 1000003 + int(v)) % (2**62)
    return tf.constant([h % 2**31, (h // 2**31) % 2**31], tf.int32)


def make_labels(config, n, labels=None):
    """Broadcasts one label vector [label_size] (or [n, label_size]) to [n, label_size].

    Returns None for unconditional networks; raises for a conditional network without labels.
    """
    if not config.label_size:
        if labels is not None:
            raise ValueError("This network is unconditional (label_size=0): do not pass labels.")
        return None
    if labels is None:
        raise ValueError(
            f"This network is conditional (label_size={config.label_size}): labels are required "
            "(generate.py: --class-idx or --labels)."
        )
    labels = np.asarray(labels, np.float32)
    if labels.ndim == 1:
        labels = np.broadcast_to(labels, [n, labels.shape[0]])
    if labels.shape != (n, config.label_size):
        raise ValueError(
            f"labels must have shape [{config.label_size}] or [{n}, {config.label_size}]. "
            f"Received: shape={labels.shape}"
        )
    return tf.constant(labels)


def one_hot(class_idx, label_size):
    """The one-hot label vector of class `class_idx`."""
    if not 0 <= class_idx < label_size:
        raise ValueError(
            f"class index must be in [0, {label_size}). Received: class_idx={class_idx}"
        )
    y = np.zeros([label_size], np.float32)
    y[class_idx] = 1
    return y


def generate_images(Gs, z, labels=None, truncation_psi=None, truncation_cutoff=None,
                    noise="random", seed=None, batch_size=8, progress=False):
    """Runs Gs on z [N, latent_size] in minibatches and returns uint8 images [N, H, W, C].

    Args:
        Gs: Generator.
        z: float [N, latent_size].
        labels: float [N, label_size] or None.
        truncation_psi, truncation_cutoff: as `Generator.__call__` (None: the config defaults).
        noise: "random" | "const" | "none".
        seed: optional python int; with random noise, minibatch b uses the stateless seed
            `noise_seed(seed, b)`, so results are reproducible.
        batch_size: images per forward pass (official figures use 8).
        progress: show a tqdm bar (bool or a description string).
    """
    z = np.asarray(z, np.float32)
    out = []
    starts = range(0, len(z), batch_size)
    if progress:
        starts = tqdm(starts, desc=progress if isinstance(progress, str) else "generate",
                      unit="batch", leave=False)
    for b, i in enumerate(starts):
        batch_labels = None if labels is None else labels[i:i + batch_size]
        s = None if seed is None else noise_seed(seed, b)
        images = Gs(tf.constant(z[i:i + batch_size]), batch_labels,
                    truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                    noise=noise, seed=s)
        out.append(to_uint8(images))
    return np.concatenate(out) if out else np.zeros([0], np.uint8)


def synthesize(Gs, w, noise="const", seed=None):
    """uint8 images of dlatents w [N, num_layers, dlatent_size] (synthesis only, no truncation)."""
    return to_uint8(Gs.synthesis(tf.constant(np.asarray(w, np.float32)), noise=noise, seed=seed))


def layer_ranges(num_layers):
    """(coarse, middle, fine) layer ranges scaled from the official 0-3 / 4-7 / 8-17 of 18.

    The split points 4 and 8 are scaled by `num_layers / 18` and rounded, keeping every range
    non-empty; at 1024 px (18 layers) this is exactly the official split.
    """
    if num_layers < 3:
        raise ValueError(f"need at least 3 synthesis layers. Received: num_layers={num_layers}")
    a = min(max(1, round(4 * num_layers / OFFICIAL_NUM_LAYERS)), num_layers - 2)
    b = min(max(a + 1, round(8 * num_layers / OFFICIAL_NUM_LAYERS)), num_layers - 1)
    return range(0, a), range(a, b), range(b, num_layers)


def _rgb(image):
    return to_pil(image).convert("RGB")


def _scale_box(box, resolution):
    s = resolution / 1024
    x0, y0, x1, y1 = (int(round(v * s)) for v in box)
    return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)


# --- The paper's figures ---------------------------------------------------------------------
def figure2_uncurated(Gs, labels=None, seed=FIG2_SEED, lods=FIG2_LODS, rows=FIG2_ROWS,
                      min_size=8, progress=True):
    """Figure 2: uncurated images shown at several display sizes (official seed 5, psi 0.7).

    Column k holds `rows * 2**lods[k]` images downscaled by `2**lods[k]` (Lanczos), as the
    official `draw_uncurated_result_figure`. Display LODs whose tiles would be smaller than
    `min_size` px are dropped for small networks. Random noise (official default), seeded.
    """
    cfg = Gs.config
    res = cfg.resolution
    lods = [lod for lod in lods if res >> lod >= min_size] or [0]
    n = sum(rows * 2**lod for lod in lods)
    z = np.random.RandomState(seed).randn(n, cfg.latent_size).astype(np.float32)
    images = generate_images(Gs, z, make_labels(cfg, n, labels), noise="random", seed=seed,
                             progress="figure 2" if progress else False)
    canvas = Image.new("RGB", (sum(res >> lod for lod in lods), res * rows), "white")
    it = iter(images)
    x = 0
    for lod in lods:
        size = res >> lod
        for row in range(rows * 2**lod):
            tile = _rgb(next(it)).resize((size, size), Image.LANCZOS)
            canvas.paste(tile, (x, row * size))
        x += size
    return canvas


def figure3_style_mixing(Gs, labels=None, src_seeds=FIG3_SRC_SEEDS, dst_seeds=FIG3_DST_SEEDS,
                         style_ranges=None, progress=True):
    """Figure 3: style mixing. Row r copies the styles of `style_ranges[r]` from each source.

    Official: mapping then synthesis (no truncation), stored noise; rows 1-3 take the coarse
    styles of the sources, rows 4-5 the middle ones, row 6 the fine ones (`layer_ranges`).
    """
    cfg = Gs.config
    res = cfg.resolution
    if style_ranges is None:
        coarse, middle, fine = layer_ranges(cfg.num_layers)
        style_ranges = [coarse] * 3 + [middle] * 2 + [fine]
    style_ranges = list(style_ranges) + [style_ranges[-1]] * (len(dst_seeds) - len(style_ranges))
    src_w = Gs.mapping(tf.constant(z_from_seeds(src_seeds, cfg.latent_size)),
                       make_labels(cfg, len(src_seeds), labels)).numpy()
    dst_w = Gs.mapping(tf.constant(z_from_seeds(dst_seeds, cfg.latent_size)),
                       make_labels(cfg, len(dst_seeds), labels)).numpy()
    canvas = Image.new("RGB", (res * (len(src_seeds) + 1), res * (len(dst_seeds) + 1)), "white")
    for col, image in enumerate(synthesize(Gs, src_w)):
        canvas.paste(_rgb(image), ((col + 1) * res, 0))
    dst_images = synthesize(Gs, dst_w)
    rows = enumerate(dst_images)
    if progress:
        rows = tqdm(rows, total=len(dst_seeds), desc="figure 3", unit="row", leave=False)
    for row, image in rows:
        canvas.paste(_rgb(image), (0, (row + 1) * res))
        mixed = np.repeat(dst_w[row][None], len(src_seeds), axis=0)
        idx = list(style_ranges[row])
        mixed[:, idx] = src_w[:, idx]
        for col, image in enumerate(synthesize(Gs, mixed)):
            canvas.paste(_rgb(image), ((col + 1) * res, (row + 1) * res))
    return canvas


def noise_std_map(images):
    """Per-pixel std over samples of the channel-mean image, x4 (official figure 4), uint8."""
    diff = np.std(np.mean(np.asarray(images, np.float64), axis=3), axis=0) * 4
    return np.clip(diff + 0.5, 0, 255).astype(np.uint8)


def figure4_noise_detail(Gs, labels=None, seeds=FIG4_SEEDS, num_samples=FIG4_SAMPLES,
                         crop=FIG4_CROP, progress=True):
    """Figure 4: one latent rendered `num_samples` times with different random noise (psi 1).

    Each row: a sample; four crops (official box (650,180,906,436) at 1024, scaled) of other
    samples, nearest-upscaled; the per-pixel standard deviation map over all samples, x4.
    """
    cfg = Gs.config
    res = cfg.resolution
    box = _scale_box(crop, res)
    canvas = Image.new("RGB", (res * 3, res * len(seeds)), "white")
    for row, seed in enumerate(seeds):
        z = np.repeat(z_from_seed(seed, cfg.latent_size)[None], num_samples, axis=0)
        images = generate_images(Gs, z, make_labels(cfg, num_samples, labels),
                                 truncation_psi=1.0, noise="random", seed=seed,
                                 progress=f"figure 4 seed {seed}" if progress else False)
        canvas.paste(_rgb(images[0]), (0, row * res))
        for i in range(4):
            tile = _rgb(images[i + 1]).crop(box).resize((res // 2, res // 2), Image.NEAREST)
            canvas.paste(tile, (res + (i % 2) * (res // 2), row * res + (i // 2) * (res // 2)))
        canvas.paste(Image.fromarray(noise_std_map(images), "L"), (res * 2, row * res))
    return canvas


def figure5_noise_components(Gs, labels=None, seeds=FIG5_SEEDS, noise_ranges=None,
                             flips=FIG5_FLIPS, progress=True):
    """Figure 5: noise in all layers / no layers / fine layers only / coarse layers only.

    Official: the stored noise buffers, zeroed outside each range; psi 1; the second seed is
    mirrored. Each seed gets a 2x2 panel of half images (left/right halves alternate). The
    ranges are all, none, [8, L) and [0, 8) at 18 layers, scaled as `layer_ranges`.
    """
    cfg = Gs.config
    res = cfg.resolution
    L = cfg.num_layers
    if noise_ranges is None:
        split = layer_ranges(L)[2].start
        noise_ranges = [range(0, L), range(0, 0), range(split, L), range(0, split)]
    buffers = [tf.convert_to_tensor(b) for b in Gs.synthesis.noise_buffers]
    if len(buffers) != L:
        raise ValueError(f"figure 5 needs a network with noise inputs (use_noise); found "
                         f"{len(buffers)} noise buffers for {L} layers.")
    w = Gs.mapping(tf.constant(z_from_seeds(seeds, cfg.latent_size)),
                   make_labels(cfg, len(seeds), labels))
    all_images = []
    ranges = tqdm(noise_ranges, desc="figure 5", leave=False) if progress else noise_ranges
    for noise_range in ranges:
        noise = [b if i in noise_range else tf.zeros_like(b) for i, b in enumerate(buffers)]
        images = to_uint8(Gs.synthesis(w, noise=noise))  # psi 1: no truncation
        images[list(flips)] = images[list(flips), :, ::-1]
        all_images.append(images)
    canvas = Image.new("RGB", (res * len(seeds), res * 2), "white")
    half = res // 2
    for col in range(len(seeds)):
        panels = [_rgb(images[col]) for images in all_images]
        canvas.paste(panels[0].crop((0, 0, half, res)), (col * res, 0))
        canvas.paste(panels[1].crop((half, 0, res, res)), (col * res + half, 0))
        canvas.paste(panels[2].crop((0, 0, half, res)), (col * res, res))
        canvas.paste(panels[3].crop((half, 0, res, res)), (col * res + half, res))
    return canvas


def figure8_truncation(Gs, labels=None, seeds=FIG8_SEEDS, psis=FIG8_PSIS, progress=True):
    """Figure 8: the truncation trick, psi in (1, 0.7, 0.5, 0, -0.5, -1), on ALL layers.

    Official: `w' = avg + psi * (w - avg)` on every layer (no cutoff), stored noise.
    """
    cfg = Gs.config
    res = cfg.resolution
    w = Gs.mapping(tf.constant(z_from_seeds(seeds, cfg.latent_size)),
                   make_labels(cfg, len(seeds), labels))
    canvas = Image.new("RGB", (res * len(psis), res * len(seeds)), "white")
    rows = range(len(seeds))
    if progress:
        rows = tqdm(rows, desc="figure 8", unit="row", leave=False)
    for row in rows:
        row_w = tf.concat([Gs.truncate(w[row:row + 1], psi, None) for psi in psis], axis=0)
        for col, image in enumerate(synthesize(Gs, row_w)):
            canvas.paste(_rgb(image), (col * res, row * res))
    return canvas


FIGURES = {
    2: ("figure02-uncurated.png", figure2_uncurated),
    3: ("figure03-style-mixing.png", figure3_style_mixing),
    4: ("figure04-noise-detail.png", figure4_noise_detail),
    5: ("figure05-noise-components.png", figure5_noise_components),
    8: ("figure08-truncation-trick.png", figure8_truncation),
}


def make_figures(Gs, outdir, figures=(2, 3, 4, 5, 8), labels=None, progress=True):
    """Draws the requested paper figures into `outdir`; returns {number: path}."""
    unknown = sorted(set(figures) - set(FIGURES))
    if unknown:
        raise ValueError(f"unknown figure numbers {unknown}; available: {sorted(FIGURES)}")
    paths = {}
    for number in figures:
        name, fn = FIGURES[number]
        paths[number] = save_image(fn(Gs, labels=labels, progress=progress),
                                   os.path.join(outdir, name))
    return paths


# --- Interpolation -------------------------------------------------------------------------
def slerp(a, b, t):
    """Spherical interpolation of directions, linear interpolation of norms."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    ua, ub = a / na, b / nb
    d = np.clip(np.dot(ua, ub), -1.0, 1.0)
    theta = np.arccos(d)
    if theta < 1e-6:
        u = ua
    else:
        u = (np.sin((1 - t) * theta) * ua + np.sin(t * theta) * ub) / np.sin(theta)
    return (u * ((1 - t) * na + t * nb)).astype(np.float32)


def interpolation_frames(Gs, seeds, space="z", frames=60, loop=False, labels=None,
                         truncation_psi=None, truncation_cutoff=None, noise="const",
                         batch_size=8, progress=True):
    """Yields uint8 frames [H, W, C] walking through the latents of `seeds`.

    `space="z"`: slerp between the z of consecutive seeds, then map. `space="w"`: lerp between
    their w. Truncation (default: the config's psi/cutoff) is applied to each frame's w; the
    stored noise keeps the frames coherent. `frames` frames per transition (the endpoint seed
    starts the next one); with `loop` the walk returns to the first seed, otherwise the last
    seed's image ends it.
    """
    if space not in ("z", "w"):
        raise ValueError(f"`space` must be 'z' or 'w'. Received: space={space!r}")
    seeds = list(seeds)
    if len(seeds) < 2:
        raise ValueError(f"interpolation needs at least 2 seeds. Received: seeds={seeds}")
    if frames < 1:
        raise ValueError(f"`frames` must be >= 1. Received: frames={frames}")
    cfg = Gs.config
    keys = seeds + seeds[:1] if loop else seeds
    z_keys = z_from_seeds(keys, cfg.latent_size)
    steps = [(k, j / frames) for k in range(len(keys) - 1) for j in range(frames)]
    if not loop:
        steps.append((len(keys) - 2, 1.0))
    if space == "w":
        w_keys = Gs.mapping(tf.constant(z_keys), make_labels(cfg, len(keys), labels)).numpy()
    psi = cfg.truncation_psi if truncation_psi is None else truncation_psi
    cutoff = cfg.truncation_cutoff if truncation_cutoff is None else truncation_cutoff
    bar = tqdm(total=len(steps), desc="interpolate", unit="frame", disable=not progress,
               leave=False)
    for i in range(0, len(steps), batch_size):
        chunk = steps[i:i + batch_size]
        if space == "z":
            z = np.stack([slerp(z_keys[k], z_keys[k + 1], t) for k, t in chunk])
            w = Gs.mapping(tf.constant(z), make_labels(cfg, len(chunk), labels))
        else:
            w = tf.constant(np.stack([(1 - t) * w_keys[k] + t * w_keys[k + 1]
                                      for k, t in chunk]).astype(np.float32))
        w = Gs.truncate(w, psi, cutoff)
        yield from to_uint8(Gs.synthesis(w, noise=noise))
        bar.update(len(chunk))
    bar.close()


def write_animation(frames, path, fps=30):
    """Writes uint8 frames to `path`: MP4 (H.264 through an installed `ffmpeg`) or GIF (Pillow).

    A `.mp4` path without `ffmpeg` on PATH falls back to a GIF next to it (`.gif` suffix).
    Written to a temporary name and renamed. Returns the path actually written.
    """
    path = os.fspath(path)
    root, ext = os.path.splitext(path)
    ext = ext.lower()
    if ext not in (".mp4", ".gif"):
        raise ValueError(f"{path}: output must end in .mp4 or .gif.")
    if fps <= 0:
        raise ValueError(f"`fps` must be positive. Received: fps={fps}")
    ffmpeg = shutil.which("ffmpeg")
    if ext == ".mp4" and ffmpeg is None:
        print(f"ffmpeg not found: writing a GIF instead of {path}", file=sys.stderr)
        path, ext = root + ".gif", ".gif"
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=ext, dir=directory)
    os.close(fd)
    try:
        if ext == ".mp4":
            _write_mp4(ffmpeg, frames, tmp, fps)
        else:
            images = [to_pil(f) for f in frames]
            if not images:
                raise ValueError("no frames to write")
            images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                           duration=int(round(1000 / fps)), loop=0)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def _write_mp4(ffmpeg, frames, path, fps):
    proc = None
    try:
        for frame in frames:
            frame = np.asarray(frame)
            if frame.shape[-1] == 1:
                frame = np.repeat(frame, 3, axis=-1)
            if proc is None:
                h, w = frame.shape[:2]
                cmd = [ffmpeg, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
                       "-s", f"{w}x{h}", "-r", str(fps), "-i", "-", "-an", "-c:v", "libx264",
                       "-pix_fmt", "yuv420p", "-f", "mp4", path]
                proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
            proc.stdin.write(np.ascontiguousarray(frame, np.uint8).tobytes())
        if proc is None:
            raise ValueError("no frames to write")
        proc.stdin.close()
        if proc.wait() != 0:
            raise RuntimeError(f"{path}: ffmpeg exited with status {proc.returncode}")
    except BaseException:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        raise
