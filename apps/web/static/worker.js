// Runs the generator off the main thread: latents, mapping, truncation, style mixing, noise,
// synthesis (ONNX Runtime Web, WebAssembly) and the uint8 conversion. Messages:
//   in:  {type: "render", id, request}  (request: see app.js `currentRequest`)
//   out: {type: "ready", info, page} | {type: "image", id, index, pixels, size}
//        | {type: "done", id, msPerImage, count} | {type: "error", message}
// Renders run one at a time; one that a newer request supersedes stops between images.
'use strict';
importScripts('latent.js', 'lib/ort.wasm.min.js');

let info = null;        // model/generator.json
let page = null;        // model/page.json
let sessions = null;    // {mapping, synthesis}: ort.InferenceSession
let storedNoise = null; // Float32Array per noise input: the stored buffers (noise.bin)
let latestId = -1;
const mappingCache = new Map(); // "seed/class" -> Float32Array w [num_layers * dlatent_size]

async function fetchOk(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response;
}

async function init() {
  info = await (await fetchOk('model/generator.json')).json();
  page = await (await fetchOk('model/page.json')).json();
  const flat = new Float32Array(await (await fetchOk('model/noise.bin')).arrayBuffer());
  storedNoise = [];
  let offset = 0;
  for (const size of info.noise_sizes) {
    storedNoise.push(flat.subarray(offset, offset + size * size));
    offset += size * size;
  }
  ort.env.wasm.wasmPaths = new URL('lib/', self.location.href).href;
  // Several threads need SharedArrayBuffer, which browsers give only to cross-origin isolated
  // pages (`generate.py web --serve` sends the headers; a plain static server does not).
  ort.env.wasm.numThreads = self.crossOriginIsolated ?
    Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) : 1;
  const options = { executionProviders: ['wasm'], graphOptimizationLevel: 'all' };
  sessions = {
    mapping: await ort.InferenceSession.create(`model/${info.models.mapping.file}`, options),
    synthesis: await ort.InferenceSession.create(`model/${info.models.synthesis.file}`, options),
  };
  postMessage({ type: 'ready', info, page, threads: ort.env.wasm.numThreads });
}

function oneHot(classIdx) {
  const labels = new Float32Array(info.label_size);
  labels[classIdx] = 1;
  return labels;
}

// w = mapping(z(seed), label), cached: moving psi or the noise does not re-run the mapping.
async function mapSeed(seed, classIdx) {
  const key = `${seed}/${classIdx}`;
  if (mappingCache.has(key)) return mappingCache.get(key);
  const z = Float32Array.from(StyleGANLatent.randn(seed, info.latent_size));
  const feeds = { z: new ort.Tensor('float32', z, [1, info.latent_size]) };
  if (info.label_size) {
    feeds.labels = new ort.Tensor('float32', oneHot(classIdx), [1, info.label_size]);
  }
  const out = await sessions.mapping.run(feeds);
  const w = out[info.models.mapping.output].data;
  if (mappingCache.size > 256) mappingCache.clear();
  mappingCache.set(key, w);
  return w;
}

// The truncation trick w' = avg + psi * (w - avg) on the layers below the cutoff (all layers
// when it is null), in float32 as the Python code computes it (Generator.truncate).
function truncate(w, psi, cutoff) {
  const L = info.num_layers;
  const D = info.dlatent_size;
  const avg = info.dlatent_avg;
  const out = new Float32Array(w.length);
  const psi32 = Math.fround(psi);
  for (let l = 0; l < L; l++) {
    const coef = (cutoff === null || l < cutoff) ? psi32 : 1;
    for (let d = 0; d < D; d++) {
      const a = Math.fround(avg[d]);
      out[l * D + d] = Math.fround(a + Math.fround(Math.fround(w[l * D + d] - a) * coef));
    }
  }
  return out;
}

function noiseInputs(mode, noiseSeed) {
  const feeds = {};
  const rng = mode === 'random' ? new StyleGANLatent.MT19937(noiseSeed) : null;
  info.noise_sizes.forEach((size, i) => {
    let data;
    if (mode === 'stored') {
      data = storedNoise[i];
    } else if (mode === 'random') {
      data = new Float32Array(size * size);
      for (let k = 0; k < data.length; k++) data[k] = rng.normal();
    } else {
      data = new Float32Array(size * size); // zeros: no noise
    }
    feeds[`noise${i}`] = new ort.Tensor('float32', data, [1, size, size, 1]);
  });
  return feeds;
}

// [1, H, W, C] floats in [-1, 1] -> RGBA bytes, as the official convert_images_to_uint8:
// saturate_cast(x * 127.5 + 128), i.e. clip to [0, 255] and truncate (tf_stylegan.images).
function toRGBA(images, size, channels) {
  const pixels = new Uint8ClampedArray(size * size * 4);
  for (let p = 0; p < size * size; p++) {
    for (let c = 0; c < 3; c++) {
      const x = images[p * channels + (channels === 1 ? 0 : c)];
      const v = Math.fround(Math.fround(x * 127.5) + 128);
      pixels[p * 4 + c] = v <= 0 ? 0 : v >= 255 ? 255 : Math.trunc(v);
    }
    pixels[p * 4 + 3] = 255;
  }
  return pixels;
}

async function renderOne(request, seed) {
  let w = await mapSeed(seed, request.classIdx);
  if (request.mixRange) {
    const [start, stop] = page.layer_ranges[request.mixRange];
    const w2 = await mapSeed(request.mixSeed, request.classIdx);
    const D = info.dlatent_size;
    w = Float32Array.from(w);
    w.set(w2.subarray(start * D, stop * D), start * D);
  }
  w = truncate(w, request.psi, info.family === 'stylegan' ? request.cutoff : null);
  const feeds = {
    w: new ort.Tensor('float32', w, [1, info.num_layers, info.dlatent_size]),
    ...noiseInputs(request.noise, (seed + Math.imul(request.noiseDraw, 0x9e3779b1)) >>> 0),
  };
  const out = await sessions.synthesis.run(feeds);
  return toRGBA(out[info.models.synthesis.output].data, info.resolution, info.num_channels);
}

async function render(id, request) {
  const start = performance.now();
  let count = 0;
  for (let index = 0; index < request.seeds.length; index++) {
    if (id !== latestId) return; // superseded: the newest request renders instead
    const pixels = await renderOne(request, request.seeds[index]);
    count++;
    postMessage({ type: 'image', id, index, pixels, size: info.resolution }, [pixels.buffer]);
  }
  postMessage({ type: 'done', id, count, msPerImage: (performance.now() - start) / count });
}

// One render at a time (a session runs one call at a time); requests that arrive meanwhile
// replace each other, so only the newest one is rendered next.
let pending = null;
let running = false;

async function drain() {
  running = true;
  while (pending !== null) {
    const { id, request } = pending;
    pending = null;
    try {
      await render(id, request);
    } catch (e) {
      postMessage({ type: 'error', message: String(e) });
    }
  }
  running = false;
}

onmessage = (event) => {
  const msg = event.data;
  if (msg.type === 'render') {
    latestId = msg.id;
    pending = msg;
    if (!running) drain();
  }
};

init().catch((e) => postMessage({ type: 'error', message: `loading the model: ${e}` }));
