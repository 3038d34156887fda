// The page: reads the controls, asks the worker (worker.js) for images and draws them. The
// main thread never runs the network, so the page stays responsive while images render.
'use strict';

const $ = (id) => document.getElementById(id);
const canvas = $('canvas');
const ctx = canvas.getContext('2d');
const worker = new Worker('worker.js');
let info = null;
let page = null;
let nextId = 0;
let shownId = -1;
let noiseDraw = 0;
let renders = 0;

function setStatus(text, state) {
  $('status').textContent = text;
  if (state) document.body.dataset.state = state;
}

function seedValue(input) {
  const value = Number(input.value);
  if (input.value === '' || !Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new RangeError(`${input.id}: a seed is an integer from 0 to 4294967295`);
  }
  return value;
}

// Everything the worker needs to render the current view.
function currentRequest() {
  const seed = seedValue($('seed'));
  const count = Number($('grid').value);
  const seeds = [];
  for (let i = 0; i < count; i++) seeds.push((seed + i) % 4294967296);
  return {
    seeds,
    psi: Number($('psi').value),
    cutoff: Number($('cutoff').value),
    mixRange: $('mix-range').value || null,
    mixSeed: seedValue($('mix-seed')),
    noise: $('noise').value,
    noiseDraw,
    classIdx: info.label_size ? Number($('class').value) : 0,
  };
}

function layout(count) {
  const cols = Math.ceil(Math.sqrt(count));
  const rows = Math.ceil(count / cols);
  const size = info.resolution;
  if (canvas.width !== cols * size || canvas.height !== rows * size) {
    canvas.width = cols * size;
    canvas.height = rows * size;
  }
  return cols;
}

function update() {
  if (!info) return;
  $('psi-value').textContent = Number($('psi').value).toFixed(2);
  $('cutoff-value').textContent = $('cutoff').value;
  let request;
  try {
    request = currentRequest();
  } catch (e) {
    setStatus(e.message);
    return;
  }
  const id = nextId++;
  canvas.dataset.pending = String(id);
  worker.postMessage({ type: 'render', id, request });
  canvas._requests = canvas._requests || {};
  canvas._requests[id] = request;
  setStatus('Rendering...', 'rendering');
}

worker.onmessage = (event) => {
  const msg = event.data;
  if (msg.type === 'ready') {
    info = msg.info;
    page = msg.page;
    setup(msg.threads);
  } else if (msg.type === 'image') {
    const request = canvas._requests[msg.id];
    const cols = layout(request.seeds.length);
    if (msg.id !== shownId) {
      shownId = msg.id;
      ctx.fillStyle = '#000';
      ctx.fillRect(0, 0, canvas.width, canvas.height);
    }
    const x = (msg.index % cols) * msg.size;
    const y = Math.floor(msg.index / cols) * msg.size;
    ctx.putImageData(new ImageData(msg.pixels, msg.size, msg.size), x, y);
  } else if (msg.type === 'done') {
    const request = canvas._requests[msg.id];
    for (const key of Object.keys(canvas._requests)) {
      if (Number(key) <= msg.id) delete canvas._requests[key];
    }
    renders++;
    canvas.dataset.renders = String(renders);
    canvas.dataset.rendered = String(msg.id);
    canvas.dataset.msPerImage = msg.msPerImage.toFixed(1);
    $('timing').textContent = `\u00b7 ${msg.msPerImage.toFixed(1)} ms per image`;
    const latest = String(msg.id) === canvas.dataset.pending;
    setStatus(latest ? `Seed ${request.seeds[0]}${request.seeds.length > 1 ?
      `-${request.seeds[request.seeds.length - 1]}` : ''}` : 'Rendering...',
              latest ? 'ready' : 'rendering');
  } else if (msg.type === 'error') {
    setStatus(`Error: ${msg.message}`, 'error');
  }
};

function setup(threads) {
  const family = info.family === 'stylegan2' ? 'StyleGAN2' : 'StyleGAN';
  if (page.title) {
    $('title').textContent = page.title;
    document.title = page.title;
  }
  $('subtitle').textContent = `${family}, ${info.resolution}\u00d7${info.resolution}, ` +
    `running on this machine (ONNX Runtime Web ${page.runtime_version}, WebAssembly, ` +
    `${threads} thread${threads > 1 ? 's' : ''}); nothing is sent anywhere.`;
  $('psi').value = String(info.truncation_psi ?? 1);
  if (info.family === 'stylegan') {
    $('cutoff-row').hidden = false;
    $('cutoff').max = String(info.num_layers);
    $('cutoff').value = String(Math.min(info.truncation_cutoff ?? info.num_layers,
                                        info.num_layers));
  }
  if (info.label_size) {
    $('class-row').hidden = false;
    for (let k = 0; k < info.label_size; k++) {
      const option = document.createElement('option');
      option.value = String(k);
      option.textContent = page.class_names ? page.class_names[k] : `class ${k}`;
      $('class').appendChild(option);
    }
  }
  const ranges = page.layer_ranges;
  for (const option of $('mix-range').options) {
    if (option.value) {
      const [a, b] = ranges[option.value];
      option.textContent = `${option.value} (layers ${a}-${b - 1})`;
    }
  }
  for (const el of $('controls').querySelectorAll('input, select')) {
    el.addEventListener('input', update);
  }
  $('random').addEventListener('click', () => {
    $('seed').value = String(crypto.getRandomValues(new Uint32Array(1))[0]);
    update();
  });
  $('redraw').addEventListener('click', () => {
    noiseDraw++;
    if ($('noise').value !== 'random') $('noise').value = 'random';
    update();
  });
  $('download').addEventListener('click', () => {
    canvas.toBlob((blob) => {
      const link = document.createElement('a');
      link.href = URL.createObjectURL(blob);
      link.download = `stylegan-seed${$('seed').value}.png`;
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 1000);
    }, 'image/png');
  });
  update();
}
