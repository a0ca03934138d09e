// The supervisor dashboard: polls the ops API's JSON endpoints every second and draws them.
// Safety: every value reaches the page as text (textContent / text nodes); nothing is ever
// parsed as markup. The ops token lives in sessionStorage (this tab only) and is sent as an
// Authorization header — never a cookie, so no other site can act with it.
"use strict";

const POLL_MS = 1000;
const REQUEST_TIMEOUT_MS = 3000;
const LOG_LIMIT = 1 << 20; // characters of log kept on the page
const TOKEN_KEY = "supervisor-ops-token";
const STATES = ["SCHEDULED", "PENDING", "RUNNING", "COMPLETED", "FAILED", "CRASHED",
                "CANCELLING", "CANCELLED", "PAUSED"];

const $ = (id) => document.getElementById(id);
const ui = { actions: "token", lastOk: null, failingSince: null, log: null, deployments: "",
             polling: false };

// drawing -------------------------------------------------------------------------------------

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props || {});
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function stateBadge(state) {
  const type = String((state && state.type) || "PENDING").toLowerCase();
  return el("span", { className: `state state-${type}`, title: (state && state.message) || "" },
            (state && state.name) || type);
}

function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
         `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const s = Math.floor(seconds);
  if (s < 3600) return `${Math.floor(s / 60)} m ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} m`;
}

function between(start, end) {
  if (!start) return null;
  return ((end ? new Date(end) : new Date()) - new Date(start)) / 1000;
}

function bytes(n) {
  if (typeof n !== "number") return "—";
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(0)} KiB`;
  if (n < 1 << 30) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  return `${(n / (1 << 30)).toFixed(2)} GiB`;
}

function cell(value, className) {
  return el("td", { className: className || "" }, value);
}

function rowsOrEmpty(tbody, rows, columns, emptyText) {
  if (!rows.length) rows = [el("tr", {}, el("td", { colSpan: columns, className: "empty" }, emptyText))];
  tbody.replaceChildren(...rows);
}

function button(label, action, what) {
  const b = el("button", { type: "button", disabled: !canAct(), title: canAct() ? what : readOnlyWhy() }, label);
  b.addEventListener("click", action);
  return b;
}

function logButton(run) {
  const b = el("button", { type: "button", className: "log-open" }, "Log");
  b.dataset.run = run.id;
  b.addEventListener("click", () => openLog(run.id));
  return b;
}

function drawHealth(name, body, status) {
  $("name").textContent = name ? `'${name}'` : "";
  document.title = name ? `supervisor ${name}` : "supervisor";
  const badge = $("health");
  const ok = status === 200 && body && body.status === "ok";
  badge.className = `badge ${ok ? "ok" : "bad"}`;
  badge.textContent = ok ? "healthy" : `unhealthy: ${(body && (body.reason || body.error)) || status}`;
}

function drawActors(tree) {
  const rows = [];
  const walk = (nodes, depth) => {
    for (const a of nodes || []) {
      const name = el("td", { className: `indent-${Math.min(depth, 4)}` }, a.name);
      rows.push(el("tr", {}, name, cell(a.kind), cell(a.state), cell(a.restarts ?? 0, "num"),
                   cell(when(a.last_tick)), cell(a.last_error || "", "error-text")));
      walk(a.children, depth + 1);
    }
  };
  walk(tree, 0);
  rowsOrEmpty($("actors").tBodies[0], rows, 6, "no actors");
}

function processRows(tree) {
  const byParent = new Map();
  const pids = new Set(tree.map((p) => p.pid));
  for (const p of tree) {
    const parent = pids.has(p.ppid) ? p.ppid : null;
    if (!byParent.has(parent)) byParent.set(parent, []);
    byParent.get(parent).push(p);
  }
  const rows = [];
  const now = Date.now() / 1000;
  const walk = (parent, depth) => {
    for (const p of byParent.get(parent) || []) {
      rows.push(el("tr", { className: "process" },
        cell(p.pid, "num"),
        el("td", { className: `mono indent-${Math.min(depth, 4)}` }, p.command),
        cell(typeof p.cpu_percent === "number" ? p.cpu_percent.toFixed(1) : "—", "num"),
        cell(bytes(p.rss), "num"),
        cell(p.create_time ? duration(now - p.create_time) : "—", "num")));
      walk(p.pid, depth + 1);
    }
  };
  walk(null, 0);
  return rows;
}

