// Vigil console: plain JavaScript against the /v1 API of the server that serves it.
// The API key lives in sessionStorage (this tab only) and goes out as `Authorization:
// Bearer`; event streams are read with fetch, because EventSource cannot send that header.
// Text from the server is only ever set as textContent, never parsed as HTML.
"use strict";

const KEY = "vigil.key";
const state = { page: null, streams: {}, alerts: new Map(), photos: new Map(), group: null };

// -- small helpers ---------------------------------------------------------------------

function $(id) { return document.getElementById(id); }

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === "dataset") Object.assign(node.dataset, value);
    else if (name in node) node[name] = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return node;
}

function notify(text, error = false) {
  const box = $("notice");
  box.textContent = text;
  box.className = error ? "error" : "";
  box.hidden = false;
  clearTimeout(notify.timer);
  notify.timer = setTimeout(() => { box.hidden = true; }, 5000);
}

function when(iso) { return new Date(iso).toLocaleString(); }

function jpeg(base64) { return base64 ? `data:image/jpeg;base64,${base64}` : ""; }

function crop(base64, alt) {
  return base64 ? el("img", { src: jpeg(base64), alt }) : el("div", { className: "photo-missing" }, "no crop");
}

// -- the API ---------------------------------------------------------------------------

class Problem extends Error {
  constructor(status, body) {
    super(body && body.detail ? `${body.detail} [${body.code || status}]` : `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
  }
}

function headers(extra = {}) {
  return { Authorization: `Bearer ${sessionStorage.getItem(KEY) || ""}`, ...extra };
}

async function api(path, { method = "GET", json, form, raw = false } = {}) {
  const options = { method, headers: headers() };
  if (json !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(json);
  } else if (form !== undefined) {
    options.body = form;
  }
  const response = await fetch(path, options);
  if (response.status === 401) showLogin("The key was refused: paste a valid one.");
  if (!response.ok) {
    let body = null;
    try { body = await response.json(); } catch (_) { /* not problem+json */ }
    throw new Problem(response.status, body);
  }
  if (raw) return response;
  return response.status === 204 ? null : response.json();
}

function failed(error) { notify(error.message, true); }

// Server-Sent Events over fetch: reconnects after the server ends a stream (it does every
// few minutes, and at once when it stops) until `stopStream(name)`.
function openStream(name, path, onEvent) {
  stopStream(name);
  const control = new AbortController();
  state.streams[name] = control;
  const live = $("live");
  (async () => {
    while (!control.signal.aborted) {
      try {
        const response = await fetch(path, { headers: headers(), signal: control.signal });
        if (!response.ok) throw new Problem(response.status, null);
        live.textContent = "live";
        live.classList.add("on");
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6));
            if (data.length) onEvent(JSON.parse(data.join("\n")));
          }
        }
      } catch (error) {
        if (control.signal.aborted) return;
        if (error.status === 401) { showLogin("The key was refused: paste a valid one."); return; }
      }
      live.textContent = "reconnecting";
      live.classList.remove("on");
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  })();
}

function stopStream(name) {
  if (state.streams[name]) state.streams[name].abort();
  delete state.streams[name];
}

// -- login -----------------------------------------------------------------------------

function showLogin(message = "") {
  Object.keys(state.streams).forEach(stopStream);
  $("login-error").textContent = message;
  $("login").hidden = false;
  $("key").focus();
}

async function login(event) {
  event.preventDefault();
  sessionStorage.setItem(KEY, $("key").value.trim());
  try {
    await api("/v1/groups");
  } catch (error) {
    sessionStorage.removeItem(KEY);
    $("login-error").textContent = error.message;
    return;
  }
  $("key").value = "";
  $("login").hidden = true;
  route();
}

// -- alerts ----------------------------------------------------------------------------

async function memberPhoto(group, person) {
  const key = `${group}\u0000${person}`;
  if (!state.photos.has(key)) {
    const path = `/v1/groups/${encodeURIComponent(group)}/photos/${encodeURIComponent(person)}`;
    state.photos.set(key, api(path, { raw: true })
      .then(async (response) => URL.createObjectURL(await response.blob()))
      .catch(() => null));
  }
  return state.photos.get(key);
}

function alertCard(entry, fresh) {
  const alert = entry.alert;
  const ack = entry.acknowledgement;
  const enrolled = el("div", { className: "photo-missing" }, "enrolled photo");
  memberPhoto(alert.watchlist, alert.person_id).then((url) => {
    if (url) enrolled.replaceWith(el("img", { src: url, alt: `enrolled ${alert.person_id}`, className: "enrolled" }));
    else enrolled.textContent = "no enrolled photo";
  });
  const button = el("button", { type: "button", className: "ack", disabled: Boolean(ack) }, ack ? "Acknowledged" : "Acknowledge");
  button.addEventListener("click", () => acknowledge(alert.alert_id));
  const name = alert.person_metadata && alert.person_metadata.name;
  return el("article", {
    className: `card alert${ack ? " acked" : ""}${fresh ? " fresh" : ""}`,
    dataset: { alertId: alert.alert_id, testid: "alert" },
  },
  crop(alert.crop_jpeg, "capture"),
  enrolled,
  el("div", { className: "similarity", title: "similarity 0-100" }, alert.similarity.toFixed(1)),
  el("div", { className: "facts" },
    el("b", {}, "person"), el("span", { className: "person" }, name ? `${alert.person_id} (${name})` : alert.person_id),
    el("b", {}, "watchlist"), el("span", {}, alert.watchlist),
    el("b", {}, "camera"), el("span", { className: "camera" }, alert.camera_id),
    el("b", {}, "time"), el("span", {}, when(alert.captured_at)),
    el("b", {}, "status"), el("span", { className: "status" }, ack ? `acknowledged by ${ack.by}, ${when(ack.at)}` : "open")),
  button);
}

function drawAlerts(freshId = null) {
  const list = $("alerts");
  const onlyOpen = $("only-open").checked;
  const entries = [...state.alerts.values()]
    .filter((entry) => !(onlyOpen && entry.acknowledgement))
    .sort((a, b) => b.alert.captured_at.localeCompare(a.alert.captured_at));
  list.replaceChildren(...entries.map((entry) => alertCard(entry, entry.alert.alert_id === freshId)));
  $("alerts-empty").hidden = entries.length > 0;
  drawBadge();
}

async function acknowledge(alertId) {
  try {
    const entry = await api(`/v1/alerts/${alertId.split("/").map(encodeURIComponent).join("/")}/ack`, { method: "POST", json: {} });
    state.alerts.set(alertId, entry);
    drawAlerts();
  } catch (error) { failed(error); }
}

async function loadAlerts() {
  openStream("alerts", "/v1/alerts/stream", (alert) => {
    const known = state.alerts.get(alert.alert_id);
    state.alerts.set(alert.alert_id, { alert, acknowledgement: known ? known.acknowledgement : null });
    if (state.page === "alerts") drawAlerts(alert.alert_id);
    else drawBadge();
  });
  try {
    const page = await api("/v1/alerts?limit=200");
    for (const entry of page.alerts) {
      if (!state.alerts.has(entry.alert.alert_id)) state.alerts.set(entry.alert.alert_id, entry);
    }
    if (state.page === "alerts") drawAlerts();
    else drawBadge();
  } catch (error) { failed(error); }
}

function drawBadge() {
  const open = [...state.alerts.values()].filter((entry) => !entry.acknowledgement).length;
  $("unacked").textContent = open;
  $("unacked").hidden = open === 0;
}

// -- captures wall ---------------------------------------------------------------------

function captureFilters() {
  const query = new URLSearchParams({ limit: "60", crops: "true" });
  const fields = { camera: "f-camera", type: "f-type", gender: "f-gender", upper_colour: "f-upper",
    lower_colour: "f-lower", vehicle_colour: "f-vcolour" };
  for (const [name, id] of Object.entries(fields)) {
    const value = $(id).value.trim().toLowerCase();
    if (value) query.set(name, id === "f-camera" ? $(id).value : value);
  }
  return query;
}

function tile(record, extra = null) {
  const facts = [record.type, record.gender, record.upper_colour && `upper ${record.upper_colour}`,
    record.lower_colour && `lower ${record.lower_colour}`, record.vehicle_type, record.vehicle_colour,
    record.plate].filter(Boolean).join(" · ");
  return el("figure", { className: "tile", dataset: { captureId: record.capture_id, testid: "capture" } },
    crop(record.crop_jpeg, record.type),
    extra,
    el("figcaption", {}, el("div", {}, `${record.camera_id} · ${when(record.captured_at)}`), el("div", {}, facts)));
}

function captureRecord(capture) {
  // a live Capture event as the wall's records (the history's shape)
  const target = capture.target;
  const person = target.person || {};
  return {
    capture_id: capture.capture_id, camera_id: capture.camera_id, type: target.type,
    captured_at: capture.captured_at, crop_jpeg: capture.crop_jpeg,
    gender: target.face && target.face.gender,
    upper_colour: person.upper_colour && person.upper_colour.name,
    lower_colour: person.lower_colour && person.lower_colour.name,
  };
}

async function loadCaptures() {
  const query = captureFilters();
  try {
    const page = await api(`/v1/captures?${query}`);
    $("wall").replaceChildren(...page.records.map((record) => tile(record)));
    $("wall-empty").hidden = page.records.length > 0;
  } catch (error) { failed(error); }
  openStream("captures", "/v1/captures/stream", (capture) => {
    if (capture.event !== "new") return;
    const camera = query.get("camera");
    const type = query.get("type");
    if ((camera && capture.camera_id !== camera) || (type && capture.target.type !== type)) return;
    if (query.has("gender") || query.has("upper_colour") || query.has("lower_colour")) return; // described later
    const wall = $("wall");
    wall.prepend(tile(captureRecord(capture)));
    while (wall.children.length > 120) wall.lastChild.remove();
    $("wall-empty").hidden = true;
  });
}

async function fillCameraChoice() {
  try {
    const cameras = await api("/v1/cameras");
    const select = $("f-camera");
    const chosen = select.value;
    select.replaceChildren(el("option", { value: "" }, "all"),
      ...cameras.map((camera) => el("option", { value: camera.id }, camera.id)));
    select.value = chosen;
  } catch (error) { failed(error); }
}

// -- history search --------------------------------------------------------------------

async function searchHistory(file) {
  if (!file) return;
  $("history-query").replaceChildren(el("img", { src: URL.createObjectURL(file), alt: "query" }), " searching…");
  const form = new FormData();
  form.append("image", file);
  form.append("k", "24");
  try {
    const result = await api("/v1/history/search", { method: "POST", form });
    $("history-query").lastChild.textContent = ` ${result.hits.length} nearest of ${result.candidates} captures`
      + ` (match: similarity ≥ ${result.threshold.similarity.toFixed(1)})`;
    $("hits").replaceChildren(...result.hits.map((hit) => {
      const node = tile(hit.record, el("div", { className: "similarity" }, hit.similarity.toFixed(1)));
      node.dataset.testid = "hit";
      if (hit.match) node.classList.add("match");
      return node;
    }));
  } catch (error) {
    $("history-query").lastChild.textContent = ` ${error.message}`;
  }
}

function setupDrop() {
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    searchHistory(event.dataTransfer.files[0]);
  });
  $("history-file").addEventListener("change", (event) => searchHistory(event.target.files[0]));
}

// -- watchlists ------------------------------------------------------------------------

async function loadGroups() {
  try {
    const groups = await api("/v1/groups");
    $("groups").replaceChildren(...groups.map((group) => {
      const item = el("li", { className: group.name === state.group ? "active" : "", dataset: { group: group.name } },
        `${group.name} (${group.member_count})`);
      item.addEventListener("click", () => { state.group = group.name; loadGroups(); });
      return item;
    }));
    if (state.group && !groups.some((group) => group.name === state.group)) state.group = null;
    $("group-detail").hidden = !state.group;
    if (state.group) await loadMembers();
  } catch (error) { failed(error); }
}

function groupPath(rest = "") { return `/v1/groups/${encodeURIComponent(state.group)}${rest}`; }

async function loadMembers() {
  $("group-title").textContent = state.group;
  const page = await api(groupPath("/members?limit=1000"));
  $("members").replaceChildren(...page.items.map((member) => {
    const photo = el("div", { className: "photo-missing" }, "no photo");
    memberPhoto(member.group, member.person_id).then((url) => {
      if (url) photo.replaceWith(el("img", { src: url, alt: member.person_id }));
    });
    const remove = el("button", { type: "button", className: "danger" }, "Remove");
    remove.addEventListener("click", async () => {
      try {
        await api(groupPath(`/members/${encodeURIComponent(member.person_id)}`), { method: "DELETE" });
        state.photos.delete(`${member.group}\u0000${member.person_id}`);
        loadGroups();
      } catch (error) { failed(error); }
    });
    return el("article", { className: "card acked", dataset: { testid: "member", person: member.person_id } },
      photo, el("div", { className: "facts" },
        el("b", {}, "person"), el("span", {}, member.person_id),
        el("b", {}, "photos"), el("span", {}, member.features.length)), remove);
  }));
}

async function enrol(personId, files) {
  const form = new FormData();
  form.append("person_id", personId);
  for (const file of files) form.append("image", file);
  return api(groupPath("/members"), { method: "POST", form });
}

function setupWatchlists() {
  $("group-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const group = await api("/v1/groups", { method: "POST", json: { name: $("group-name").value.trim() } });
      state.group = group.name;
      $("group-name").value = "";
      loadGroups();
    } catch (error) { failed(error); }
  });
  $("group-delete").addEventListener("click", async () => {
    if (!confirm(`Delete the watchlist ${state.group} and all its members?`)) return;
    try {
      await api(groupPath(), { method: "DELETE" });
      state.group = null;
      loadGroups();
    } catch (error) { failed(error); }
  });
  $("enrol-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const member = await enrol($("person-id").value.trim(), $("person-photos").files);
      notify(`Enrolled ${member.person_id} in ${member.group}`);
      event.target.reset();
      loadGroups();
    } catch (error) { failed(error); }
  });
  $("folder-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const files = [...$("folder-photos").files].filter((file) => /\.(jpe?g|png|webp|bmp)$/i.test(file.name));
    let done = 0;
    const refused = [];
    for (const file of files) {
      try {
        await enrol(file.name.replace(/\.[^.]+$/, ""), [file]);
        done += 1;
      } catch (error) { refused.push(`${file.name}: ${error.message}`); }
    }
    notify(`Enrolled ${done} of ${files.length}${refused.length ? `; refused: ${refused.join("; ")}` : ""}`, refused.length > 0);
    event.target.reset();
    loadGroups();
  });
}

// -- cameras ---------------------------------------------------------------------------

async function loadCameras() {
  try {
    const cameras = await api("/v1/cameras");
    $("cameras").tBodies[0].replaceChildren(...cameras.map((camera) => {
      const remove = el("button", { type: "button", className: "danger" }, "Remove");
      remove.addEventListener("click", async () => {
        try {
          await api(`/v1/cameras/${encodeURIComponent(camera.id)}`, { method: "DELETE" });
          loadCameras();
        } catch (error) { failed(error); }
      });
      return el("tr", { dataset: { camera: camera.id } },
        el("td", {}, camera.id), el("td", {}, camera.source),
        el("td", { className: `state-${camera.state}`, title: camera.error || "" }, camera.state),
        el("td", {}, camera.fps_in.toFixed(1)), el("td", {}, camera.fps_analysed.toFixed(1)),
        el("td", {}, camera.fps_dropped.toFixed(1)), el("td", {}, camera.reconnects),
        el("td", {}, `${camera.frames_in} in / ${camera.frames_analysed} analysed / ${camera.frames_dropped} dropped`),
        el("td", {}, remove));
    }));
  } catch (error) { failed(error); }
}

function setupCameras() {
  $("camera-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("/v1/cameras", { method: "POST", json: {
        id: $("camera-id").value.trim(), url: $("camera-url").value.trim(), loop: $("camera-loop").checked } });
      event.target.reset();
      loadCameras();
    } catch (error) { failed(error); }
  });
}

// -- pages -----------------------------------------------------------------------------

const PAGES = {
  alerts: () => drawAlerts(),
  captures: () => { fillCameraChoice(); loadCaptures(); },
  history: () => {},
  watchlists: () => loadGroups(),
  cameras: () => loadCameras(),
};
let ticker = null;

function route() {
  if (!sessionStorage.getItem(KEY)) { showLogin(); return; }
  const page = (location.hash || "#alerts").slice(1);
  state.page = page in PAGES ? page : "alerts";
  for (const name of Object.keys(PAGES)) {
    $(`page-${name}`).hidden = name !== state.page;
    document.querySelector(`nav a[data-page="${name}"]`).classList.toggle("active", name === state.page);
  }
  if (state.page !== "captures") stopStream("captures");
  if (!state.streams.alerts) loadAlerts();
  clearInterval(ticker);
  if (state.page === "cameras") ticker = setInterval(loadCameras, 2000);
  PAGES[state.page]();
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", () => { sessionStorage.removeItem(KEY); showLogin(); });
  $("only-open").addEventListener("change", () => drawAlerts());
  $("capture-filters").addEventListener("submit", (event) => { event.preventDefault(); loadCaptures(); });
  setupDrop();
  setupWatchlists();
  setupCameras();
  window.addEventListener("hashchange", route);
  route();
});
