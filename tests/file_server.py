"""A local HTTP file server for the download tests (127.0.0.1 only, in a thread).

It serves `files` ({path: bytes}) with `Range: bytes=N-` support (206 and Content-Range, 416
past the end), records every request's path and Range header, and can misbehave on demand:
`cut[path] = n` sends only the first n bytes of the next response for `path` (with the full
Content-Length) and closes the connection; `ignore_range = True` answers every request with the
whole file (200); `types[path]` sets a Content-Type.
"""

import http.server
import re
import threading


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: a cut body ends the transfer

    def do_GET(self):  # noqa: N802 (http.server's name)
        server = self.server
        asked = self.headers.get("Range")
        server.requests.append((self.path, asked))
        body = server.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        start, status = 0, 200
        if asked and not server.ignore_range:
            match = re.fullmatch(r"bytes=(\d+)-", asked)
            start, status = int(match.group(1)), 206
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        self.send_response(status)
        self.send_header("Content-Type", server.types.get(self.path, "application/octet-stream"))
        self.send_header("Content-Length", str(len(body) - start))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.end_headers()
        cut = server.cut.pop(self.path, None)
        self.wfile.write(body[start:] if cut is None else body[start:start + cut])

    def log_message(self, *args):  # keep the test output clean
        pass


class FileServer:
    """Context manager: `with FileServer({"/a.pkl": data}) as s: s.url("/a.pkl")`."""

    def __init__(self, files):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.files = dict(files)
        self.httpd.requests, self.httpd.cut, self.httpd.types = [], {}, {}
        self.httpd.ignore_range = False
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)

    def url(self, path):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    @property
    def requests(self):
        return self.httpd.requests

    @property
    def cut(self):
        return self.httpd.cut

    @property
    def types(self):
        return self.httpd.types

    def ignore_range(self, value=True):
        self.httpd.ignore_range = value