function drawInFlight(runs) {
  $("inflight-count").textContent = `(${runs.length})`;
  if (!runs.length) {
    $("inflight").replaceChildren(el("p", { className: "empty" }, "No run in flight."));
    return;
  }
  const cards = runs.map((run) => {
    // Until RUNNING is reported the run has no start time, but its processes have.
    const created = (run.tree || []).map((p) => p.create_time).filter((t) => t);
    const start = run.start_time ||
      (created.length ? new Date(Math.min(...created) * 1000).toISOString() : null);
    const elapsed = between(start, null);
    const head = el("div", { className: "run-head" },
      stateBadge(run.state), el("strong", {}, run.deployment), el("code", {}, run.id),
      el("span", { className: "muted" }, `started ${when(start)}`),
      el("span", { className: "elapsed" }, `elapsed ${duration(elapsed)}`));
    if (run.timeout && elapsed !== null) {
      const bar = el("progress", { max: run.timeout, value: Math.min(elapsed, run.timeout) });
      bar.title = `${duration(elapsed)} of the ${duration(run.timeout)} timeout`;
      head.append(bar, el("span", { className: "muted" }, `timeout ${duration(run.timeout)}`));
    }
    head.append(button("Cancel", () => act(`/runs/${encodeURIComponent(run.id)}/cancel`,
                                            `cancel run ${run.id}`), "cancel this run"),
                logButton(run));
    const table = el("table", { className: "tree" },
      el("thead", {}, el("tr", {}, ...["PID", "Command", "CPU %", "RSS", "Age"].map((h) => el("th", {}, h)))));
    const body = el("tbody");
    rowsOrEmpty(body, processRows(run.tree || []), 5, "no process (starting or ending)");
    table.append(body);
    const card = el("div", { className: "run" }, head, table);
    card.dataset.run = run.id;
    return card;
  });
  $("inflight").replaceChildren(...cards);
}

function drawDeployments(deployments) {
  const rows = deployments.map((d) => {
    const name = encodeURIComponent(d.name);
    const actions = el("td", {},
      button("Run now", () => act(`/deployments/${name}/run`, `run ${d.name} now`), "start a run now"),
      " ",
      d.paused
        ? button("Resume", () => act(`/deployments/${name}/resume`, `resume ${d.name}`), "resume the schedule")
        : button("Pause", () => act(`/deployments/${name}/pause`, `pause ${d.name}`), "pause the schedule"));
    const row = el("tr", {}, el("td", { className: "deployment-name" }, d.name),
      cell(d.schedule || "on demand"), cell(when(d.next_run_time)),
      cell(d.timeout ? duration(d.timeout) : "—"), cell(d.paused ? "yes" : "no"), actions);
    row.dataset.deployment = d.name;
    return row;
  });
  rowsOrEmpty($("deployments").tBodies[0], rows, 6, "no deployments");
  const names = JSON.stringify(deployments.map((d) => d.name));
  if (names !== ui.deployments) { // rebuild the filter only when the list changed
    ui.deployments = names;
    const select = $("filter-deployment");
    const chosen = select.value;
    select.replaceChildren(el("option", { value: "" }, "all"),
                           ...deployments.map((d) => el("option", { value: d.name }, d.name)));
    select.value = chosen;
  }
}

function drawHistory(runs) {
  const rows = runs.map((r) => {
    const row = el("tr", {}, el("td", {}, stateBadge(r.state)), cell(r.deployment),
      cell(when(r.scheduled_time)), cell(when(r.start_time)), cell(when(r.end_time)),
      cell(duration(between(r.start_time, r.end_time)), "num"),
      cell(r.exit_code ?? "—", "num"), cell(r.commit ? r.commit.slice(0, 10) : "—", "mono"),
      el("td", {}, el("code", {}, r.id.slice(0, 8)), " ", logButton(r)));
    row.dataset.run = r.id;
    row.dataset.state = r.state.type;
    return row;
  });
  rowsOrEmpty($("history").tBodies[0], rows, 9, "no runs");
}

// talking to the supervisor -------------------------------------------------------------------

async function call(path, options) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
  try {
    const response = await fetch(path, { cache: "no-store", ...options, signal: controller.signal });
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    return { status: response.status, body };
  } finally {
    clearTimeout(timer);
  }
}

function historyPath() {
  const query = new URLSearchParams({ limit: "50" });
  if ($("filter-deployment").value) query.set("deployment", $("filter-deployment").value);
  if ($("filter-state").value) query.set("state", $("filter-state").value);
  return `/history?${query}`;
}

async function poll() {
  if (ui.polling) return; // a slow answer: never pile up requests
  ui.polling = true;
  try {
    const accept = { headers: { Accept: "application/json" } };
    const [index, health, actors, runs, deployments, history] = await Promise.all([
      call("/", accept), call("/health"), call("/actors"), call("/runs"), call("/deployments"),
      call(historyPath())]);
    ui.actions = (index.body && index.body.actions) || "token";
    drawAccess();
    drawHealth(index.body && index.body.name, health.body, health.status);
    for (const [answer, draw] of [[actors, drawActors], [runs, drawInFlight],
                                  [deployments, drawDeployments], [history, drawHistory]]) {
      if (answer.status === 200) draw(answer.body);
    }
    answered();
  } catch (err) {
    notAnswering(err);
  } finally {
    ui.polling = false;
  }
}

