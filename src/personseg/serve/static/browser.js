// In-browser segmentation: the bundled fast model on ONNX Runtime Web (WebAssembly), with the
// same pre- and post-processing as personseg's Python Segmenter, so that the masks agree:
// `fit` letterbox (inference/segmenter.py prepare, data/geometry.py fit_shape, letterbox,
// area_resize), the logits at stride 4 brought back by the same bilinear warp (unletterbox),
// the guided filter of effects.refine_edge, the motion-gated smoothing of video.TemporalSmoother
// and the alpha of effects.alpha_matte. Nothing here leaves the page.
// ONNX Runtime Web is imported when a model is loaded, so that a browser which cannot run it
// still gets the page (in server mode).
let ort = null;

const FEATHER = 0.2;        // effects.alpha_matte's soft band
const STILL_THRESHOLD = 8;  // video.STILL_THRESHOLD: grey levels below which a pixel is still

// Python's round(): halves to the even neighbour (Math.round takes them up)
function pyRound(x) {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// --- geometry (data/geometry.py) ---

export function fitShape(h, w, size, divisor) {
  const budget = 1.1 * size * size;
  let best = [0, size, size];
  for (let rows = divisor; rows <= 4 * size; rows += divisor) {
    const cols = Math.floor(Math.floor(budget / rows) / divisor) * divisor;
    if (cols < divisor) break;
    const scale = Math.min(rows / h, cols / w);
    if (scale * scale * h * w > best[0] + 1e-6) best = [scale * scale * h * w, rows, cols];
  }
  return [best[1], best[2]];
}

export function guideShape(h, w, size) {
  const scale = Math.max(h, w) / size;
  if (scale <= 1) return [h, w];
  return [Math.max(1, pyRound(h / scale)), Math.max(1, pyRound(w / scale))];
}

// One axis of a resize as taps, K per output index (spare ones weigh 0): source indices and
// weights. `area`: OpenCV's INTER_AREA when shrinking (each source pixel's share of the output
// pixel); else INTER_LINEAR (pixel centres aligned, edges clamped).
function axisTaps(src, dst, area) {
  const scale = src / dst, K = area ? Math.ceil(scale) + 1 : 2;
  const index = new Int32Array(dst * K), weight = new Float32Array(dst * K);
  for (let i = 0; i < dst; i++) {
    const o = i * K;
    if (area) {
      const lo = i * scale, hi = Math.min(src, (i + 1) * scale);
      let t = 0;
      for (let j = Math.floor(lo); j < hi && t < K; j++) {
        const share = Math.min(hi, j + 1) - Math.max(lo, j);
        if (share > 1e-9) { index[o + t] = j; weight[o + t] = share / scale; t++; }
      }
      for (; t < K; t++) index[o + t] = index[o];
    } else {
      let f = (i + 0.5) * scale - 0.5, s = Math.floor(f);
      f -= s;
      if (s < 0) { s = 0; f = 0; }
      if (s >= src - 1) { s = src - 1; f = 0; }
      index[o] = s; index[o + 1] = Math.min(s + 1, src - 1);
      weight[o] = 1 - f; weight[o + 1] = f;
    }
  }
  return { K, index, weight, size: dst };
}

// An image {data, width, height, stride (values per pixel), channels (the first ones used)}
// resampled by per-axis taps into a packed Float32 one; `round` rounds to whole grey levels,
// as OpenCV's uint8 output does.
function resample(img, xt, yt, round) {
  const { data, width: sw, height: sh, stride: cs, channels: c } = img, dw = xt.size, dh = yt.size;
  const mid = new Float32Array(dw * sh * c), { K: kx, index: ix, weight: wx } = xt;
  for (let y = 0; y < sh; y++) {
    const row = y * sw, o = y * dw * c;
    for (let x = 0; x < dw; x++) {
      for (let k = 0; k < c; k++) {
        let s = 0;
        for (let t = x * kx, end = t + kx; t < end; t++) s += wx[t] * data[(row + ix[t]) * cs + k];
        mid[o + x * c + k] = s;
      }
    }
  }
  const n = dw * c, out = new Float32Array(n * dh), { K: ky, index: iy, weight: wy } = yt;
  for (let y = 0; y < dh; y++) {
    const o = y * n;
    for (let t = y * ky, end = t + ky; t < end; t++) {
      const w = wy[t], m = iy[t] * n;
      if (w !== 0) for (let i = 0; i < n; i++) out[o + i] += w * mid[m + i];
    }
    if (round) for (let i = o; i < o + n; i++) out[i] = Math.round(out[i]);
  }
  return { data: out, width: dw, height: dh, stride: c, channels: c };
}

// geometry.area_resize: by the largest whole factor that divides both sides, then bilinear
// when less than a factor of 2 is left, by area otherwise
export function areaResize(img, nw, nh) {
  const kMax = Math.min(Math.floor(img.width / nw), Math.floor(img.height / nh));
  for (let k = kMax; k > 1; k--) {
    if (img.height % k === 0 && img.width % k === 0) {
      const w = img.width / k, h = img.height / k;
      img = resample(img, axisTaps(img.width, w, true), axisTaps(img.height, h, true), true);
      break;
    }
  }
  const area = !(img.width < 2 * nw && img.height < 2 * nh);
  return resample(img, axisTaps(img.width, nw, area), axisTaps(img.height, nh, area), true);
}

// geometry.scale_to: by area_resize when it shrinks, bilinear when it grows
function scaleTo(img, nw, nh) {
  if (nw === img.width && nh === img.height) return img;
  if (nw <= img.width && nh <= img.height) return areaResize(img, nw, nh);
  return resample(img, axisTaps(img.width, nw, false), axisTaps(img.height, nh, false), true);
}

// the grey level of the RGBA pixel at data[j], as OpenCV's COLOR_RGB2GRAY (rounded)
const lum = (data, j) => Math.round(0.299 * data[j] + 0.587 * data[j + 1] + 0.114 * data[j + 2]);

// grey levels of an RGBA ImageData
function greyOf({ data, width, height }) {
  const n = width * height, grey = new Float32Array(n);
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    grey[i] = lum(data, j);
  }
  return { data: grey, width, height, stride: 1, channels: 1 };
}

