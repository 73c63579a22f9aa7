// lecun89 serve: a person's picture of a digit or of a row, opened on the page (a file, the camera on a
// phone, dropped on the page or pasted), read by the server as `lecun89 predict FILE` reads the same file.
// Nothing leaves the page but the request to this server.
"use strict";

const PHOTO_TYPES = ["image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp", "image/x-ms-bmp"];
// The server decodes at most 2048x2048 pixels (lecun89/serve/images.py) from a body of at most 1 MiB
// (server.py): a picture within both goes as it is (the server reads the very file); a larger one (a
// phone's 12 MP photo) is drawn upright (its EXIF turn applied) at PHOTO_SIDE pixels on its longer side
// and sent as a PNG (or a JPEG when the PNG is too large).
const PHOTO_MAX_PIXELS = 2048 * 2048;
const PHOTO_MAX_SEND = 760 * 1024;            // bytes of picture: base64 makes them 1 MiB less the JSON around
const PHOTO_SIDE = 1600;
const PHOTO_MAX_FILE = 100 * 1024 * 1024;     // a larger file is refused on the page, unread
const PHOTO_VIEW = [560, 420];                // the picture is shown within this many CSS pixels

const photo = { url: null, name: "", width: 0, height: 0, note: "" };

function photoOpen() { return photo.url !== null; }

function photoClose() {
  if (!photoOpen()) return;
  photo.url = null;
  $("photo-info").hidden = true;
  showPads();
}

function readAsDataURL(blob) {
  return new Promise((resolve, reject) => {
    const fr = new FileReader();
    fr.onload = () => resolve(fr.result);
    fr.onerror = () => reject(new Error("the file could not be read"));
    fr.readAsDataURL(blob);
  });
}

function canvasBlob(c, type, quality) {
  return new Promise((resolve) => c.toBlob(resolve, type, quality));
}

// A picture's bytes for the server: the file itself when it fits, else drawn smaller.
async function photoPayload(file, bitmap) {
  const w = bitmap.width, h = bitmap.height;
  if (PHOTO_TYPES.includes(file.type) && file.size <= PHOTO_MAX_SEND && w * h <= PHOTO_MAX_PIXELS) {
    return { url: await readAsDataURL(file), width: w, height: h, note: "" };
  }
  let side = Math.min(PHOTO_SIDE, Math.max(w, h));
  for (let tries = 0; tries < 6; tries++, side = Math.round(side * 0.75)) {
    const s = side / Math.max(w, h);
    const c = document.createElement("canvas");
    c.width = Math.max(1, Math.round(w * s));
    c.height = Math.max(1, Math.round(h * s));
    const ctx = c.getContext("2d");
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(bitmap, 0, 0, c.width, c.height);
    let blob = await canvasBlob(c, "image/png");
    if (!blob || blob.size > PHOTO_MAX_SEND) {        // a photo: JPEG, on white where it was transparent
      ctx.globalCompositeOperation = "destination-over";
      ctx.fillStyle = "#fff";
      ctx.fillRect(0, 0, c.width, c.height);
      blob = await canvasBlob(c, "image/jpeg", 0.92);
    }
    if (blob && blob.size <= PHOTO_MAX_SEND) {
      return { url: await readAsDataURL(blob), width: c.width, height: c.height,
               note: `made smaller on the page: ${w}\u00d7${h} \u2192 ${c.width}\u00d7${c.height} pixels (${blob.type.slice(6).toUpperCase()})` };
    }
  }
  throw new Error("the picture stays too large to send even made smaller");
}

