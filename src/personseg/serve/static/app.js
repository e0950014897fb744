// personseg page. Two modes: "in this browser" runs the bundled fast model in the page itself
// (browser.js, ONNX Runtime Web on WebAssembly: no photo or frame leaves the machine); "on the
// server" sends photos to POST /v1/segment and camera frames over WS /v1/stream.
// Plain JavaScript served by the package itself: no CDN, works offline.
import { BrowserSegmenter, canvasPixels, drawEffect, drawFrame } from "./browser.js";

const $ = (id) => document.getElementById(id);
let frames = 0;       // processed camera frames (read by the browser tests)
let live = null;      // {stream, ws?} while the Live tab runs
let browserSeg = null;  // the in-browser model once loaded
let browserError = "";  // why in-browser mode is unavailable, if it is
let browserReady = null;  // settles once in-browser mode is loaded or known unavailable

function mode() { return $("mode").value; }

function options() {
  const effect = $("effect").value;
  const params = new URLSearchParams({ effect, format: $("format").value });
  if (effect === "replace" && !$("bg-image").files.length) params.set("background", $("bg-color").value);
  return params;
}

async function errorText(response) {
  try { return (await response.json()).detail; } catch { return response.statusText; }
}

// --- in-browser mode ---

async function loadBrowserModel() {
  try {
    const response = await fetch("/v1/browser");
    if (!response.ok) throw new Error(await errorText(response));
    const info = await response.json();
    browserSeg = await BrowserSegmenter.load(info);
    const threads = browserSeg.threads === 1 ? "1 thread" : `${browserSeg.threads} threads`;
    $("mode-status").textContent = `in-browser: ${info.name} model, WebAssembly in a worker, ${threads}`;
  } catch (err) {
    browserError = String(err.message || err);
    browserSeg = null;
    $("mode").value = "server";
    $("mode").querySelector("option[value=browser]").disabled = true;
    $("mode-status").textContent = `in-browser mode unavailable (${browserError}): the server segments`;
  }
}

async function imageOfFile(file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    throw new Error(`${file.name}: this browser cannot decode it; choose "on the server" (Runs)`);
  }
  const data = canvasPixels(bitmap, bitmap.width, bitmap.height, "photo-in");
  bitmap.close();
  return data;
}

// the photo's effect as a Blob made in the page (the server's formats and file names)
async function segmentInBrowser(file, params) {
  const effect = params.get("effect"), format = params.get("format");
  if (effect === "cutout" && format === "jpeg") {
    throw new Error("JPEG has no transparency: ask for the cut-out as png or webp");
  }
  const image = await imageOfFile(file);
  const start = performance.now();
  const prob = await browserSeg.predict(image);
  const canvas = document.createElement("canvas");
  let background = null;
  if (effect === "replace" && $("bg-image").files.length) {
    background = await imageOfFile($("bg-image").files[0]);
  }
  drawEffect(canvas, image, prob, effect, {
    threshold: browserSeg.spec.threshold, color: $("bg-color").value, background,
  });
  const ms = performance.now() - start;
  const blob = await new Promise((done) => canvas.toBlob(done, `image/${format}`, 0.92));
  return { blob, note: `${Math.round(ms)} ms in this browser` };
}

async function segmentOnServer(file, params) {
  const form = new FormData();
  form.append("image", file);
  if (params.get("effect") === "replace" && $("bg-image").files.length) {
    form.append("background", $("bg-image").files[0]);
  }
  const response = await fetch(`/v1/segment?${params}`, { method: "POST", body: form });
  if (!response.ok) throw new Error(`${response.status}: ${await errorText(response)}`);
  const timing = response.headers.get("Server-Timing") || "";
  const total = /total;dur=([\d.]+)/.exec(timing);
  return { blob: await response.blob(), note: total ? `${Math.round(total[1])} ms on the server` : "" };
}

async function segmentFile(file) {
  const row = $("result-row").content.firstElementChild.cloneNode(true);
  row.querySelector("h2").textContent = file.name;
  row.querySelector(".before").src = URL.createObjectURL(file);
  $("results").prepend(row);
  const status = row.querySelector(".status");
  const params = options();
  try {
    if (mode() === "browser") await browserReady;  // never the server while the model loads
    const inBrowser = mode() === "browser" && browserSeg;
    const { blob, note } = await (inBrowser ? segmentInBrowser : segmentOnServer)(file, params);
    const after = row.querySelector(".after");
    after.src = URL.createObjectURL(blob);
    await after.decode();
    status.textContent = `after: ${after.naturalWidth}×${after.naturalHeight}` + (note ? `, ${note}` : "");
    const link = row.querySelector(".download");
    const stem = file.name.replace(/\.[^.]*$/, "");
    const format = params.get("format");
    link.href = after.src;
    link.download = `${stem}_${params.get("effect")}.${format === "jpeg" ? "jpg" : format}`;
    link.hidden = false;
    row.dataset.state = "done";
  } catch (err) {
    status.textContent = String(err.message || err);
    status.classList.add("error");
    row.dataset.state = "error";
  }
}

async function segmentFiles(files) {
  for (const file of files) await segmentFile(file);  // one at a time: the server queues anyway
}

function showTab(name) {
  for (const tab of document.querySelectorAll(".tab")) {
    const on = tab.dataset.panel === name;
    tab.classList.toggle("active", on);
    $(`panel-${tab.dataset.panel}`).hidden = !on;
  }
  if (name !== "live") stopLive();
}

// --- the Live tab ---

