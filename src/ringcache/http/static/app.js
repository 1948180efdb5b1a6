// The ringcache dashboard: polls the REST API and shows workers, jobs, mounts and policies.
// Every string taken from the API enters the page as text (createElement, textContent,
// dataset), never as HTML. Exact numbers are kept in data- attributes beside the
// human-readable text, so a script (and the browser test) can read them back.
"use strict";

const API = "/api/v1";
const POLL_MS = 1500;
const JOBS_SHOWN = 50; // the newest jobs, all kinds together
const FAILURES_SHOWN = 10; // per job
const TOKEN_KEY = "ringcache.token";
const POLICIES = [
  { name: "quota", title: "Quota", columns: ["path", "size", "usedBytes", "action"] },
  { name: "ttl", title: "TTL", columns: ["path", "time"] },
  { name: "priority", title: "Priority eviction", columns: ["path", "priority"] },
  { name: "cache-filter", title: "Cache filter", columns: ["pattern", "rule", "time"] },
];

class Unauthorized extends Error {}

let jobKinds = null; // [{name, counters, done, moved}] from /dashboard.json
let polls = 0;
let timer = null;

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (key === "data") {
      for (const [name, item] of Object.entries(value)) {
        if (item !== undefined && item !== null) node.dataset[name] = String(item);
      }
    } else if (value !== undefined && value !== null) {
      node.setAttribute(key, String(value));
    }
  }
  for (const child of children) {
    if (child !== undefined && child !== null) node.append(child); // strings become text
  }
  return node;
}

function bytes(n) {
  if (n === undefined || n === null) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function percent(fraction) {
  return `${(fraction * 100).toFixed(1)}%`;
}

function bar(done, total, label) {
  const fill = el("span", { class: "fill" });
  fill.style.display = "block";
  fill.style.width = percent(total > 0 ? Math.min(done / total, 1) : 0);
  const track = el("span", {
    class: "bar",
    role: "progressbar",
    "aria-valuemin": 0,
    "aria-valuemax": total,
    "aria-valuenow": done,
  }, fill);
  return el("span", {}, track, label);
}

function note(text, className = "empty") {
  return el("p", { class: className }, text);
}

// --- the API ---------------------------------------------------------------------------

async function getJSON(path) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const answer = await fetch(API + path, { headers, cache: "no-store" });
  if (answer.status === 401) throw new Unauthorized();
  if (answer.status === 501) return { disabled: true };
  const body = await answer.json().catch(() => ({}));
  if (!answer.ok) throw new Error(`GET ${path}: ${answer.status} ${body.status || ""}`);
  return body;
}

async function loadJobKinds() {
  const answer = await fetch("/dashboard.json", { cache: "no-store" });
  if (!answer.ok) throw new Error(`GET /dashboard.json: ${answer.status}`);
  return (await answer.json()).jobKinds;
}

// --- workers ---------------------------------------------------------------------------

function workerRow(node) {
  const reads = node.reads || {};
  const known = node.usedBytes !== undefined;
  return el("tr", {
    data: {
      workerId: node.id, state: node.state, usedBytes: node.usedBytes,
      capacityBytes: node.capacityBytes, cachedFiles: node.cachedFiles,
      hits: reads.hits, misses: reads.misses, hitRatio: reads.hitRatio,
    },
  },
  el("td", { class: "mono" }, node.id),
  el("td", {}, node.host),
  el("td", { class: `state state-${node.state}` }, node.state),
  el("td", {}, known
    ? bar(node.usedBytes, node.capacityBytes, `${bytes(node.usedBytes)} of ${bytes(node.capacityBytes)}`)
    : el("span", { class: "empty" }, `unknown, of ${bytes(node.capacityBytes)}`)),
  el("td", {}, node.cachedFiles ?? "–"),
  el("td", {}, reads.hitRatio === undefined ? "–" : percent(reads.hitRatio)),
  el("td", {}, reads.hits === undefined ? "–" : `${reads.hits} / ${reads.misses}`));
}

function renderWorkers(nodes) {
  document.getElementById("worker-count").textContent = `(${nodes.length})`;
  const rows = nodes.map(workerRow);
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 7, class: "empty" }, "no workers")));
  document.getElementById("worker-rows").replaceChildren(...rows);
}

// --- jobs ------------------------------------------------------------------------------

function jobProgress(kind, job) {
  const progress = {};
  if (kind.done.length) {
    progress.filesDone = kind.done.reduce((sum, name) => sum + (job[name] || 0), 0);
    progress.filesTotal = job.scannedFiles || 0;
  }
  if (job.totalBytes !== undefined) {
    progress.bytesDone = (job[kind.moved] || 0) + (job.skippedBytes || 0);
    progress.bytesTotal = job.totalBytes;
  }
  return progress;
}

function failureList(job) {
  const failures = job.failures || [];
  const items = failures.slice(-FAILURES_SHOWN).map((failure) => el("li",
    { data: { reason: failure.reason, path: failure.path } },
    `${failure.reason} ${failure.path}${failure.message ? `: ${failure.message}` : ""}`));
  if (failures.length > FAILURES_SHOWN) {
    items.unshift(el("li", {}, `… ${failures.length - FAILURES_SHOWN} earlier failures not shown`));
  }
  return items.length ? el("ul", { class: "failures" }, ...items) : null;
}

