// personseg page: photos through POST /v1/segment, the camera through WS /v1/stream.
// Plain JavaScript served by the package itself: no CDN, works offline.
"use strict";

const $ = (id) => document.getElementById(id);
let frames = 0;       // processed camera frames received (read by the browser test)
let live = null;      // {ws, stream, timer} while the Live tab runs

function options() {
  const effect = $("effect").value;
  const params = new URLSearchParams({ effect, format: $("format").value });
  if (effect === "replace" && !$("bg-image").files.length) params.set("background", $("bg-color").value);
  return params;
}

async function errorText(response) {
  try { return (await response.json()).detail; } catch { return response.statusText; }
}

async function segmentFile(file) {
  const row = $("result-row").content.firstElementChild.cloneNode(true);
  row.querySelector("h2").textContent = file.name;
  row.querySelector(".before").src = URL.createObjectURL(file);
  $("results").prepend(row);
  const status = row.querySelector(".status");
  const params = options();
  const form = new FormData();
  form.append("image", file);
  if (params.get("effect") === "replace" && $("bg-image").files.length) {
    form.append("background", $("bg-image").files[0]);
  }
  try {
    const response = await fetch(`/v1/segment?${params}`, { method: "POST", body: form });
    if (!response.ok) throw new Error(`${response.status}: ${await errorText(response)}`);
    const blob = await response.blob();
    const after = row.querySelector(".after");
    after.src = URL.createObjectURL(blob);
    await after.decode();
    const timing = response.headers.get("Server-Timing") || "";
    const total = /total;dur=([\d.]+)/.exec(timing);
    status.textContent = `after: ${after.naturalWidth}×${after.naturalHeight}` +
      (total ? `, ${Math.round(total[1])} ms on the server` : "");
    const link = row.querySelector(".download");
    const stem = file.name.replace(/\.[^.]*$/, "");
    link.href = after.src;
    link.download = `${stem}_${params.get("effect")}.${params.get("format") === "jpeg" ? "jpg" : params.get("format")}`;
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
  const params = new URLSearchParams({ effect: $("effect").value === "cutout" ? "blur" : $("effect").value });
  if (params.get("effect") === "replace") params.set("background", $("bg-color").value);
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/v1/stream?${params}`);
  ws.binaryType = "blob";
  const canvas = document.createElement("canvas");
  const times = [];
  live = { ws, stream };
  $("live-start").disabled = true;
  $("live-stop").disabled = false;
  status.classList.remove("error");

  const send = () => {
    if (!live || ws.readyState !== WebSocket.OPEN || !video.videoWidth) {
      if (live) setTimeout(send, 50);
      return;
    }
    const scale = Math.min(1, 640 / video.videoWidth);
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    canvas.toBlob((blob) => { if (live && blob) ws.send(blob); }, "image/jpeg", 0.8);
  };
  ws.onopen = () => { status.textContent = "streaming"; send(); };
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
    frames += 1;
    const now = performance.now();
    times.push(now);
    while (times.length && now - times[0] > 2000) times.shift();
    $("frames").textContent = frames;
    $("fps").textContent = times.length > 1 ? ((times.length - 1) * 1000 / (now - times[0])).toFixed(1) : "0.0";
    send();  // one frame in flight: the stream never queues up behind a slow server
  };
  ws.onclose = (event) => {
    if (live && live.ws === ws) {
      status.textContent = `connection closed${event.reason ? `: ${event.reason}` : ""}`;
      stopLive();
    }
  };
}

function stopLive() {
  if (!live) return;
  const { ws, stream } = live;
  live = null;
  ws.close();
  for (const track of stream.getTracks()) track.stop();
  $("camera").srcObject = null;
  $("live-start").disabled = false;
  $("live-stop").disabled = true;
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
    $("model").textContent = `model ${m.name} (${m.architecture}, ${m.backend})`;
  }).catch(() => {});
}

init();
