"""`python -m bench.photo_crops`: a folder of small natural-image crops for limited-data runs.

The demo digits cannot show ADA's heuristic at work: at the demo's widths G copies even 10 of
them well enough that D never separates its training reals from the fakes by a wide margin
(`python -m bench.d_overfitting`, bench/RESULTS.md). Natural images are harder to copy. Only
the package registries are reachable here, so the photographs come from two packages the
environment pins anyway: scikit-learn's `load_sample_images` (china.jpg, flower.jpg) and
matplotlib's sample data (grace_hopper.jpg), read from the installed wheels, never downloaded.

Each crop is a random square of a random photograph, `--min-side` to `--max-side` pixels of it
on a side, resized (Lanczos) to `--resolution` and mirrored half the time. The crops of a seed
come in one fixed order, so the first 100 of `--count 5000` are `--count 100` of the same seed:
a small set is a subset of the large one, and the rest of the large one is its held-out reals.

    python -m bench.photo_crops data/photos100 --count 100
    python dataset_tool.py create_from_images datasets/photos100 data/photos100

Writes `crop000000.png`, ... (each to a temporary name, then renamed).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

__all__ = ["crop_boxes", "main", "photographs", "write_crops"]


def photographs():
    """(name, RGB uint8 [H, W, 3]) of the sample photographs the installed wheels ship."""
    import matplotlib.cbook
    import sklearn.datasets
    from PIL import Image

    photos = list(zip(("china.jpg", "flower.jpg"), sklearn.datasets.load_sample_images().images))
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        photos.append(("grace_hopper.jpg", np.asarray(Image.open(f).convert("RGB"))))
    return [(name, np.asarray(image, dtype=np.uint8)) for name, image in photos]


def crop_boxes(shapes, count, min_side, max_side, seed):
    """`count` rows (photo index, top, left, side, mirror) drawn from one seeded generator, one
    crop after another, so a longer list starts with a shorter one. `shapes` are the photos'
    (H, W)."""
    if not 1 <= min_side <= max_side:
        raise ValueError(f"need 1 <= --min-side <= --max-side, got {min_side} and {max_side}")
    smallest = min(min(shape) for shape in shapes)
    if max_side > smallest:
        raise ValueError(f"--max-side {max_side} is larger than the smallest photo side {smallest}")
    rng = np.random.default_rng(seed)
    boxes = []
    for _ in range(count):
        photo = int(rng.integers(len(shapes)))
        side = int(rng.integers(min_side, max_side + 1))
        height, width = shapes[photo]
        top = int(rng.integers(height - side + 1))
        left = int(rng.integers(width - side + 1))
        boxes.append((photo, top, left, side, bool(rng.integers(2))))
    return boxes


def write_crops(out_dir, count, resolution=32, min_side=64, max_side=192, seed=0):
    """Write `count` crops as PNGs to `out_dir`; returns their paths."""
    from PIL import Image

    from tf_stylegan.files import atomic_path

    photos = photographs()
    boxes = crop_boxes([p[1].shape[:2] for p in photos], count, min_side, max_side, seed)
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for i, (photo, top, left, side, mirror) in enumerate(boxes):
        crop = Image.fromarray(photos[photo][1][top:top + side, left:left + side])
        crop = crop.resize((resolution, resolution), Image.LANCZOS)
        if mirror:
            crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
        path = os.path.join(out_dir, f"crop{i:06d}.png")
        with atomic_path(path) as tmp:
            crop.save(tmp, format="PNG")
        paths.append(path)
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.photo_crops",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", help="folder to write the PNG crops to")
    parser.add_argument("--count", type=int, default=100, help="how many crops (default 100)")
    parser.add_argument("--resolution", type=int, default=32,
                        help="side of each crop in pixels (default 32)")
    parser.add_argument("--min-side", type=int, default=64,
                        help="smallest crop side in photo pixels (default 64)")
    parser.add_argument("--max-side", type=int, default=192,
                        help="largest crop side in photo pixels (default 192)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    if args.count < 1 or args.resolution < 1:
        parser.error("--count and --resolution must be positive")
    try:
        paths = write_crops(args.out_dir, args.count, args.resolution, args.min_side,
                            args.max_side, args.seed)
    except ValueError as e:
        parser.error(str(e))
    print(f"wrote {len(paths)} crops of {args.resolution}x{args.resolution} to {args.out_dir}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
