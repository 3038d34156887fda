"""Applications on top of the library, used by the command-line tools (never by tf_stylegan)."""
