"""The paper's figures 2, 3, 4, 5 and 8 from a trained generator.

The figures follow the official `generate_figures.py` of NVlabs/stylegan (layouts, seeds, layer
ranges, truncation and noise settings), adapted to any resolution and layer count: crops are
scaled by `resolution / 1024` and the coarse / middle / fine layer ranges (0-3 / 4-7 / 8-17 of
18 layers at 1024 px) are scaled to the network's `num_layers`. Where the official figures use
random noise (figures 2 and 4) the noise is drawn statelessly from the seed, so every figure is
reproducible bit for bit on one machine.
"""

import os

import numpy as np
import tensorflow as tf
from PIL import Image
from tqdm.auto import tqdm

from apps.generation import generate_images, make_labels, synthesize, z_from_seed, z_from_seeds
from apps.image_files import save_image, to_pil
from tf_stylegan.errors import UserError
from tf_stylegan.images import to_uint8

# --- Official figure parameters (generate_figures.py) ---------------------------------------
FIG2_SEED, FIG2_LODS, FIG2_ROWS = 5, (0, 1, 2, 2, 3, 3), 3
FIG3_SRC_SEEDS = (639, 701, 687, 615, 2268)
FIG3_DST_SEEDS = (888, 829, 1898, 1733, 1614, 845)
FIG4_SEEDS, FIG4_SAMPLES, FIG4_CROP = (1157, 1012), 100, (650, 180, 906, 436)
FIG5_SEEDS, FIG5_FLIPS = (1967, 1555), (1,)
FIG8_SEEDS, FIG8_PSIS = (91, 388), (1.0, 0.7, 0.5, 0.0, -0.5, -1.0)
OFFICIAL_NUM_LAYERS = 18  # the layer ranges above are given for 1024 px


def layer_ranges(num_layers):
    """(coarse, middle, fine) layer ranges scaled from the official 0-3 / 4-7 / 8-17 of 18.

    The split points 4 and 8 are scaled by `num_layers / 18` and rounded, keeping every range
    non-empty; at 1024 px (18 layers) this is exactly the official split.
    """
    if num_layers < 3:
        raise UserError(f"need at least 3 synthesis layers. Received: num_layers={num_layers}")
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
        raise UserError(f"figure 5 needs a network with noise inputs (use_noise); found "
                         f"{len(buffers)} noise buffers for {L} layers.")
    w = Gs.mapping(tf.constant(z_from_seeds(seeds, cfg.latent_size)),
                   make_labels(cfg, len(seeds), labels))
    all_images = []
    ranges = tqdm(noise_ranges, desc="figure 5", leave=False) if progress else noise_ranges
    for noise_range in ranges:
        noise = [b if i in noise_range else tf.zeros_like(b) for i, b in enumerate(buffers)]
        images = np.array(to_uint8(Gs.synthesis(w, noise=noise)))  # psi 1: no truncation
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
        raise UserError(f"unknown figure numbers {unknown}; available: {sorted(FIGURES)}")
    paths = {}
    for number in figures:
        name, fn = FIGURES[number]
        paths[number] = save_image(fn(Gs, labels=labels, progress=progress),
                                   os.path.join(outdir, name))
    return paths