function answered() {
  ui.lastOk = new Date();
  ui.failingSince = null;
  $("offline").hidden = true;
  document.querySelector("main").classList.remove("stale");
  $("updated").textContent = `updated ${ui.lastOk.toLocaleTimeString()}`;
}

function notAnswering(err) {
  ui.failingSince = ui.failingSince || new Date();
  const last = ui.lastOk ? ` Last answer at ${ui.lastOk.toLocaleTimeString()}; what you see is from then.` : "";
  const banner = $("offline");
  banner.textContent = `The supervisor is not answering at ${location.host} ` +
    `(since ${ui.failingSince.toLocaleTimeString()}: ${err && err.name === "AbortError" ? "timed out" : "no connection"}).${last} Still trying every second.`;
  banner.hidden = false;
  document.querySelector("main").classList.add("stale");
  const badge = $("health");
  badge.className = "badge bad";
  badge.textContent = "not answering";
}

// the token and actions -----------------------------------------------------------------------

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

function canAct() {
  return ui.actions !== "off" && token() !== "";
}

function readOnlyWhy() {
  if (ui.actions === "off") {
    return "Read-only: this supervisor has no ops token configured, so actions are off " +
           "(set the variable named by [ops] token_env before starting it).";
  }
  return "Read-only: cancelling a run, running a deployment now and pausing need the ops " +
         "token. Type it above; it is kept in this tab only (sessionStorage) and sent as an " +
         "Authorization header, never as a cookie.";
}

function drawAccess() {
  const banner = $("readonly");
  banner.hidden = canAct();
  banner.textContent = canAct() ? "" : readOnlyWhy();
  $("token-form").hidden = ui.actions === "off";
  $("token-forget").hidden = token() === "";
  $("token").placeholder = token() ? "token set (type to replace)" : "paste the ops token";
}

function notice(text, isError) {
  const banner = $("notice");
  banner.textContent = text;
  banner.className = isError ? "banner error" : "banner";
  banner.hidden = false;
}

async function act(path, what) {
  try {
    const answer = await call(path, { method: "POST", headers: { Authorization: `Bearer ${token()}` } });
    if (answer.status >= 200 && answer.status < 300) {
      notice(`Done: ${what}.`, false);
    } else {
      const why = (answer.body && answer.body.error) || `HTTP ${answer.status}`;
      if (answer.status === 401 || answer.status === 403) {
        sessionStorage.removeItem(TOKEN_KEY);
        drawAccess();
      }
      notice(`Could not ${what}: ${why}`, true);
    }
  } catch (err) {
    notice(`Could not ${what}: the supervisor did not answer.`, true);
  }
  poll();
}

// following a run's log -----------------------------------------------------------------------

function openLog(runId) {
  ui.log = { id: runId, offset: 0, complete: false, busy: false };
  $("log").replaceChildren();
  $("log-run").textContent = runId;
  $("log-status").textContent = "following…";
  $("log-section").hidden = false;
  $("log-section").scrollIntoView({ block: "nearest" });
  followLog();
}

async function followLog() {
  const log = ui.log;
  if (!log || log.complete || log.busy) return;
  log.busy = true;
  try {
    let answer;
    do {
      answer = await call(`/runs/${encodeURIComponent(log.id)}/log?offset=${log.offset}`);
      if (ui.log !== log) return; // another log was opened meanwhile
      if (answer.status !== 200) {
        $("log-status").textContent = (answer.body && answer.body.error) || `HTTP ${answer.status}`;
        return;
      }
      appendLog(answer.body.text);
      log.offset = answer.body.next_offset;
      log.complete = answer.body.complete;
    } while (answer.body.next_offset < answer.body.size);
    $("log-status").textContent = log.complete ? "(run ended: complete)" : "following…";
  } catch (err) {
    $("log-status").textContent = "(the supervisor is not answering)";
  } finally {
    log.busy = false;
  }
}

function appendLog(text) {
  if (!text) return;
  const pre = $("log");
  const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  pre.append(document.createTextNode(text));
  while (pre.textContent.length > LOG_LIMIT && pre.firstChild) pre.firstChild.remove();
  if (atBottom) pre.scrollTop = pre.scrollHeight;
}

// start ---------------------------------------------------------------------------------------

function start() {
  $("filter-state").append(...STATES.map((s) => el("option", { value: s }, s)));
  for (const id of ["filter-deployment", "filter-state"]) $(id).addEventListener("change", poll);
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const typed = $("token").value.trim();
    if (typed) sessionStorage.setItem(TOKEN_KEY, typed);
    $("token").value = "";
    drawAccess();
    poll();
  });
  $("token-forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    drawAccess();
    poll();
  });
  $("log-close").addEventListener("click", () => {
    ui.log = null;
    $("log-section").hidden = true;
  });
  drawAccess();
  poll();
  setInterval(() => { poll(); followLog(); }, POLL_MS);
}

document.addEventListener("DOMContentLoaded", start);
