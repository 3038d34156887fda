"""The generator in the browser: a static site (`site.build_site`) and a local server for it
(`server.serve`). The page's own files are in `static/`."""
