// Runs a TF.js graph model (written by apps.runtimes.tfjs) in Node.js with TF.js' CPU
// backend, for tests/apps/test_runtimes.py. Usage: node tfjs_runner.js REQUEST.json
// REQUEST: {"model": dir, "inputs": {name: {"file": raw float32 LE path, "shape": [...]}},
//           "output": raw float32 path}. Prints {"shape": [...]} of the output.
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

async function main() {
  const req = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const spec = JSON.parse(fs.readFileSync(path.join(req.model, 'model.json'), 'utf8'));
  const manifest = spec.weightsManifest[0];
  const bin = fs.readFileSync(path.join(req.model, manifest.paths[0]));
  const model = await tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: spec.modelTopology,
    weightSpecs: manifest.weights,
    weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength),
    signature: spec.signature,
  }));
  const feeds = {};
  for (const [name, input] of Object.entries(req.inputs)) {
    const raw = fs.readFileSync(input.file);
    feeds[name] = tf.tensor(new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4),
                            input.shape, 'float32');
  }
  const out = await model.executeAsync(feeds);
  fs.writeFileSync(req.output, Buffer.from((await out.data()).buffer));
  console.log(JSON.stringify({shape: out.shape}));
}

main().catch((e) => { console.error(e); process.exit(1); });