// The grey levels at the guide shape, as refine_edge computes them (area-resized grey)
function guideGrey(imageData, gw, gh) {
  const grey = greyOf(imageData);
  return gw === imageData.width && gh === imageData.height ? grey.data : areaResize(grey, gw, gh).data;
}

// The same from a video frame resized by the browser
function greyFrom(source, gw, gh) {
  const { data } = canvasPixels(source, gw, gh, "guide"), n = gw * gh, grey = new Float32Array(n);
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    grey[i] = lum(data, j);
  }
  return grey;
}

// A canvas image source drawn at (w, h) and read back (on a canvas kept per use)
export function canvasPixels(source, w, h, name = "pixels") {
  const ctx = layerOf(w, h, name);
  ctx.imageSmoothingQuality = "medium";
  ctx.drawImage(source, 0, 0, w, h);
  return ctx.getImageData(0, 0, w, h);
}

// Segmenter.prepare's "fit" geometry for an h×w image: the input (outH, outW) and the box
// (top, left, nh, nw) the picture fills in it
function fitBox(h, w, spec) {
  const size = Math.min(spec.input_size, Math.max(spec.min_fit_size, Math.floor(Math.sqrt(h * w))));
  const [outH, outW] = fitShape(h, w, size, spec.divisor);
  const scale = Math.min(outH / h, outW / w);
  const nh = Math.max(1, pyRound(h * scale)), nw = Math.max(1, pyRound(w * scale));
  return { outH, outW, box: [Math.floor((outH - nh) / 2), Math.floor((outW - nw) / 2), nh, nw] };
}

// The normalised (1, 3, outH, outW) input: the resized picture (values per pixel `cs`) in
// its box, zero padding around it, normalised like the picture
function normalised(src, cs, { outH, outW, box: [top, left, nh, nw] }, spec) {
  const x = new Float32Array(3 * outH * outW), plane = outH * outW;
  for (let k = 0; k < 3; k++) {
    const mul = 1 / (255 * spec.std[k]), add = -spec.mean[k] / spec.std[k];
    x.fill(add, k * plane, (k + 1) * plane);
    for (let y = 0; y < nh; y++) {
      const o = k * plane + (y + top) * outW + left, r = y * nw;
      for (let i = 0; i < nw; i++) x[o + i] = src[(r + i) * cs + k] * mul + add;
    }
  }
  return { input: x, shape: [1, 3, outH, outW], box: [top, left, nh, nw] };
}

