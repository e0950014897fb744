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

// One axis of a resize as taps: for each output index, source indices and weights.
// OpenCV's INTER_AREA when shrinking (the share of each source pixel in the output pixel) ...
function areaTaps(src, dst) {
  const scale = src / dst, taps = [];
  for (let i = 0; i < dst; i++) {
    const lo = i * scale, hi = Math.min(src, (i + 1) * scale), idx = [], wt = [];
    for (let j = Math.floor(lo); j < hi; j++) {
      const share = Math.min(hi, j + 1) - Math.max(lo, j);
      if (share > 1e-9) { idx.push(j); wt.push(share / scale); }
    }
    taps.push([idx, wt]);
  }
  return taps;
}

// ... and INTER_LINEAR (pixel centres aligned, edges clamped)
function linearTaps(src, dst) {
  const scale = src / dst, taps = [];
  for (let i = 0; i < dst; i++) {
    let f = (i + 0.5) * scale - 0.5, s = Math.floor(f);
    f -= s;
    if (s < 0) { s = 0; f = 0; }
    if (s >= src - 1) { s = src - 1; f = 0; }
    taps.push(f === 0 ? [[s], [1]] : [[s, s + 1], [1 - f, f]]);
  }
  return taps;
}

// A planar image {data: Float32Array, width, height, channels} resampled by per-axis taps;
// `round` rounds to whole grey levels, as OpenCV's uint8 output does.
function resample(img, xt, yt, round) {
  const { data, width, height, channels: c } = img, dw = xt.length, dh = yt.length;
  const mid = new Float32Array(dw * height * c);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < dw; x++) {
      const [idx, wt] = xt[x];
      for (let k = 0; k < c; k++) {
        let s = 0;
        for (let t = 0; t < idx.length; t++) s += wt[t] * data[(y * width + idx[t]) * c + k];
        mid[(y * dw + x) * c + k] = s;
      }
    }
  }
  const out = new Float32Array(dw * dh * c);
  for (let y = 0; y < dh; y++) {
    const [idx, wt] = yt[y];
    for (let i = 0; i < dw * c; i++) {
      let s = 0;
      for (let t = 0; t < idx.length; t++) s += wt[t] * mid[idx[t] * dw * c + i];
      out[y * dw * c + i] = round ? Math.round(s) : s;
    }
  }
  return { data: out, width: dw, height: dh, channels: c };
}

// geometry.area_resize: by the largest whole factor that divides both sides, then bilinear
// when less than a factor of 2 is left, by area otherwise
export function areaResize(img, nw, nh) {
  const kMax = Math.min(Math.floor(img.width / nw), Math.floor(img.height / nh));
  for (let k = kMax; k > 1; k--) {
    if (img.height % k === 0 && img.width % k === 0) {
      const w = img.width / k, h = img.height / k;
      img = resample(img, areaTaps(img.width, w), areaTaps(img.height, h), true);
      break;
    }
  }
  const linear = img.width < 2 * nw && img.height < 2 * nh;
  const taps = linear ? linearTaps : areaTaps;
  return resample(img, taps(img.width, nw), taps(img.height, nh), true);
}

function scaleTo(img, nw, nh) {
  if (nw === img.width && nh === img.height) return img;
  if (nw <= img.width && nh <= img.height) return areaResize(img, nw, nh);
  return resample(img, linearTaps(img.width, nw), linearTaps(img.height, nh), true);
}

// RGBA ImageData → planar-by-pixel RGB and grey (effects.refine_edge's COLOR_RGB2GRAY)
export function rgbOf(imageData) {
  const { data, width, height } = imageData, n = width * height;
  const rgb = new Float32Array(n * 3), grey = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const r = data[4 * i], g = data[4 * i + 1], b = data[4 * i + 2];
    rgb[3 * i] = r; rgb[3 * i + 1] = g; rgb[3 * i + 2] = b;
    grey[i] = Math.round(0.299 * r + 0.587 * g + 0.114 * b);
  }
  return {
    rgb: { data: rgb, width, height, channels: 3 },
    grey: { data: grey, width, height, channels: 1 },
  };
}

