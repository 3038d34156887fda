"""The StyleGAN paper's figures 2, 3, 4, 5 and 8 from a trained generator, of either family.

The figures follow the official `generate_figures.py` of NVlabs/stylegan (layouts, seeds, layer
ranges, truncation and noise settings), adapted to any resolution and layer count: crops are
scaled by `resolution / 1024` and the coarse / middle / fine layer ranges (0-3 / 4-7 / 8-17 of
18 layers at 1024 px) are scaled to the network's `num_layers`. Where the official figures use
random noise (figures 2 and 4) the noise is drawn statelessly from the seed, so every figure is
reproducible bit for bit on one machine.

StyleGAN2 networks get every figure, adapted:
- 3 is StyleGAN2's own style-mixing figure (the family's `style_mixing_figure`, `figures_for`),
  `stylegan2_style_mixing`: NVlabs/stylegan2
  `run_generator.py style-mixing-example` with the seeds of its README, which has no coarse /
  middle / fine split but one range of styles (`--col-styles`, default 0-6) for every row;
- 5 takes the noise maps of the paper's resolutions (`figure5_noise_ranges`): StyleGAN2 has
  one noise map per convolution, `num_layers - 1` of them, not one per dlatent row;
- 2, 4 and 8 are drawn as for StyleGAN; the default truncation of figure 2 is the network's
  (StyleGAN2: psi 0.5 on all layers, as `run_generator.py`).
"""

import os

import numpy as np
import tensorflow as tf
from PIL import Image

from apps.generation import generate_images, make_labels, synthesize, z_from_seed, z_from_seeds
from data.image_files import save_png, to_pil
from tf_stylegan.errors import UserError
from tf_stylegan.families import family_of
from tf_stylegan.images import to_uint8
from tf_stylegan.progress import track

# --- Official figure parameters (generate_figures.py) ---------------------------------------
FIG2_SEED, FIG2_LODS, FIG2_ROWS = 5, (0, 1, 2, 2, 3, 3), 3
FIG3_SRC_SEEDS = (639, 701, 687, 615, 2268)
FIG3_DST_SEEDS = (888, 829, 1898, 1733, 1614, 845)
FIG4_SEEDS, FIG4_SAMPLES, FIG4_CROP = (1157, 1012), 100, (650, 180, 906, 436)
FIG5_SEEDS, FIG5_FLIPS = (1967, 1555), (1,)
FIG8_SEEDS, FIG8_PSIS = (91, 388), (1.0, 0.7, 0.5, 0.0, -0.5, -1.0)
OFFICIAL_NUM_LAYERS = 18  # the layer ranges above are given for 1024 px

