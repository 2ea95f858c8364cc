// Runs an exported model under onnxruntime (npm onnxruntime-node, CPU) and
// compares its outputs with cnnrun's own, written by onnx_ref export.
//   node ort_run.js NPM_PREFIX CASE_DIR [TOLERANCE]
// Prints the difference per output; exit 1 above TOLERANCE (default 1e-5).
// The difference is max|a − b| / max|b| over the tensor (a: onnxruntime, b:
// cnnrun): relative to the output's scale. Element by element it would be
// meaningless for values that are small sums of large cancelling terms
// (random-weight logits of 1000 classes), where both runtimes' float
// rounding is the whole value; the worst element's own relative difference
// is printed for information.
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
  let largest = 0, worstAbs = 0, worstRel = 0, where = 0;
  for (const v of want) largest = Math.max(largest, Math.abs(v));
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= worstAbs)) worstAbs = d;
    const r = d / Math.max(Math.abs(want[i]), 1e-30);
    if (!(r <= worstRel)) { worstRel = r; where = i; }
  }
  const difference = worstAbs / Math.max(largest, 1e-30);
  const ok = difference <= tolerance;
  console.log(`${name}: ${want.length} values, max|difference|/max|value| ${difference.toExponential(2)}` +
              `; worst element ${worstRel.toExponential(2)} relative` +
              ` (onnxruntime ${got[where]}, cnnrun ${want[where]})${ok ? '' : ' TOO LARGE'}`);
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