// Segmenter.prepare with resize "fit": the normalised (1, 3, H, W) input and its box
export function prepare(rgb, spec) {
  const { width: w, height: h } = rgb;
  const size = Math.min(spec.input_size, Math.max(spec.min_fit_size, Math.floor(Math.sqrt(h * w))));
  const [outH, outW] = fitShape(h, w, size, spec.divisor);
  const scale = Math.min(outH / h, outW / w);
  const nh = Math.max(1, pyRound(h * scale)), nw = Math.max(1, pyRound(w * scale));
  const resized = scaleTo(rgb, nw, nh);
  const top = Math.floor((outH - nh) / 2), left = Math.floor((outW - nw) / 2);
  const x = new Float32Array(3 * outH * outW), plane = outH * outW;
  for (let k = 0; k < 3; k++) {  // zero padding, normalised like the picture
    x.fill(-spec.mean[k] / spec.std[k], k * plane, (k + 1) * plane);
  }
  const scales = spec.std.map((s) => 1 / (255 * s)), shifts = spec.mean.map((m, k) => -m / spec.std[k]);
  for (let y = 0; y < nh; y++) {
    for (let xx = 0; xx < nw; xx++) {
      const src = (y * nw + xx) * 3, dst = (y + top) * outW + xx + left;
      for (let k = 0; k < 3; k++) x[k * plane + dst] = resized.data[src + k] * scales[k] + shifts[k];
    }
  }
  return { input: x, shape: [1, 3, outH, outW], box: [top, left, nh, nw] };
}

// geometry.unletterbox with a stride: the map (mh, mw) sampled by one bilinear warp at (h, w)
function unletterbox(prob, mw, mh, box, h, w, stride) {
  const [top, left, nh, nw] = box;
  const sx = nw / (w * stride), sy = nh / (h * stride);
  const ox = (left + (0.5 * nw) / w) / stride - 0.5, oy = (top + (0.5 * nh) / h) / stride - 0.5;
  const out = new Float32Array(h * w);
  for (let y = 0; y < h; y++) {
    let fy = Math.min(Math.max(sy * y + oy, 0), mh - 1);
    const y0 = Math.floor(fy), y1 = Math.min(y0 + 1, mh - 1);
    fy -= y0;
    for (let x = 0; x < w; x++) {
      let fx = Math.min(Math.max(sx * x + ox, 0), mw - 1);
      const x0 = Math.floor(fx), x1 = Math.min(x0 + 1, mw - 1);
      fx -= x0;
      const a = prob[y0 * mw + x0] + fx * (prob[y0 * mw + x1] - prob[y0 * mw + x0]);
      const b = prob[y1 * mw + x0] + fx * (prob[y1 * mw + x1] - prob[y1 * mw + x0]);
      out[y * w + x] = a + fy * (b - a);
    }
  }
  return out;
}

// cv2.boxFilter, 5x5 (radius 2), normalised, BORDER_REFLECT (edge pixels repeated)
function boxFilter(src, w, h, r) {
  const reflect = (i, n) => (i < 0 ? -i - 1 : i >= n ? 2 * n - i - 1 : i);
  const tmp = new Float32Array(w * h), out = new Float32Array(w * h), n = 2 * r + 1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let d = -r; d <= r; d++) s += src[y * w + reflect(x + d, w)];
      tmp[y * w + x] = s / n;
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let d = -r; d <= r; d++) s += tmp[reflect(y + d, h) * w + x];
      out[y * w + x] = s / n;
    }
  }
  return out;
}