# --- StyleGAN2's style mixing (NVlabs/stylegan2 run_generator.py, style-mixing-example) ---------
# The seeds of the style-mixing recipe in NVlabs/stylegan2 README.md (run_generator.py requires
# them); `--col-styles` defaults to 0-6: the column seed's w replaces the row seed's on layers
# 0-6, which at 1024 px are the styles of the 4x4 to 32x32 convolutions.
SG2_MIX_ROW_SEEDS = (85, 100, 75, 458, 1500)
SG2_MIX_COL_SEEDS = (55, 821, 1789, 293)
SG2_MIX_COL_STYLES = range(0, 7)


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
    """Figure 2: uncurated images shown at several display sizes (official seed 5), with the
    network's default truncation as the official `Gs.run` (StyleGAN psi 0.7 on 8 layers,
    StyleGAN2 psi 0.5 on all layers).

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
    if style_ranges is None:
        coarse, middle, fine = layer_ranges(cfg.num_layers)
        style_ranges = [coarse] * 3 + [middle] * 2 + [fine]
    style_ranges = list(style_ranges) + [style_ranges[-1]] * (len(dst_seeds) - len(style_ranges))
    src_w = Gs.mapping(tf.constant(z_from_seeds(src_seeds, cfg.latent_size)),
                       make_labels(cfg, len(src_seeds), labels)).numpy()
    dst_w = Gs.mapping(tf.constant(z_from_seeds(dst_seeds, cfg.latent_size)),
                       make_labels(cfg, len(dst_seeds), labels)).numpy()
    return _style_mixing_grid(Gs, src_w, dst_w, style_ranges, "white",
                              "figure 3" if progress else False)


def stylegan2_style_mixing(Gs, labels=None, row_seeds=SG2_MIX_ROW_SEEDS,
                           col_seeds=SG2_MIX_COL_SEEDS, col_styles=None, truncation_psi=None,
                           progress=True):
    """StyleGAN2's style-mixing figure (NVlabs/stylegan2 `run_generator.py`,
    `style-mixing-example`), figure 3 for StyleGAN2 networks.

    Every seed's w is truncated on all layers, `w_avg + psi * (w - w_avg)` with the network's
    `dlatent_avg` (psi: the network's default, 0.5 as the official `--truncation-psi`); the top
    row shows the column seeds' images, the left column the row seeds' ones, and cell (r, c) the
    row seed's w with the layers `col_styles` taken from the column seed's. Stored noise
    (official `randomize_noise=False`), a black background as the official grid. `col_styles`
    defaults to the official 0-6; a network of fewer than 8 layers (16 px or less) takes all
    but its last layer from the column seed.
    """
    cfg = Gs.config
    if col_styles is None:
        col_styles = range(0, min(SG2_MIX_COL_STYLES.stop, cfg.num_layers - 1))
    psi = cfg.truncation_psi if truncation_psi is None else truncation_psi

    def truncated_w(seeds):
        w = Gs.mapping(tf.constant(z_from_seeds(seeds, cfg.latent_size)),
                       make_labels(cfg, len(seeds), labels))
        return Gs.truncate(w, psi, None).numpy()  # official: all layers

    return _style_mixing_grid(Gs, truncated_w(col_seeds), truncated_w(row_seeds),
                              [col_styles] * len(row_seeds), "black",
                              "figure 3" if progress else False)


def _style_mixing_grid(Gs, col_w, row_w, row_styles, background, progress):
    """The style-mixing grid of both families: the images of `col_w` [C, L, D] across the top,
    those of `row_w` [R, L, D] down the left; cell (r, c) renders `row_w[r]` with the layers
    `row_styles[r]` taken from `col_w[c]`. Synthesis only, stored noise."""
    res = Gs.config.resolution
    canvas = Image.new("RGB", (res * (len(col_w) + 1), res * (len(row_w) + 1)), background)
    for col, image in enumerate(synthesize(Gs, col_w)):
        canvas.paste(_rgb(image), ((col + 1) * res, 0))
    rows = enumerate(synthesize(Gs, row_w))
    if progress:
        rows = track(rows, total=len(row_w), desc=progress, unit="row", leave=False)
    for row, image in rows:
        canvas.paste(_rgb(image), (0, (row + 1) * res))
        mixed = np.repeat(row_w[row][None], len(col_w), axis=0)
        idx = list(row_styles[row])
        mixed[:, idx] = col_w[:, idx]
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


def figure5_noise_ranges(Gs):
    """Figure 5's noise settings: all, none, fine only, coarse only, as ranges of noise maps.

    StyleGAN: noise map i is layer i's; the fine layers start where `layer_ranges` puts them
    (8 of 18 at 1024 px: the paper's 64-1024 px against 4-32 px). StyleGAN2: noise map i is
    convolution i's (`num_layers - 1` maps, `synthesis.noise_shapes()`); the fine ones are those
    at least as large as the first fine StyleGAN layer of the same layer count, so at 1024 px
    again 64-1024 px (maps 7-16) against 4-32 px (maps 0-6).
    """
    num_maps = Gs.config.num_layers
    split = layer_ranges(num_maps)[2].start
    sizes = Gs.synthesis.noise_shapes()  # in layer order, growing
    if len(sizes) != num_maps:  # not a noise map per style layer: one per convolution
        first_fine_size = 2 ** (split // 2 + 2)  # StyleGAN's layer i works at 2**(i // 2 + 2)
        num_maps = len(sizes)
        split = sum(size < first_fine_size for size in sizes)
    return [range(0, num_maps), range(0, 0), range(split, num_maps), range(0, split)]


def figure5_noise_components(Gs, labels=None, seeds=FIG5_SEEDS, noise_ranges=None,
                             flips=FIG5_FLIPS, progress=True):
    """Figure 5: noise in all layers / no layers / fine layers only / coarse layers only.

    Official: the stored noise buffers, zeroed outside each range; psi 1; the second seed is
    mirrored. Each seed gets a 2x2 panel of half images (left/right halves alternate). The
    default ranges are `figure5_noise_ranges(Gs)`: all, none, [8, L) and [0, 8) at 18 layers,
    scaled as `layer_ranges` (for StyleGAN2 the noise maps of the same resolutions).
    """
    cfg = Gs.config
    res = cfg.resolution
    if noise_ranges is None:
        noise_ranges = figure5_noise_ranges(Gs)
    buffers = [tf.convert_to_tensor(b) for b in Gs.synthesis.noise_buffers]
    if not buffers:
        raise UserError("figure 5 needs a network with noise inputs (use_noise); this one has "
                        "none.")
    w = Gs.mapping(tf.constant(z_from_seeds(seeds, cfg.latent_size)),
                   make_labels(cfg, len(seeds), labels))
    all_images = []
    ranges = (track(noise_ranges, desc="figure 5", unit="image", leave=False)
              if progress else noise_ranges)
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
        rows = track(rows, desc="figure 8", unit="row", leave=False)
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
# Figure 3 by the family's `style_mixing_figure`: the StyleGAN paper's coarse / middle / fine
# rows, or NVlabs/stylegan2's grid of column styles.
STYLE_MIXING_FIGURES = {"layer-ranges": figure3_style_mixing,
                        "column-styles": stylegan2_style_mixing}


def figures_for(config):
    """{number: (file name, function)} of the figures drawn for a network of this config."""
    style_mixing = STYLE_MIXING_FIGURES[family_of(config).style_mixing_figure]
    return {**FIGURES, 3: (FIGURES[3][0], style_mixing)}


def make_figures(Gs, outdir, figures=(2, 3, 4, 5, 8), labels=None, progress=True):
    """Draws the requested paper figures into `outdir`; returns {number: path}."""
    available = figures_for(Gs.config)
    unknown = sorted(set(figures) - set(available))
    if unknown:
        raise UserError(f"unknown figure numbers {unknown}; available: {sorted(available)}")
    paths = {}
    for number in figures:
        name, fn = available[number]
        paths[number] = save_png(os.path.join(outdir, name),
                                 fn(Gs, labels=labels, progress=progress))
    return paths