// Segmenter.prepare with resize "fit" on an RGBA ImageData, resized as Python does
export function prepare(imageData, spec) {
  const { width: w, height: h } = imageData, fit = fitBox(h, w, spec);
  const rgb = { data: imageData.data, width: w, height: h, stride: 4, channels: 3 };
  const resized = scaleTo(rgb, fit.box[3], fit.box[2]);
  return normalised(resized.data, resized.stride, fit, spec);
}

// The same from a video frame (any canvas image source) resized by the browser (a fraction
// of the time of the exact resize above; the masks differ a little more from Python's)
function prepareFrom(source, w, h, spec) {
  const fit = fitBox(h, w, spec), [, , nh, nw] = fit.box;
  return normalised(canvasPixels(source, nw, nh, "input").data, 4, fit, spec);
}

// geometry.unletterbox with a stride: the map (mh, mw) sampled by one bilinear warp at (h, w)
function unletterbox(prob, mw, mh, box, h, w, stride) {
  const [top, left, nh, nw] = box;
  const sx = nw / (w * stride), sy = nh / (h * stride);
  const ox = (left + (0.5 * nw) / w) / stride - 0.5, oy = (top + (0.5 * nh) / h) / stride - 0.5;
  const out = new Float32Array(h * w), x0s = new Int32Array(w), x1s = new Int32Array(w);
  const fxs = new Float32Array(w);
  for (let x = 0; x < w; x++) {
    const fx = Math.min(Math.max(sx * x + ox, 0), mw - 1);
    x0s[x] = Math.floor(fx); x1s[x] = Math.min(x0s[x] + 1, mw - 1); fxs[x] = fx - x0s[x];
  }
  for (let y = 0; y < h; y++) {
    let fy = Math.min(Math.max(sy * y + oy, 0), mh - 1);
    const r0 = Math.floor(fy) * mw, r1 = Math.min(Math.floor(fy) + 1, mh - 1) * mw;
    fy -= Math.floor(fy);
    for (let x = 0; x < w; x++) {
      const x0 = x0s[x], x1 = x1s[x], fx = fxs[x];
      const a = prob[r0 + x0] + fx * (prob[r0 + x1] - prob[r0 + x0]);
      const b = prob[r1 + x0] + fx * (prob[r1 + x1] - prob[r1 + x0]);
      out[y * w + x] = a + fy * (b - a);
    }
  }
  return out;
}

// OpenCV's BORDER_REFLECT: fedcba|abcdefgh|hgfedcb
function reflect(i, n) {
  if (n === 1) return 0;
  for (;;) {
    if (i < 0) i = -i - 1;
    else if (i >= n) i = 2 * n - i - 1;
    else return i;
  }
}

// Scratch arrays reused from call to call (a live frame would otherwise make megabytes of
// garbage): only for values used before the function that asked returns
const pool = new Map();
function scratchArray(name, n) {
  let a = pool.get(name);
  if (!a || a.length !== n) { a = new Float32Array(n); pool.set(name, a); }
  return a;
}

// For a running sum of 2r+1 values along n: the index added and the one dropped at each step
// (BORDER_REFLECT), and the first window's; cached per (n, r)
const windows = new Map();
function windowOf(n, r) {
  const key = `${n},${r}`;
  if (!windows.has(key)) {
    const add = new Int32Array(n), sub = new Int32Array(n), first = new Int32Array(2 * r + 1);
    for (let i = 0; i < n; i++) { add[i] = reflect(i + r + 1, n); sub[i] = reflect(i - r, n); }
    for (let d = -r; d <= r; d++) first[d + r] = reflect(d, n);
    windows.set(key, { add, sub, first });
  }
  return windows.get(key);
}

