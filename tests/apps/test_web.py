"""The generator in the browser (generate.py web): the site built from official-layout pickles
of both families, opened in headless Chromium from a local server on 127.0.0.1. The images of
the page are compared with the Python generator's for the same latents and settings."""

import io
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from apps.figures import layer_ranges
from apps.web.server import serve, url
from apps.web.site import build_site
from tests.apps.browser import chromium_context
from tests.paths import FIXTURES
from tf_stylegan.images import to_uint8
from tf_stylegan.snapshot import load_network

pytestmark = pytest.mark.large  # about a minute: three sites, one browser

NETWORKS = {
    "stylegan": os.path.join(FIXTURES, "official", "official-r32.pkl"),
    "stylegan2": os.path.join(FIXTURES, "official-stylegan2", "stylegan2-r32.pkl"),
    "conditional": os.path.join(FIXTURES, "official", "official-r16-labels3.pkl"),
}
# Where the README's screenshot is written when set (tests always write one to tmp).
SCREENSHOT = os.environ.get("TF_STYLEGAN_WEB_SCREENSHOT")


@pytest.fixture(scope="module")
def browser():
    with chromium_context() as context:
        yield context


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    """{name: (Gs, base url)}: each network's site, served from 127.0.0.1."""
    out, servers = {}, []
    for name, pkl in NETWORKS.items():
        _, _, Gs = load_network(pkl)
        # The StyleGAN site keeps the default title: its screenshot is the README's.
        site = build_site(Gs, tmp_path_factory.mktemp("site") / name,
                          title=None if name == "stylegan" else f"Test {name}")
        server = serve(site, port=0)
        servers.append(server)
        out[name] = (Gs, url(server))
    yield out
    for server in servers:
        server.shutdown()
        server.server_close()


class Page:
    """The page's controls and its canvas, as a person would use them."""

    def __init__(self, context, address):
        self.page = context.new_page()
        self.errors = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(address)
        self.page.wait_for_selector("body[data-state=ready]", timeout=60_000)
        self.wait_rendered()

    def wait_rendered(self):
        self.page.wait_for_function(
            "() => { const c = document.getElementById('canvas');"
            " return c.dataset.rendered === c.dataset.pending"
            " && document.body.dataset.state === 'ready'; }", timeout=60_000)
        assert not self.errors, self.errors

    def set(self, selector, value):
        """Types into a field, moves a slider or picks an option; waits for the new image."""
        kind = self.page.eval_on_selector(selector, "el => el.tagName + ':' + el.type")
        if kind == "INPUT:range":  # a slider: move it as a drag does (value + input event)
            self.page.eval_on_selector(
                selector, "(el, v) => { el.value = v;"
                " el.dispatchEvent(new Event('input', {bubbles: true})); }", str(value))
        elif kind.startswith("SELECT"):
            self.page.select_option(selector, str(value))
        else:
            self.page.fill(selector, str(value))
        self.wait_rendered()

    def click(self, selector):
        self.page.click(selector)
        self.wait_rendered()

    def pixels(self):
        """The canvas as uint8 RGB [H, W, 3]."""
        data = self.page.evaluate(
            "() => { const c = document.getElementById('canvas');"
            " return [c.width, c.height,"
            " Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)]; }")
        w, h, rgba = data
        return np.asarray(rgba, np.uint8).reshape(h, w, 4)[..., :3]

    def ms_per_image(self):
        return float(self.page.eval_on_selector("#canvas", "c => c.dataset.msPerImage"))


def python_image(Gs, seed, psi, cutoff=None, noise="const", class_idx=None, mix=None):
    """uint8 RGB [H, W, 3] of the Python generator: z = RandomState(seed).randn, as
    generate.py; `mix` = (seed2, layer range) takes those layers' w from seed2 (figure 3)."""
    cfg = Gs.config

    def z_of(s):
        return tf.constant(np.random.RandomState(s).randn(1, cfg.latent_size), tf.float32)

    labels = None
    if class_idx is not None:
        labels = tf.constant(np.eye(cfg.label_size, dtype=np.float32)[[class_idx]])
    w = Gs.mapping(z_of(seed), labels).numpy()
    if mix is not None:
        seed2, layers = mix
        w[:, layers] = Gs.mapping(z_of(seed2), labels).numpy()[:, layers]
    w = Gs.truncate(tf.constant(w), psi, cutoff)
    image = np.asarray(to_uint8(Gs.synthesis(w, noise=noise)))[0]
    return np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image


def mean_diff(a, b):
    return np.abs(a.astype(int) - b.astype(int)).mean()


def test_page_latents_are_numpys(sites, browser):
    page = Page(browser, sites["stylegan"][1])
    for seed in (0, 1, 5, 123456789, 2**32 - 1):
        got = np.asarray(page.page.evaluate(
            f"() => Array.from(StyleGANLatent.randn({seed}, 512))"), np.float64)
        want = np.random.RandomState(seed).randn(512)
        np.testing.assert_array_equal(got.astype(np.float32), want.astype(np.float32))
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=0)
    with pytest.raises(Exception, match="seed must be an integer"):
        page.page.evaluate("() => StyleGANLatent.randn(-1, 4)")