// effects.refine_edge (guided): coefficients fitted at the guide shape, applied at full size
function refineEdge(grey, small, gw, gh) {
  const g = areaResize(grey, gw, gh).data.map((v) => v / 255);
  const r = 2, eps = 1e-3, n = gw * gh;
  const gp = new Float32Array(n), gg = new Float32Array(n);
  for (let i = 0; i < n; i++) { gp[i] = g[i] * small[i]; gg[i] = g[i] * g[i]; }
  const mi = boxFilter(g, gw, gh, r), mp = boxFilter(small, gw, gh, r);
  const mgp = boxFilter(gp, gw, gh, r), mgg = boxFilter(gg, gw, gh, r);
  const a = new Float32Array(n), b = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a[i] = (mgp[i] - mi[i] * mp[i]) / (mgg[i] - mi[i] * mi[i] + eps);
    b[i] = mp[i] - a[i] * mi[i];
  }
  const A = { data: boxFilter(a, gw, gh, r), width: gw, height: gh, channels: 1 };
  const B = { data: boxFilter(b, gw, gh, r), width: gw, height: gh, channels: 1 };
  const { width: w, height: h } = grey;
  if (gw === w && gh === h) {
    return A.data.map((v, i) => Math.min(1, Math.max(0, v * (grey.data[i] / 255) + B.data[i])));
  }
  const xt = linearTaps(gw, w), yt = linearTaps(gh, h);
  const up = (m) => resample(m, xt, yt, false).data;
  const au = up(A), bu = up(B), out = new Float32Array(w * h);
  for (let i = 0; i < w * h; i++) {
    out[i] = Math.min(1, Math.max(0, au[i] * (grey.data[i] / 255) + bu[i]));
  }
  return out;
}

// --- the model ---

export class BrowserSegmenter {
  // info: GET /v1/browser (the model's URL and spec); threads where the page is isolated
  static async load(info) {
    if (typeof WebAssembly !== "object") throw new Error("this browser has no WebAssembly");
    ort = ort || await import("./ort/ort.wasm.min.mjs");
    ort.env.wasm.wasmPaths = new URL("./ort/", import.meta.url).href;
    ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
    const session = await ort.InferenceSession.create(info.model, { executionProviders: ["wasm"] });
    return new BrowserSegmenter(session, info);
  }

  constructor(session, spec) {
    this.session = session;
    this.spec = spec;
    this.threads = ort.env.wasm.numThreads;
    this.prevGrey = null;  // TemporalSmoother's last frame and map
    this.prevProb = null;
  }

  // Probability map (H·W Float32Array, refined) of an ImageData, as Segmenter.predict
  async predict(imageData) {
    const { rgb, grey } = rgbOf(imageData);
    const { input, shape, box } = prepare(rgb, this.spec);
    const feeds = { [this.session.inputNames[0]]: new ort.Tensor("float32", input, shape) };
    const out = (await this.session.run(feeds))[this.session.outputNames[0]];
    const [mh, mw] = out.dims.slice(-2), logits = out.data, prob = new Float32Array(mh * mw);
    for (let i = 0; i < prob.length; i++) prob[i] = 1 / (1 + Math.exp(-logits[i]));
    const stride = shape[3] / mw, { width: w, height: h } = rgb;
    const [gh, gw] = guideShape(h, w, this.spec.guide_size);
    return refineEdge(grey, unletterbox(prob, mw, mh, box, gh, gw, stride), gw, gh);
  }

  // video.TemporalSmoother: on pixels whose blurred grey level changed less than
  // STILL_THRESHOLD, p = p - s (p - p_prev)
  smooth(imageData, prob, strength) {
    const { width: w, height: h } = imageData, grey = blurredGrey(imageData);
    if (strength > 0 && this.prevGrey && this.prevGrey.length === grey.length) {
      for (let i = 0; i < w * h; i++) {
        if (Math.abs(grey[i] - this.prevGrey[i]) < STILL_THRESHOLD) {
          prob[i] -= strength * (prob[i] - this.prevProb[i]);
        }
      }
    }
    this.prevGrey = grey;
    this.prevProb = prob;
    return prob;
  }

  reset() { this.prevGrey = this.prevProb = null; }
}

// video.smoothed_grey: grey levels through OpenCV's 5x5 Gaussian (1 4 6 4 1)/16, reflect-101
function blurredGrey(imageData) {
  const { data, width: w, height: h } = imageData, k = [1, 4, 6, 4, 1];
  const grey = new Float32Array(w * h), tmp = new Float32Array(w * h), out = new Uint8ClampedArray(w * h);
  for (let i = 0; i < w * h; i++) {
    grey[i] = Math.round(0.299 * data[4 * i] + 0.587 * data[4 * i + 1] + 0.114 * data[4 * i + 2]);
  }
  const at = (i, n) => (i < 0 ? -i : i >= n ? 2 * n - i - 2 : i);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let d = -2; d <= 2; d++) s += k[d + 2] * grey[y * w + at(x + d, w)];
      tmp[y * w + x] = s / 16;
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let d = -2; d <= 2; d++) s += k[d + 2] * tmp[at(y + d, h) * w + x];
      out[y * w + x] = Math.round(s / 16);
    }
  }
  return out;
}

