"""Animations from uint8 frames: MP4 through an installed `ffmpeg`, or GIF through Pillow."""

import os
import shutil
import subprocess
import sys

import numpy as np

from data.image_files import to_pil
from tf_stylegan.errors import UserError
from tf_stylegan.files import atomic_path


def write_animation(frames, path, fps=30):
    """Writes uint8 frames to `path`: MP4 (H.264 through an installed `ffmpeg`) or GIF (Pillow).

    A `.mp4` path without `ffmpeg` on PATH falls back to a GIF next to it (`.gif` suffix).
    Written to a temporary name and renamed (`atomic_path`). Returns the path actually written.
    """
    path = os.fspath(path)
    root, ext = os.path.splitext(path)
    ext = ext.lower()
    if ext not in (".mp4", ".gif"):
        raise UserError(f"{path}: output must end in .mp4 or .gif.")
    if fps <= 0:
        raise UserError(f"`fps` must be positive. Received: fps={fps}")
    ffmpeg = shutil.which("ffmpeg")
    if ext == ".mp4" and ffmpeg is None:
        print(f"ffmpeg not found: writing a GIF instead of {path}", file=sys.stderr)
        path, ext = root + ".gif", ".gif"
    with atomic_path(path) as tmp:
        if ext == ".mp4":
            status = _write_mp4(ffmpeg, frames, tmp, fps)
            if status != 0:  # the encoder failed, not our code (e.g. ffmpeg without libx264)
                raise UserError(f"{path}: ffmpeg exited with status {status}")
        else:
            images = [to_pil(f) for f in frames]
            if not images:
                raise ValueError("no frames to write")
            images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                           duration=int(round(1000 / fps)), loop=0)
    return path


def _write_mp4(ffmpeg, frames, path, fps):
    """Pipes the frames as raw RGB24 into `ffmpeg`, which encodes H.264 (yuv420p) to `path`;
    returns ffmpeg's exit status."""
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
        return proc.wait()
    except BaseException:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        raise