def test_stylegan_page_matches_python_and_controls_work(sites, browser, tmp_path):
    Gs, address = sites["stylegan"]
    page = Page(browser, address)
    assert page.page.is_visible("#cutoff-row") and not page.page.is_visible("#class-row")
    page.set("#seed", 5)
    page.set("#psi", 0.7)
    page.set("#noise", "stored")
    image = page.pixels()
    want = python_image(Gs, 5, 0.7, cutoff=8)
    assert image.shape == want.shape == (32, 32, 3)
    diff = mean_diff(image, want)
    print(f"\nseed 5, psi 0.7: mean |page - Python| = {diff:.4f} uint8 levels (max "
          f"{np.abs(image.astype(int) - want.astype(int)).max()}); "
          f"{page.ms_per_image():.1f} ms per image in the browser")
    assert diff <= 2
    page.page.screenshot(path=str(tmp_path / "page.png"))
    if SCREENSHOT:
        page.page.screenshot(path=SCREENSHOT)

    # Every control changes the image, to what Python computes for the same settings.
    page.set("#psi", 0.3)
    psi03 = page.pixels()
    assert mean_diff(psi03, image) > 5
    assert mean_diff(psi03, python_image(Gs, 5, 0.3, cutoff=8)) <= 2
    page.set("#cutoff", 2)
    assert mean_diff(page.pixels(), python_image(Gs, 5, 0.3, cutoff=2)) <= 2
    page.set("#cutoff", 8)
    coarse = layer_ranges(Gs.config.num_layers)[0]
    page.set("#mix-seed", 11)
    page.set("#mix-range", "coarse")
    mixed = page.pixels()
    assert mean_diff(mixed, psi03) > 5
    assert mean_diff(mixed, python_image(Gs, 5, 0.3, cutoff=8, mix=(11, coarse))) <= 2
    page.set("#mix-range", "")
    page.set("#noise", "off")
    assert mean_diff(page.pixels(), python_image(Gs, 5, 0.3, cutoff=8, noise="none")) <= 2
    page.set("#noise", "random")
    random1 = page.pixels()
    page.click("#redraw")
    random2 = page.pixels()
    assert mean_diff(random1, psi03) > 1 and mean_diff(random2, random1) > 1
    page.set("#noise", "stored")
    page.set("#seed", 6)
    assert mean_diff(page.pixels(), python_image(Gs, 6, 0.3, cutoff=8)) <= 2

    # A 2 x 2 grid of seeds 6..9, row-major.
    page.set("#grid", 4)
    grid = page.pixels()
    assert grid.shape == (64, 64, 3)
    for i, seed in enumerate(range(6, 10)):
        r, c = divmod(i, 2)
        tile = grid[32 * r:32 * (r + 1), 32 * c:32 * (c + 1)]
        assert mean_diff(tile, python_image(Gs, seed, 0.3, cutoff=8)) <= 2

    # The random button picks a new seed; the download is the canvas as a PNG.
    page.set("#grid", 1)
    page.click("#random")
    assert page.page.input_value("#seed") != "6"
    with page.page.expect_download() as download:
        page.page.click("#download")
    png = np.asarray(Image.open(io.BytesIO(open(download.value.path(), "rb").read())))
    np.testing.assert_array_equal(png[..., :3], page.pixels())
    assert download.value.suggested_filename == \
        f"stylegan-seed{page.page.input_value('#seed')}.png"


def test_stylegan2_page_matches_python(sites, browser):
    Gs, address = sites["stylegan2"]
    page = Page(browser, address)
    assert not page.page.is_visible("#cutoff-row")  # StyleGAN2 truncates every layer
    assert page.page.input_value("#psi") == "0.5"  # the network's default
    page.set("#seed", 3)
    page.set("#psi", 0.7)
    image = page.pixels()
    diff = mean_diff(image, python_image(Gs, 3, 0.7))
    print(f"\nStyleGAN2 seed 3, psi 0.7: mean |page - Python| = {diff:.4f}; "
          f"{page.ms_per_image():.1f} ms per image")
    assert diff <= 2
    page.set("#mix-seed", 4)
    page.set("#mix-range", "fine")
    fine = layer_ranges(Gs.config.num_layers)[2]
    mixed = page.pixels()
    assert mean_diff(mixed, image) > 1
    assert mean_diff(mixed, python_image(Gs, 3, 0.7, mix=(4, fine))) <= 2


def test_conditional_class_picker(sites, browser):
    Gs, address = sites["conditional"]
    page = Page(browser, address)
    assert page.page.is_visible("#class-row")
    options = page.page.eval_on_selector_all("#class option", "els => els.map(e => e.value)")
    assert options == ["0", "1", "2"]
    page.set("#seed", 2)
    page.set("#psi", 0.7)
    images = {}
    for k in (0, 2):
        page.set("#class", k)
        images[k] = page.pixels()
        assert mean_diff(images[k], python_image(Gs, 2, 0.7, cutoff=8, class_idx=k)) <= 2
    assert mean_diff(images[0], images[2]) > 5
