// One ONNX Runtime measurement for bench/compare_ort.py: loads onnxruntime-node from the folder
// given (installed there by the script), runs a model's forward on random input of the given
// shape (CPU execution provider, graph optimisation "all", intra-op threads as given, one
// inter-op thread), and prints one JSON line with the median step time. Softmax is not applied
// (a few microseconds on 2 logits; ours includes it). With PROFILE_PREFIX, ONNX Runtime's profiler
// also times every node of every run into a JSON trace, PROFILE_PREFIX_<date>.json (the node
// binding does not return its name): what bench/compare_ort.py --layers reads.
// Usage: node ort_worker.js ORT_DIR MODEL.onnx BATCH SIZE THREADS WARMUP ITERS [PROFILE_PREFIX]
const [ortDir, model, batch, size, threads, warmup, iters, profile] = process.argv.slice(2);
const ort = require(require('path').join(ortDir, 'node_modules', 'onnxruntime-node'));

async function main() {
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: Number(threads),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    ...(profile ? {enableProfiling: true, profileFilePrefix: profile} : {}),
  });
  const n = Number(batch) * 3 * Number(size) * Number(size);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {  // normal(0, 1) by Box-Muller
    const u = 1 - Math.random(), v = Math.random(), r = Math.sqrt(-2 * Math.log(u));
    data[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) data[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  const feeds = {[session.inputNames[0]]: new ort.Tensor('float32', data, [Number(batch), 3, Number(size), Number(size)])};
  const ms = [];
  for (let i = 0; i < Number(warmup) + Number(iters); ++i) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    const dt = Number(process.hrtime.bigint() - t0) / 1e6;
    if (i >= Number(warmup)) ms.push(dt);
  }
  ms.sort((a, b) => a - b);
  const med = ms.length % 2 ? ms[(ms.length - 1) / 2] : (ms[ms.length / 2 - 1] + ms[ms.length / 2]) / 2;
  const version = require(require('path').join(ortDir, 'node_modules', 'onnxruntime-node', 'package.json')).version;
  if (profile) await session.endProfiling();
  console.log(JSON.stringify({images_per_sec: 1000 * Number(batch) / med, ms_per_batch: med, ms_min: ms[0], ort: version}));
}
main().catch((e) => { console.error(String(e)); process.exit(1); });