function countFrame(times) {
  frames += 1;
  const now = performance.now();
  times.push(now);
  while (times.length && now - times[0] > 2000) times.shift();
  $("frames").textContent = frames;
  $("fps").textContent = times.length > 1 ? ((times.length - 1) * 1000 / (now - times[0])).toFixed(1) : "0.0";
}

async function startLive() {
  const status = $("live-status");
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
  } catch (err) {
    status.textContent = `no camera: ${err.message || err}`;
    status.classList.add("error");
    return;
  }
  const video = $("camera");
  video.srcObject = stream;
  await video.play();
  live = { stream };
  $("live-start").disabled = true;
  $("live-stop").disabled = false;
  $("mode").disabled = true;
  status.classList.remove("error");
  if (mode() === "browser") await browserReady;
  const inBrowser = mode() === "browser" && browserSeg;
  $("live-canvas").hidden = !inBrowser;
  $("live-out").hidden = inBrowser;
  if (inBrowser) liveInBrowser(video, live);
  else liveOnServer(video, live);
}

// Each new camera frame segmented in the page, smoothed as `personseg video` does, drawn
function liveInBrowser(video, session) {
  const canvas = $("live-canvas"), times = [];
  const effect = $("effect").value;
  browserSeg.reset();
  $("live-status").textContent = "running in this browser";
  const next = (step) => (video.requestVideoFrameCallback
    ? video.requestVideoFrameCallback(step) : requestAnimationFrame(step));
  // two frames in flight: while the model (in ONNX Runtime's worker) runs on one, the page
  // finishes and draws the one before; they complete in order
  let busy = 0, turn = 0;
  const frames2 = [null, null];
  const step = () => {
    if (live !== session) return;
    if (video.videoWidth && busy < 2) {
      const scale = Math.min(1, 640 / video.videoWidth);
      const w = Math.round(video.videoWidth * scale), h = Math.round(video.videoHeight * scale);
      frames2[turn] = frames2[turn] || new OffscreenCanvas(w, h);
      const frame = frames2[turn];  // two canvases: one per frame in flight
      turn = 1 - turn;
      if (frame.width !== w || frame.height !== h) { frame.width = w; frame.height = h; }
      frame.getContext("2d").drawImage(video, 0, 0, w, h);  // the video frame read once
      busy += 1;
      browserSeg.predictFrame(frame, w, h, 0.5).then((small) => {
        if (live !== session) return;
        const t1 = performance.now();
        drawFrame(canvas, frame, w, h, small, effect, {
          threshold: browserSeg.spec.threshold, color: $("bg-color").value,
        });
        const stages = { ...browserSeg.timings, effect: performance.now() - t1 };
        $("live-stages").textContent = Object.entries(stages).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(", ") + " ms";
        countFrame(times);
      }).catch((err) => {
        if (live === session) $("live-status").textContent = `in-browser error: ${err.message || err}`;
      }).finally(() => { busy -= 1; });
    }
    next(step);
  };
  next(step);
}

function liveOnServer(video, session) {
  const status = $("live-status");
  const params = new URLSearchParams({ effect: $("effect").value === "cutout" ? "blur" : $("effect").value });
  if (params.get("effect") === "replace") params.set("background", $("bg-color").value);
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/v1/stream?${params}`);
  ws.binaryType = "blob";
  session.ws = ws;
  const canvas = document.createElement("canvas");
  const times = [];

  const send = () => {
    if (live !== session || ws.readyState !== WebSocket.OPEN || !video.videoWidth) {
      if (live === session) setTimeout(send, 50);
      return;
    }
    const scale = Math.min(1, 640 / video.videoWidth);
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    canvas.toBlob((blob) => { if (live === session && blob) ws.send(blob); }, "image/jpeg", 0.8);
  };
  ws.onopen = () => { status.textContent = "streaming to the server"; send(); };
  ws.onmessage = (event) => {
    if (typeof event.data === "string") {  // a refused frame: {"error", "status"}
      const err = JSON.parse(event.data);
      status.textContent = `${err.status}: ${err.error}`;
      setTimeout(send, err.status === 503 ? 1000 : 100);
      return;
    }
    const out = $("live-out");
    const old = out.src;
    out.src = URL.createObjectURL(event.data);
    if (old) URL.revokeObjectURL(old);
    countFrame(times);
    send();  // one frame in flight: the stream never queues up behind a slow server
  };
  ws.onclose = (event) => {
    if (live === session) {
      status.textContent = `connection closed${event.reason ? `: ${event.reason}` : ""}`;
      stopLive();
    }
  };
}

function stopLive() {
  if (!live) return;
  const { ws, stream } = live;
  live = null;
  if (ws) ws.close();
  for (const track of stream.getTracks()) track.stop();
  $("camera").srcObject = null;
  $("live-start").disabled = false;
  $("live-stop").disabled = true;
  $("mode").disabled = false;
}

function init() {
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => showTab(tab.dataset.panel));
  }
  $("files").addEventListener("change", (e) => segmentFiles([...e.target.files]));
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    segmentFiles([...e.dataTransfer.files].filter((f) => f.type.startsWith("image/")));
  });
  $("live-start").addEventListener("click", startLive);
  $("live-stop").addEventListener("click", stopLive);
  fetch("/v1/models").then((r) => r.json()).then((info) => {
    const m = info.models[0];
    $("model").textContent = `server: model ${m.name} (${m.architecture}, ${m.backend})`;
  }).catch(() => {});
  document.body.dataset.ready = "loading";
  browserReady = loadBrowserModel().finally(() => { document.body.dataset.ready = "yes"; });
}

init();
