"""A local static file server for the site of `generate.py web` (`generate.py web --serve`).

Any static server works (`python -m http.server`); this one also sends the two headers that make
the page cross-origin isolated (`Cross-Origin-Opener-Policy: same-origin`,
`Cross-Origin-Embedder-Policy: require-corp`), which browsers require before they give a page
the SharedArrayBuffer that multi-threaded WebAssembly needs; the page then runs ONNX Runtime
with several threads. It serves files only (no directory listings), and logs nothing.
"""

import functools
import http.server
import os
import signal
import sys
import threading

from tf_stylegan.errors import UserError

# .mjs must be served as JavaScript for the browser to import it as a module, and .wasm as
# application/wasm for streaming compilation; older Pythons know neither.
MIME_TYPES = {".mjs": "text/javascript", ".wasm": "application/wasm", ".onnx":
              "application/octet-stream", ".bin": "application/octet-stream"}


class SiteHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the site directory with cross-origin isolation headers and quiet logs."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **MIME_TYPES}

    def end_headers(self):
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def list_directory(self, path):
        self.send_error(404, "No directory listings")
        return None

    def log_message(self, format, *args):
        pass


class SiteServer(http.server.ThreadingHTTPServer):
    """A threading HTTP server that does not print a traceback when a browser drops a
    connection (closing a tab mid-download is not an error)."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


def serve(directory, host="127.0.0.1", port=8000):
    """Starts serving `directory` in a background thread and returns the server.

    `server.server_address` gives the (host, port) bound (port 0 picks a free port); stop it
    with `server.shutdown()` and `server.server_close()`.

    Raises:
        UserError: `directory` has no index.html, or the port cannot be bound.
    """
    directory = os.path.abspath(os.fspath(directory))
    if not os.path.isfile(os.path.join(directory, "index.html")):
        raise UserError(f"{directory}: not a site of `generate.py web` (no index.html).")
    handler = functools.partial(SiteHandler, directory=directory)
    try:
        server = SiteServer((host, port), handler)
    except OSError as e:
        raise UserError(f"--port {port}: cannot serve on {host}:{port} ({e.strerror}).") \
            from None
    threading.Thread(target=server.serve_forever, name="site-server", daemon=True).start()
    return server


def url(server):
    """http://host:port/ of a running server."""
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/"


def serve_until_interrupted(directory, host="127.0.0.1", port=8000, echo=print):
    """Serves `directory` (`serve`) until Ctrl+C (SIGINT), then stops the server.

    The server runs in its own thread; the main thread waits in half-second steps, because a
    signal delivered to another thread does not interrupt an untimed wait of the main thread.
    A process started with SIGINT ignored or blocked (inherited from its parent) would never
    stop on Ctrl+C, so SIGINT's default handler is taken back and the signal unblocked.
    """
    server = serve(directory, host=host, port=port)
    echo(f"Serving {directory} at {url(server)} (Ctrl+C to stop)")
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        stop = threading.Event()
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