// cv2.boxFilter, (2r+1)² normalised, BORDER_REFLECT: running sums along rows, then columns
// (into `out` when given)
function boxFilter(src, w, h, r, out = new Float32Array(w * h)) {
  const n = 2 * r + 1, tmp = scratchArray("box", w * h);
  const X = windowOf(w, r), Y = windowOf(h, r), inv = 1 / n;
  for (let y = 0, o = 0; y < h; y++, o += w) {
    let s = 0;
    for (let d = 0; d < n; d++) s += src[o + X.first[d]];
    for (let x = 0; x < w; x++) {
      tmp[o + x] = s * inv;
      s += src[o + X.add[x]] - src[o + X.sub[x]];
    }
  }
  const acc = new Float64Array(w);
  for (let d = 0; d < n; d++) {
    const m = Y.first[d] * w;
    for (let x = 0; x < w; x++) acc[x] += tmp[m + x];
  }
  for (let y = 0, o = 0; y < h; y++, o += w) {
    const add = Y.add[y] * w, sub = Y.sub[y] * w;
    for (let x = 0; x < w; x++) {
      out[o + x] = acc[x] * inv;
      acc[x] += tmp[add + x] - tmp[sub + x];
    }
  }
  return out;
}

// effects.guided_filter's coefficients a, b (5×5 windows, eps 1e-3) fitted at the guide shape
function guidedCoefficients(guide, small, gw, gh) {
  const n = gw * gh, r = 2, eps = 1e-3, [g, gp, gg] = ["g", "gp", "gg"].map((k) => scratchArray(k, n));
  for (let i = 0; i < n; i++) { g[i] = guide[i] / 255; gp[i] = g[i] * small[i]; gg[i] = g[i] * g[i]; }
  const [mi, mp, mgp, mgg] = ["mi", "mp", "mgp", "mgg"].map((k) => scratchArray(k, n));
  boxFilter(g, gw, gh, r, mi);
  boxFilter(small, gw, gh, r, mp);
  boxFilter(gp, gw, gh, r, mgp);
  boxFilter(gg, gw, gh, r, mgg);
  for (let i = 0; i < n; i++) {  // a in gp, b in gg
    gp[i] = (mgp[i] - mi[i] * mp[i]) / (mgg[i] - mi[i] * mi[i] + eps);
    gg[i] = mp[i] - gp[i] * mi[i];
  }
  return { A: boxFilter(gp, gw, gh, r, mi), B: boxFilter(gg, gw, gh, r, mp) };
}

