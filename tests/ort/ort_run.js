// Runs one ONNX model in ONNX Runtime (the onnxruntime-node package that
// scripts/install-deps installs into node_modules/) on inputs given as raw
// little-endian float32 files, and writes the first output the same way.
// Used by tests/test_export.c (parity with gansim) and gansim-bench (speed).
//
//   node tests/ort/ort_run.js --model M.onnx --in NAME:FILE:D0xD1[x...] ...
//        --out FILE [--threads T] [--repeat R] [--o2-channels FILE]
//
// Prints one JSON line: ORT version, output name and shape, and the mean and
// best wall time of session.run over R runs (after one warm-up run).
// --o2-channels also writes, per image of a [N, 1, H, W] output, the five
// channel sums that ALICE O2 computes from a model output
// (Detectors/ZDC/fastsimulation/src/Processors.cxx, calculateChannels):
// expm1 of each pixel, flat index col + row * W; (row + col) even -> one of
// four quadrant channels (row < H/2, col < W/2 -> 0; row < H/2, col >= W/2
// -> 1; row >= H/2, col < W/2 -> 2; else 3), odd -> channel 4; float
// accumulation as O2 does it, written as float64 [N, 5] (before O2's lround).
'use strict';
const fs = require('fs');
const path = require('path');

function fail(msg) {
  process.stderr.write('ort_run: ' + msg + '\n');
  process.exit(1);
}

let ort;
try {
  ort = require(path.join(__dirname, '..', '..', 'node_modules', 'onnxruntime-node'));
} catch (e) {
  fail('onnxruntime-node is not installed (run scripts/install-deps): ' + e.message);
}

const args = process.argv.slice(2);
const opt = { inputs: [], threads: 1, repeat: 1 };
for (let i = 0; i < args.length; i++) {
  const a = args[i], v = args[i + 1];
  if (v === undefined) fail('option ' + a + ' needs a value');
  i++;
  if (a === '--model') opt.model = v;
  else if (a === '--out') opt.out = v;
  else if (a === '--threads') opt.threads = parseInt(v, 10);
  else if (a === '--repeat') opt.repeat = parseInt(v, 10);
  else if (a === '--o2-channels') opt.o2 = v;
  else if (a === '--in') {
    const p = v.split(':');
    if (p.length !== 3) fail('--in wants NAME:FILE:D0xD1...');
    opt.inputs.push({ name: p[0], file: p[1], dims: p[2].split('x').map(Number) });
  } else fail('unknown option ' + a);
}
if (!opt.model || !opt.out) fail('need --model and --out');

function readF32(file, n) {
  const b = fs.readFileSync(file);
  if (b.length !== 4 * n) fail(file + ': ' + b.length + ' bytes, expected ' + 4 * n);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = b.readFloatLE(4 * i);
  return out;
}

function o2Channels(img, n, h, w) {
  const out = new Float64Array(n * 5);
  const acc = new Float32Array(5);
  for (let b = 0; b < n; b++) {
    acc.fill(0);
    const base = b * h * w;
    for (let i = 0; i < h; i++)
      for (let j = 0; j < w; j++) {
        const v = Math.fround(Math.expm1(img[base + j + i * w]));
        let c = 4;
        if (i % 2 === j % 2) c = (i < Math.floor(h / 2) ? 0 : 2) + (j < Math.floor(w / 2) ? 0 : 1);
        acc[c] = Math.fround(acc[c] + v);
      }
    for (let c = 0; c < 5; c++) out[b * 5 + c] = acc[c];
  }
  return out;
}

(async () => {
  const so = {
    intraOpNumThreads: opt.threads, interOpNumThreads: 1,
    executionMode: 'sequential', graphOptimizationLevel: 'all',
  };
  const sess = await ort.InferenceSession.create(opt.model, so);
  const feeds = {};
  for (const inp of opt.inputs) {
    const n = inp.dims.reduce((a, b) => a * b, 1);
    feeds[inp.name] = new ort.Tensor('float32', readF32(inp.file, n), inp.dims);
  }
  let res = await sess.run(feeds);  // warm-up (and the result when repeat = 1)
  const t0 = process.hrtime.bigint();
  let best = Infinity;
  for (let r = 0; r < opt.repeat; r++) {
    const r0 = process.hrtime.bigint();
    res = await sess.run(feeds);
    best = Math.min(best, Number(process.hrtime.bigint() - r0) / 1e9);
  }
  const dt = Number(process.hrtime.bigint() - t0) / 1e9 / Math.max(opt.repeat, 1);
  const name = sess.outputNames[0];
  const y = res[name];
  const data = y.data;
  const buf = Buffer.alloc(4 * data.length);
  for (let i = 0; i < data.length; i++) buf.writeFloatLE(data[i], 4 * i);
  fs.writeFileSync(opt.out, buf);
  if (opt.o2) {
    if (y.dims.length !== 4 || y.dims[1] !== 1) fail('--o2-channels wants an [N,1,H,W] output');
    const ch = o2Channels(data, y.dims[0], y.dims[2], y.dims[3]);
    const cb = Buffer.alloc(8 * ch.length);
    for (let i = 0; i < ch.length; i++) cb.writeDoubleLE(ch[i], 8 * i);
    fs.writeFileSync(opt.o2, cb);
  }
  const ver = (ort.env && ort.env.versions && ort.env.versions.common) ||
    require(path.join(__dirname, '..', '..', 'node_modules', 'onnxruntime-node', 'package.json')).version;
  process.stdout.write(JSON.stringify({
    ort_version: ver, output: name, shape: y.dims, seconds_per_run: dt, best_seconds: best,
    threads: opt.threads, repeat: opt.repeat,
  }) + '\n');
})().catch((e) => fail(e.message));
