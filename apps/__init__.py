"""Applications built on the tf_stylegan library: what generate.py and the other command-line
tools do (images, the paper's figures, interpolation videos, CLI error handling).

Like NVIDIA's scripts, these run from the repository; they are not part of the installed
`tf_stylegan` package, which never imports them.
"""