// Open a picture (a File or Blob) in place of the pad and read it.
async function openPicture(file) {
  if (!file) return;
  const name = file.name || "the pasted picture";
  if (state.tab !== "draw") showTab("draw");
  if (file.size === 0) { status(`${name}: empty file (0 bytes)`, true); return; }
  if (file.size > PHOTO_MAX_FILE) {
    status(`${name}: too large (${(file.size / 1048576).toFixed(0)} MB; at most ${PHOTO_MAX_FILE / 1048576} MB)`, true);
    return;
  }
  if (file.type && !file.type.startsWith("image/")) {
    status(`${name}: not a picture (${file.type}); open a JPEG, PNG, WebP, GIF or BMP`, true);
    return;
  }
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });   // upright, as its EXIF says
  } catch (e) {
    status(`${name}: not a picture this browser can open (JPEG, PNG, WebP, GIF or BMP)`, true);
    return;
  }
  let sent;
  try {
    sent = await photoPayload(file, bitmap);
  } catch (e) {
    status(`${name}: ${e.message}`, true);
    return;
  }
  clearDrawing();                              // the pads' drawing goes; the picture takes their place
  Object.assign(photo, { url: sent.url, name, width: sent.width, height: sent.height, note: sent.note });
  const scale = Math.min(1, PHOTO_VIEW[0] / sent.width, PHOTO_VIEW[1] / sent.height);
  const view = $("photo");
  view.width = Math.max(1, Math.round(sent.width * scale));
  view.height = Math.max(1, Math.round(sent.height * scale));
  const marks = $("photo-marks");
  marks.width = view.width;
  marks.height = view.height;
  const ctx = view.getContext("2d");
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(bitmap, 0, 0, view.width, view.height);
  bitmap.close();
  const info = $("photo-info");
  info.textContent = `${name}: ${sent.width}\u00d7${sent.height} pixels` + (sent.note ? `; ${sent.note}` : "; sent as it is");
  info.hidden = false;
  showPads();
  state.hasInk = true;
  schedule(true);
}

// Over the picture: what the reader removed (page furniture, red) and, for a row, each digit's box and the cuts.
function photoMarks(r) {
  const marks = $("photo-marks");
  const ctx = marks.getContext("2d");
  ctx.clearRect(0, 0, marks.width, marks.height);
  const info = $("photo-info");
  if (!photoOpen()) return;
  const base = `${photo.name}: ${photo.width}\u00d7${photo.height} pixels` + (photo.note ? `; ${photo.note}` : "; sent as it is");
  info.textContent = base;
  if (!r) return;
  const size = r.picture || { width: photo.width, height: photo.height };
  const scale = marks.width / size.width;
  const drawn = [];
  if (r.removed_mask) {
    const img = new Image();
    img.onload = () => {
      if (state.lastDraw !== r) return;          // another reading meanwhile
      ctx.save();
      ctx.globalCompositeOperation = "destination-over";   // under the boxes
      ctx.drawImage(img, 0, 0, marks.width, marks.height);
      ctx.restore();
    };
    img.src = r.removed_mask;
  }
  if (Array.isArray(r.removed)) {
    const kinds = {};
    for (const f of r.removed) kinds[f.kind] = (kinds[f.kind] || 0) + 1;
    const list = Object.entries(kinds).map(([k, n]) => `${n} ${k}${n === 1 ? "" : "s"}`);
    drawn.push(list.length ? `removed (red): ${list.join(", ")}` : "no page furniture found");
  }
  if (r.row && !r.blank) rowMarks(ctx, r, scale, marks.height);
  if (drawn.length) info.textContent = `${base}. ${drawn.join("; ")}`;
}

for (const id of ["photo-file", "photo-camera"]) {
  $(id).addEventListener("change", (e) => {
    const file = e.target.files[0];
    e.target.value = "";                       // the same file may be opened again
    openPicture(file);
  });
}
if (window.matchMedia && window.matchMedia("(pointer: coarse)").matches) $("camera-button").hidden = false;

// Dropped on the page, or pasted.
let dragDepth = 0;
document.addEventListener("dragenter", (e) => {
  if (!e.dataTransfer || !Array.from(e.dataTransfer.types || []).includes("Files")) return;
  dragDepth++;
  document.body.classList.add("dropping");
});
document.addEventListener("dragleave", () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (!dragDepth) document.body.classList.remove("dropping");
});
document.addEventListener("dragover", (e) => { e.preventDefault(); });
document.addEventListener("drop", (e) => {
  e.preventDefault();
  dragDepth = 0;
  document.body.classList.remove("dropping");
  const files = e.dataTransfer ? e.dataTransfer.files : null;
  if (files && files.length) openPicture(files[0]);
  else status("drop a picture file (JPEG, PNG, WebP, GIF or BMP)", true);
});
document.addEventListener("paste", (e) => {
  if (["INPUT", "TEXTAREA"].includes(e.target.tagName)) return;
  const files = e.clipboardData ? Array.from(e.clipboardData.files) : [];
  const picture = files.find((f) => f.type.startsWith("image/"));
  if (picture) { e.preventDefault(); openPicture(picture); }
});
$("row-count").addEventListener("change", () => { if (state.hasInk) schedule(true); });