// effects.refine_edge (guided): the coefficients fitted at the guide shape (on `guide`, the
// grey levels there), then brought to the image's size and applied (a · grey + b, clipped) in
// one pass over its RGBA data
function refineEdge(imageData, guide, small, gw, gh) {
  const { width: w, height: h, data } = imageData, { A, B } = guidedCoefficients(guide, small, gw, gh);
  const xt = axisTaps(gw, w, false), yt = axisTaps(gh, h, false), out = new Float32Array(w * h);
  const xi = xt.index, xf = xt.weight, yi = yt.index, yf = yt.weight;
  const rowA = new Float64Array(gw), rowB = new Float64Array(gw);
  const x0s = new Int32Array(w), fxs = new Float64Array(w);
  for (let x = 0; x < w; x++) { x0s[x] = xi[2 * x]; fxs[x] = xf[2 * x + 1]; }
  for (let y = 0; y < h; y++) {
    const r0 = yi[2 * y] * gw, r1 = yi[2 * y + 1] * gw, fy = yf[2 * y + 1];
    for (let i = 0; i < gw; i++) {
      rowA[i] = A[r0 + i] + fy * (A[r1 + i] - A[r0 + i]);
      rowB[i] = B[r0 + i] + fy * (B[r1 + i] - B[r0 + i]);
    }
    for (let x = 0, o = y * w, j = 4 * o; x < w; x++, j += 4) {
      const x0 = x0s[x], x1 = x0 + 1 < gw ? x0 + 1 : x0, fx = fxs[x];
      const a = rowA[x0] + fx * (rowA[x1] - rowA[x0]), b = rowB[x0] + fx * (rowB[x1] - rowB[x0]);
      const v = a * lum(data, j) * (1 / 255) + b;  // the grey level read here
      out[o + x] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
  }
  return out;
}

// --- the model ---

export class BrowserSegmenter {
  // info: GET /v1/browser (the model's URL and spec); threads where the page is isolated
  static async load(info) {
    if (typeof WebAssembly !== "object") throw new Error("this browser has no WebAssembly");
    if (typeof OffscreenCanvas !== "function" || !new OffscreenCanvas(1, 1).getContext("2d")) {
      throw new Error("this browser has no OffscreenCanvas 2D");
    }
    ort = ort || await import("./ort/ort.wasm.min.mjs");
    ort.env.wasm.wasmPaths = new URL("./ort/", import.meta.url).href;
    // The model runs in ONNX Runtime's worker, so the page's own work on one frame overlaps
    // the model's on the next, on the cores left to it: one core for the page (2 cores: the
    // model on 1 thread, 27 frames/s; on 2 threads beside the page, 24). Threads beyond one
    // need the page cross-origin isolated.
    const cores = navigator.hardwareConcurrency || 1;
    ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.max(1, Math.min(4, cores - 1)) : 1;
    ort.env.wasm.proxy = true;
    const session = await ort.InferenceSession.create(info.model, { executionProviders: ["wasm"] });
    return new BrowserSegmenter(session, info);
  }

  constructor(session, spec) {
    this.session = session;
    this.spec = spec;
    this.threads = ort.env.wasm.numThreads;
    this.prevGrey = null;  // TemporalSmoother's last frame and map
    this.prevProb = null;
    this.timings = {};
  }

  // The network's probabilities (sigmoid of its logits, at its stride) for one input
  async probabilities(input, shape) {
    const feeds = { [this.session.inputNames[0]]: new ort.Tensor("float32", input, shape) };
    const out = (await this.session.run(feeds))[this.session.outputNames[0]];
    const [mh, mw] = out.dims.slice(-2), logits = out.data, prob = new Float32Array(mh * mw);
    for (let i = 0; i < prob.length; i++) prob[i] = 1 / (1 + Math.exp(-logits[i]));
    return { prob, mh, mw };
  }

  // Probability map (H·W Float32Array, refined) of an ImageData, as Segmenter.predict.
  // options.source: the frame as a canvas image source, resized by the browser (live video);
  // options.smoothing: video.TemporalSmoother's strength, on the map at the guide shape, where
  // its pixels whose blurred grey level changed less than STILL_THRESHOLD since the last call
  // become p - s (p - p_prev). this.timings: ms of the last call per stage.
  async predict(imageData, options = {}) {
    const t0 = performance.now(), { width: w, height: h } = imageData;
    const { input, shape, box } = options.source
      ? prepareFrom(options.source, w, h, this.spec) : prepare(imageData, this.spec);
    const t1 = performance.now();
    const { prob, mh, mw } = await this.probabilities(input, shape);
    const t2 = performance.now();
    const [gh, gw] = guideShape(h, w, this.spec.guide_size);
    const guide = options.source ? greyFrom(options.source, gw, gh) : guideGrey(imageData, gw, gh);
    let small = unletterbox(prob, mw, mh, box, gh, gw, shape[3] / mw);
    if (options.smoothing) small = this.smooth(guide, gw, gh, small, options.smoothing);
    const refined = refineEdge(imageData, guide, small, gw, gh);
    this.timings = { resize: t1 - t0, model: t2 - t1, edge: performance.now() - t2 };
    return refined;
  }

  // Live video: the refined map of a frame (any canvas image source, w×h) at the guide shape
  // only, {map, width, height}, for drawFrame to scale with the canvas. The browser resizes
  // the frame for the model and the guide; the guided filter is applied at the guide shape.
  async predictFrame(source, w, h, smoothing = 0) {
    const generation = this.generation;
    const t0 = performance.now(), { input, shape, box } = prepareFrom(source, w, h, this.spec);
    const t1 = performance.now();
    const { prob, mh, mw } = await this.probabilities(input, shape);
    const t2 = performance.now();
    const [gh, gw] = guideShape(h, w, this.spec.guide_size), guide = greyFrom(source, gw, gh);
    let small = unletterbox(prob, mw, mh, box, gh, gw, shape[3] / mw);
    const t3 = performance.now();
    if (smoothing && generation === this.generation) small = this.smooth(guide, gw, gh, small, smoothing);
    const t4 = performance.now();
    const { A, B } = guidedCoefficients(guide, small, gw, gh);
    for (let i = 0; i < small.length; i++) {
      const v = A[i] * guide[i] * (1 / 255) + B[i];
      small[i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
    this.timings = {
      resize: t1 - t0, model: t2 - t1, guide: t3 - t2, smooth: t4 - t3, edge: performance.now() - t4,
    };
    return { map: small, width: gw, height: gh };
  }

  smooth(guide, w, h, prob, strength) {
    const grey = blurredGrey({ data: guide, width: w, height: h });
    if (this.prevGrey && this.prevShape === `${w}x${h}`) {
      const prev = this.prevGrey, last = this.prevProb;
      for (let i = 0; i < grey.length; i++) {
        if (Math.abs(grey[i] - prev[i]) < STILL_THRESHOLD) prob[i] -= strength * (prob[i] - last[i]);
      }
    }
    this.prevGrey = grey;
    this.prevProb = prob.slice();  // the caller refines prob in place
    this.prevShape = `${w}x${h}`;
    return prob;
  }

  // a new video: frames of the last one still in the worker no longer smooth or are smoothed
  reset() {
    this.prevGrey = this.prevProb = null;
    this.generation = (this.generation || 0) + 1;
  }
}

// video.smoothed_grey: grey levels through OpenCV's 5x5 Gaussian (1 4 6 4 1)/16, reflect-101
function blurredGrey({ data: grey, width: w, height: h }) {
  const tmp = scratchArray("blurred", w * h), out = new Uint8ClampedArray(w * h);
  const at = (i, n) => {  // BORDER_REFLECT_101: dcb|abcd|cba
    if (n === 1) return 0;
    for (;;) {
      if (i < 0) i = -i;
      else if (i >= n) i = 2 * n - i - 2;
      else return i;
    }
  };
  const row = new Float32Array(w + 4);
  for (let y = 0, o = 0; y < h; y++, o += w) {
    row.set(grey.subarray(o, o + w), 2);
    row[0] = grey[o + at(-2, w)]; row[1] = grey[o + at(-1, w)];
    row[w + 2] = grey[o + at(w, w)]; row[w + 3] = grey[o + at(w + 1, w)];
    for (let x = 0; x < w; x++) {
      tmp[o + x] = (row[x] + 4 * row[x + 1] + 6 * row[x + 2] + 4 * row[x + 3] + row[x + 4]) * 0.0625;
    }
  }
  for (let y = 0; y < h; y++) {
    const m2 = at(y - 2, h) * w, m1 = at(y - 1, h) * w, c = y * w;
    const p1 = at(y + 1, h) * w, p2 = at(y + 2, h) * w;
    for (let x = 0; x < w; x++) {
      out[c + x] = Math.round(
        (tmp[m2 + x] + 4 * tmp[m1 + x] + 6 * tmp[c + x] + 4 * tmp[p1 + x] + tmp[p2 + x]) * 0.0625,
      );
    }
  }
  return out;
}

// --- effects (inference/effects.py), drawn on a canvas ---

function hexColor(hex) {
  const v = parseInt(hex.slice(1), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

// effects.alpha_matte: the probability band threshold ± FEATHER becomes the soft edge
function alphaOf(prob, t) {
  const alpha = new Float32Array(prob.length), k = 1 / (2 * FEATHER), c = 0.5 - t * k;
  for (let i = 0; i < prob.length; i++) {
    const a = prob[i] * k + c;
    alpha[i] = a < 0 ? 0 : a > 1 ? 1 : a;
  }
  return alpha;
}

// The effect of `prob` on `imageData` into `canvas` (sized to the image). effect: mask,
// overlay, cutout (transparent; `onColor` puts it on `color` instead), blur, replace (a colour
// or options.background, an ImageData scaled to cover)
export function drawEffect(canvas, imageData, prob, effect, options = {}) {
  const { width: w, height: h, data } = imageData, t = options.threshold ?? 0.5, n = w * h;
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  const ctx = canvas.getContext("2d");
  if (effect === "mask" || effect === "overlay") {
    const out = ctx.createImageData(w, h), o = out.data;
    const over = effect === "overlay";  // viz.overlay: 45 % of (0, 200, 255) on the mask
    for (let i = 0, j = 0; i < n; i++, j += 4) {
      const m = prob[i] > t;
      if (over) {
        o[j] = m ? 0.55 * data[j] : data[j];
        o[j + 1] = m ? 0.55 * data[j + 1] + 90 : data[j + 1];
        o[j + 2] = m ? 0.55 * data[j + 2] + 114.75 : data[j + 2];
      } else {
        o[j] = o[j + 1] = o[j + 2] = m ? 255 : 0;
      }
      o[j + 3] = 255;
    }
    ctx.putImageData(out, 0, 0);
    return;
  }
  // the person: the image with the alpha matte as its transparency
  const alpha = alphaOf(prob, t), person = new ImageData(new Uint8ClampedArray(data), w, h);
  for (let i = 0, p = person.data; i < n; i++) p[4 * i + 3] = alpha[i] * 255;  // Uint8ClampedArray rounds
  if (effect === "cutout" && !options.onColor) {
    ctx.putImageData(person, 0, 0);
    return;
  }
  // over the background, composited by the canvas: alpha · person + (1 - alpha) · background
  if (effect === "blur") {
    ctx.drawImage(blurredBackground(imageData, alpha, options.blur ?? 15), 0, 0, w, h);
  } else if (effect === "replace" && options.background) {
    cover(ctx, options.background, w, h);
  } else {
    ctx.fillStyle = options.color || "#2e7dd1";
    ctx.fillRect(0, 0, w, h);
  }
  const layer = layerOf(w, h, "photo");
  layer.putImageData(person, 0, 0);
  ctx.drawImage(layer.canvas, 0, 0);
}

// A live frame's effect (mask, overlay, blur, replace or cutout on a colour) drawn into
// `canvas` at (w, h) by the canvas itself, from `source` (the video) and predictFrame's small
// map: the map's alpha (or mask) scaled up by the canvas, the person cut out of the frame by
// compositing ("source-in"), the background weighted out for the blur ("destination-out").
export function drawFrame(canvas, source, w, h, { map, width: gw, height: gh }, effect, options = {}) {
  const t = options.threshold ?? 0.5;
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  const ctx = canvas.getContext("2d"), n = gw * gh;
  const small = new ImageData(gw, gh), d = small.data;
  if (effect === "mask" || effect === "overlay") {
    for (let i = 0; i < n; i++) {  // mask: 0/255 at the threshold; overlay: the map
      d[4 * i] = d[4 * i + 1] = d[4 * i + 2] = effect === "mask" ? (map[i] > t ? 255 : 0) : map[i] * 255;
      d[4 * i + 3] = 255;
    }
  } else {
    const alpha = alphaOf(map, t);
    for (let i = 0; i < n; i++) d[4 * i + 3] = alpha[i] * 255;
  }
  const mask = layerOf(gw, gh, "map");
  mask.putImageData(small, 0, 0);
  if (effect === "mask") {
    ctx.drawImage(mask.canvas, 0, 0, w, h);
    return;
  }
  if (effect === "overlay") {  // the map, thresholded by the canvas: 45 % tint where above t
    ctx.drawImage(source, 0, 0, w, h);
    const tint = layerOf(w, h, "tint");
    tint.globalCompositeOperation = "copy";
    tint.drawImage(mask.canvas, 0, 0, w, h);
    const px = tint.getImageData(0, 0, w, h), p = px.data;
    for (let i = 0; i < p.length; i += 4) {
      const on = p[i] > t * 255;
      p[i] = 0; p[i + 1] = 200; p[i + 2] = 255; p[i + 3] = on ? 115 : 0;
    }
    tint.putImageData(px, 0, 0);
    ctx.drawImage(tint.canvas, 0, 0);
    return;
  }
  // the person: the alpha scaled up, the frame drawn into it
  const person = layerOf(w, h, "person");
  person.globalCompositeOperation = "copy";
  person.drawImage(mask.canvas, 0, 0, w, h);
  person.globalCompositeOperation = "source-in";
  person.drawImage(source, 0, 0, w, h);
  // the background
  ctx.globalCompositeOperation = "copy";
  if (effect === "blur") {
    const { sigma, sw, sh } = blurShape(w, h, options.blur ?? 15);
    const weighted = layerOf(sw, sh, "weighted");  // the frame × (1 - alpha), premultiplied
    weighted.globalCompositeOperation = "copy";
    weighted.drawImage(source, 0, 0, sw, sh);
    weighted.globalCompositeOperation = "destination-out";
    weighted.drawImage(mask.canvas, 0, 0, sw, sh);
    ctx.drawImage(blurWeighted(weighted.canvas, sigma), 0, 0, w, h);
  } else {
    ctx.fillStyle = options.color || "#2e7dd1";
    ctx.fillRect(0, 0, w, h);
  }
  ctx.globalCompositeOperation = "source-over";
  ctx.drawImage(person.canvas, 0, 0);
}

// a canvas kept per use for drawing layers, resized to each image (photos vary in size)
const layers = new Map();
function layerOf(w, h, name = "") {
  let ctx = layers.get(name);
  if (!ctx) {
    ctx = new OffscreenCanvas(w, h).getContext("2d", { willReadFrequently: name !== "person" });
    layers.set(name, ctx);
  }
  if (ctx.canvas.width !== w || ctx.canvas.height !== h) {  // resizing also clears it
    ctx.canvas.width = w;
    ctx.canvas.height = h;
  }
  return ctx;
}

// effects.cover: a background image drawn scaled to cover (w, h), centred, the rest cropped
function cover(ctx, background, w, h) {
  const src = new OffscreenCanvas(background.width, background.height);
  src.getContext("2d").putImageData(background, 0, 0);
  const scale = Math.max(w / background.width, h / background.height);
  const bw = background.width * scale, bh = background.height * scale;
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(src, (w - bw) / 2, (h - bh) / 2, bw, bh);
}

// effects.blur_background's sigma (`strength` pixels at 1000 px of the long side) and, as in
// Python, the factor k a wide blur shrinks the image by first (sigma ≥ 4 pixels there)
function blurShape(w, h, strength) {
  const sigma = Math.min(strength / 1000, 1) * Math.max(w, h);
  const k = Math.max(1, Math.min(Math.floor(sigma / 4), w, h));
  return { sigma: sigma / k, sw: Math.max(1, Math.round(w / k)), sh: Math.max(1, Math.round(h / k)) };
}

// The background of effects.blur_background from `weighted`, a shrunk copy whose alpha is the
// background weight: blurred by the canvas (its filters work on premultiplied colour), read back
// as blur(colour × weight) / blur(weight), so no colour of the person bleeds into the blur, and
// made opaque. Returns the canvas, for the caller to draw at full size.
function blurWeighted(weighted, sigma) {
  const { width: sw, height: sh } = weighted;
  const blurred = layerOf(sw, sh, "blurred");
  blurred.globalCompositeOperation = "copy";
  blurred.filter = `blur(${sigma.toFixed(2)}px)`;
  blurred.drawImage(weighted, 0, 0);
  blurred.filter = "none";
  const back = blurred.getImageData(0, 0, sw, sh), b = back.data;  // un-premultiplied: the ratio
  for (let i = 3; i < b.length; i += 4) b[i] = 255;
  blurred.putImageData(back, 0, 0);
  return blurred.canvas;
}

// A photo's blurred background: the image with its alpha the background weight (never 0,
// which keeps a colour under the person), shrunk, blurred
function blurredBackground(imageData, alpha, strength) {
  const { width: w, height: h } = imageData, n = w * h, { sigma, sw, sh } = blurShape(w, h, strength);
  const weighted = new ImageData(new Uint8ClampedArray(imageData.data), w, h), d = weighted.data;
  for (let i = 0; i < n; i++) d[4 * i + 3] = Math.max(1, (1 - alpha[i]) * 255);
  const src = layerOf(w, h, "photo-weighted"), small = layerOf(sw, sh, "weighted");
  src.putImageData(weighted, 0, 0);
  small.globalCompositeOperation = "copy";
  small.drawImage(src.canvas, 0, 0, sw, sh);
  return blurWeighted(small.canvas, sigma);
}

// for tests and profiling
export const internals = { greyOf, guideGrey, areaResize, unletterbox, boxFilter, refineEdge, blurredGrey, alphaOf };
