// Runs an exported model under onnxruntime (npm onnxruntime-node, CPU) and
// compares its outputs with cnnrun's own, written by onnx_ref export.
//   node ort_run.js NPM_PREFIX CASE_DIR [TOLERANCE]
// Prints the worst relative difference per output; exit 1 above TOLERANCE
// (default 1e-5). The difference of a value b (cnnrun) and a (onnxruntime)
// is |a − b| / max(|b|, 1e-3·max|b|): relative, except that values a
// thousand times below the tensor's largest are held to the largest's
// thousandth (their own relative error means nothing next to it).
const fs = require('fs');
const path = require('path');
const [prefix, dir, tolArg] = process.argv.slice(2);
const ort = require(path.resolve(prefix, 'node_modules', 'onnxruntime-node'));
const tolerance = tolArg ? Number(tolArg) : 1e-5;

function readFloats(file) {
  const bytes = fs.readFileSync(file);
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
}

function compare(name, got, want) {
  if (got.length !== want.length) {
    console.log(`${name}: onnxruntime gives ${got.length} values, cnnrun ${want.length}`);
    return false;
  }
  let largest = 0;
  for (const v of want) largest = Math.max(largest, Math.abs(v));
  let worst = 0, where = 0;
  for (let i = 0; i < want.length; i++) {
    const scale = Math.max(Math.abs(want[i]), 1e-3 * largest, 1e-30);
    const d = Math.abs(got[i] - want[i]) / scale;
    if (!(d <= worst)) { worst = d; where = i; }
  }
  const ok = worst <= tolerance;
  console.log(`${name}: ${want.length} values, worst relative difference ${worst.toExponential(2)}` +
              ` at ${where} (onnxruntime ${got[where]}, cnnrun ${want[where]})${ok ? '' : ' TOO LARGE'}`);
  return ok;
}

(async () => {
  const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8'));
  const session = await ort.InferenceSession.create(path.join(dir, 'model.onnx'),
                                                    {graphOptimizationLevel: 'disabled'});
  const input = new ort.Tensor('float32', readFloats(path.join(dir, 'input.bin')), meta.input);
  const results = await session.run({input});
  let ok = true;
  for (const name of session.outputNames) {
    const file = name === 'logits' ? 'logits.bin' : 'output.bin';
    ok = compare(name, results[name].data, readFloats(path.join(dir, file))) && ok;
  }
  process.exit(ok ? 0 : 1);
})().catch((e) => { console.log(`onnxruntime: ${e.message}`); process.exit(1); });