// --- effects (inference/effects.py), drawn on a canvas ---

function hexColor(hex) {
  const v = parseInt(hex.slice(1), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

// The effect of `prob` on `imageData` into `canvas` (sized to the image). effect: mask,
// overlay, cutout (transparent; `onColor` puts it on `color` instead), blur, replace (a colour)
export function drawEffect(canvas, imageData, prob, effect, options = {}) {
  const { width: w, height: h, data } = imageData, t = options.threshold ?? 0.5;
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d");
  const out = ctx.createImageData(w, h), o = out.data, n = w * h;
  let bg = null;
  if (effect === "blur") bg = blurredBackground(imageData, prob, t, options.blur ?? 15);
  if (effect === "replace" && options.background) bg = cover(options.background, w, h);
  const color = hexColor(options.color || "#2e7dd1");
  for (let i = 0; i < n; i++) {
    const p = prob[i], j = 4 * i;
    if (effect === "mask") {
      const v = p > t ? 255 : 0;
      o[j] = o[j + 1] = o[j + 2] = v;
      o[j + 3] = 255;
      continue;
    }
    if (effect === "overlay") {  // viz.overlay: 45 % of (0, 200, 255) on the mask
      const m = p > t;
      o[j] = m ? 0.55 * data[j] : data[j];
      o[j + 1] = m ? 0.55 * data[j + 1] + 90 : data[j + 1];
      o[j + 2] = m ? 0.55 * data[j + 2] + 114.75 : data[j + 2];
      o[j + 3] = 255;
      continue;
    }
    const a = Math.min(1, Math.max(0, (p - t) / (2 * FEATHER) + 0.5));
    if (effect === "cutout" && !options.onColor) {
      o[j] = data[j]; o[j + 1] = data[j + 1]; o[j + 2] = data[j + 2];
      o[j + 3] = a * 255 + 0.5;
      continue;
    }
    const b = bg ? [bg[j], bg[j + 1], bg[j + 2]] : color;
    for (let k = 0; k < 3; k++) o[j + k] = a * data[j + k] + (1 - a) * b[k] + 0.5;
    o[j + 3] = 255;
  }
  ctx.putImageData(out, 0, 0);
}

// effects.cover: a background image scaled to cover (w, h), centred, the rest cropped
function cover(background, w, h) {
  const src = new OffscreenCanvas(background.width, background.height);
  src.getContext("2d").putImageData(background, 0, 0);
  const scale = Math.max(w / background.width, h / background.height);
  const bw = background.width * scale, bh = background.height * scale;
  const dst = new OffscreenCanvas(w, h), ctx = dst.getContext("2d", { willReadFrequently: true });
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(src, (w - bw) / 2, (h - bh) / 2, bw, bh);
  return ctx.getImageData(0, 0, w, h).data;
}

// effects.blur_background: the image blurred with the person's pixels weighted out, so no
// colour of the person bleeds into the blur. The canvas does it: an image whose alpha is the
// background weight, blurred (canvas filters work on premultiplied colour), is read back as
// blur(colour × weight) / blur(weight). Sigma: `strength` pixels at 1000 px of the long side.
function blurredBackground(imageData, prob, t, strength) {
  const { width: w, height: h } = imageData;
  const weighted = new ImageData(new Uint8ClampedArray(imageData.data), w, h), d = weighted.data;
  for (let i = 0; i < w * h; i++) {
    const a = Math.min(1, Math.max(0, (prob[i] - t) / (2 * FEATHER) + 0.5));
    d[4 * i + 3] = Math.max(1, (1 - a) * 255);  // never 0: keeps a colour under the person
  }
  const src = new OffscreenCanvas(w, h), dst = new OffscreenCanvas(w, h);
  src.getContext("2d").putImageData(weighted, 0, 0);
  const ctx = dst.getContext("2d", { willReadFrequently: true });
  ctx.filter = `blur(${(Math.min(strength / 1000, 1) * Math.max(w, h)).toFixed(2)}px)`;
  ctx.drawImage(src, 0, 0);
  return ctx.getImageData(0, 0, w, h).data;
}