function jobView(kind, job) {
  const progress = jobProgress(kind, job);
  const counters = {};
  for (const name of kind.counters) if (job[name] !== undefined) counters[name] = job[name];
  const selector = job.alias || job.index || job.target || (job.paths || []).join(", ");
  const stage = job.runningState || job.phase;
  const error = job.errorMessage ? job.errorMessage.message || JSON.stringify(job.errorMessage) : null;
  return el("div", {
    class: "job",
    data: { jobId: job.id, jobType: job.type, state: job.state, ...counters, ...progress,
      failureCount: (job.failures || []).length },
  },
  el("div", { class: "job-head" },
    el("strong", {}, job.type),
    el("span", {}, selector),
    el("span", { class: `state state-${job.state}` }, stage ? `${job.state} (${stage})` : job.state),
    el("span", { class: "mono" }, job.id),
    job.throughputBytesPerSecond ? el("span", {}, `${bytes(job.throughputBytesPerSecond)}/s`) : null),
  progress.filesTotal !== undefined
    ? el("div", { class: "files" }, bar(progress.filesDone, progress.filesTotal,
      `${progress.filesDone} of ${progress.filesTotal} files`)) : null,
  progress.bytesTotal !== undefined
    ? el("div", { class: "bytes" }, bar(progress.bytesDone, progress.bytesTotal,
      `${bytes(progress.bytesDone)} of ${bytes(progress.bytesTotal)}`)) : null,
  el("div", { class: "counters" }, ...Object.entries(counters).map(([name, value]) => el("span",
    {}, `${name}: ${name.endsWith("Bytes") ? bytes(value) : value}`))),
  error ? el("p", { class: "failures" }, error) : null,
  job.quotaCheckError ? el("p", { class: "failures" }, job.quotaCheckError) : null,
  failureList(job));
}

function renderJobs(answers) {
  const all = [];
  jobKinds.forEach((kind, i) => {
    for (const job of answers[i].results || []) all.push([kind, job]);
  });
  all.sort((a, b) => (a[1].id < b[1].id ? 1 : a[1].id > b[1].id ? -1 : 0)); // ids: submission order
  const shown = all.slice(0, JOBS_SHOWN).map(([kind, job]) => jobView(kind, job));
  document.getElementById("job-count").textContent =
    all.length > JOBS_SHOWN ? `(newest ${JOBS_SHOWN} of ${all.length})` : `(${all.length})`;
  document.getElementById("job-list").replaceChildren(...(shown.length ? shown : [note("no jobs")]));
}

// --- mounts and policies ---------------------------------------------------------------

function renderMounts(mounts) {
  const rows = mounts.map((mount) => el("tr", { data: { path: mount.path, ufs: mount.ufs } },
    el("td", { class: "mono" }, mount.path),
    el("td", { class: "mono" }, mount.ufs),
    el("td", { class: "mono" }, Object.entries(mount.options || {})
      .map(([key, value]) => `${key}=${value}`).join(", "))));
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 3, class: "empty" }, "nothing mounted")));
  document.getElementById("mount-rows").replaceChildren(...rows);
}

function policyTable(policy, answer) {
  if (answer.disabled) return note("disabled in the configuration", "disabled");
  const rows = (answer.results || []).map((rule) => {
    const values = Object.fromEntries(policy.columns.map((column) => [column, rule[column]]));
    return el("tr", { data: values }, ...policy.columns.map((column) => el("td", { class: "mono" },
      column.endsWith("Bytes") ? bytes(rule[column]) : rule[column] ?? "")));
  });
  const parts = [rows.length
    ? el("table", {}, el("thead", {}, el("tr", {}, ...policy.columns.map((c) => el("th", {}, c)))),
      el("tbody", {}, ...rows))
    : note("no rules")];
  if (answer.default) {
    const rule = answer.default;
    parts.push(el("p", { data: { defaultRule: rule.rule } },
      `default: ${rule.rule}${rule.time ? ` (${rule.time})` : ""}`));
  }
  return el("div", {}, ...parts);
}

function renderPolicies(answers) {
  document.getElementById("policy-list").replaceChildren(...POLICIES.map((policy, i) => el("div",
    { id: `policy-${policy.name}` }, el("h3", {}, policy.title), policyTable(policy, answers[i]))));
}

// --- polling and the token -------------------------------------------------------------

function setStatus(text, state) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.className = state === "ok" ? "" : "error";
  status.dataset.state = state;
}

function askForToken() {
  const form = document.getElementById("token-form");
  const refused = sessionStorage.getItem(TOKEN_KEY) !== null;
  document.getElementById("token-error").textContent = refused ? "that token was refused" : "";
  form.hidden = false;
  setStatus("this cluster needs its API token", "token");
}

async function poll() {
  clearTimeout(timer);
  try {
    jobKinds = jobKinds || (await loadJobKinds());
    const [nodes, mounts, ...rest] = await Promise.all([
      getJSON("/nodes"),
      getJSON("/mount"),
      ...POLICIES.map((policy) => getJSON(`/${policy.name}`)),
      ...jobKinds.map((kind) => getJSON(`/${kind.name}`)),
    ]);
    renderWorkers(nodes.results);
    renderJobs(rest.slice(POLICIES.length));
    renderMounts(mounts.results);
    renderPolicies(rest.slice(0, POLICIES.length));
    document.getElementById("token-form").hidden = true;
    polls += 1;
    const now = new Date();
    setStatus(`updated ${now.toLocaleTimeString()}`, "ok");
    Object.assign(document.getElementById("status").dataset, { polls, updated: now.toISOString() });
  } catch (error) {
    if (error instanceof Unauthorized) {
      askForToken(); // polling resumes when a token is given
      return;
    }
    setStatus(`the API did not answer: ${error.message} (showing the last answers)`, "error");
  }
  timer = setTimeout(poll, POLL_MS);
}

function start() {
  const given = /^#token=(.+)$/.exec(location.hash); // for scripts: /#token=...
  if (given) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(given[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  document.getElementById("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, document.getElementById("token-input").value.trim());
    poll();
  });
  poll();
}

start();
