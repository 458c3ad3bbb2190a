"use strict";
// Polls /api/state every second and redraws each model: its state, its versions, and two
// charts in plain SVG (no library, nothing loaded from elsewhere): the canary's weight over
// time, and the analysis figures of each analysis (canary error rate, p99, confidence).
const COLORS = { weight: "#2563eb", effective: "#93c5fd", errorRate: "#dc2626",
                 p99: "#f59e0b", confidence: "#16a34a" };
const W = 500, H = 120, PAD = 24;
const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs, text) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4))
                                      : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function chart(lines, yMax, label) {
  const svg = el("svg:svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img",
                               "aria-label": label });
  svg.appendChild(el("svg:line", { x1: PAD, y1: H - PAD, x2: W - 4, y2: H - PAD,
                                   stroke: "#94a3b8", "stroke-width": 1 }));
  svg.appendChild(el("svg:text", { x: 2, y: 12, "font-size": 10, fill: "#475569" },
                     String(yMax)));
  svg.appendChild(el("svg:text", { x: 2, y: H - PAD, "font-size": 10, fill: "#475569" }, "0"));
  const all = lines.flatMap(l => l.points.map(p => p[0]));
  if (!all.length) return svg;
  const t0 = Math.min(...all), t1 = Math.max(...all, t0 + 1);
  for (const line of lines) {
    const pts = line.points.filter(p => p[1] !== null && p[1] !== undefined).map(([t, v]) =>
      `${(PAD + (t - t0) / (t1 - t0) * (W - PAD - 6)).toFixed(1)},` +
      `${(H - PAD - Math.min(v / yMax, 1) * (H - PAD - 8)).toFixed(1)}`);
    if (pts.length === 1) pts.push(pts[0].replace(/^[\d.]+/, x => String(Number(x) + 4)));
    svg.appendChild(el("svg:polyline", { points: pts.join(" "), fill: "none",
                                         stroke: line.color, "stroke-width": line.width || 3 }));
  }
  return svg;
}

function legend(items) {
  const div = el("div", { class: "legend" });
  for (const [name, color] of items) {
    const span = el("span");
    const swatch = el("i", { class: "sw" });
    swatch.style.backgroundColor = color;  // through the CSSOM: the CSP refuses style="..."
    span.appendChild(swatch);
    span.appendChild(document.createTextNode(name));
    div.appendChild(span);
  }
  return div;
}

function card(m) {
  const box = el("section", { class: "model", "data-model": m.name });
  const title = el("h2", {}, `${m.namespace}/${m.name} `);
  title.appendChild(el("span", { class: `phase ${m.phase || ""}` }, m.phase || "Pending"));
  box.appendChild(title);
  const facts = el("div", { class: "facts" });
  const weight = m.canaryVersion ? `${m.canaryWeight}%` : "0%";
  for (const text of [`spec ${m.specVersion}`, `stable ${m.stableVersion || "-"}`,
                      `canary ${m.canaryVersion || "-"}`, `weight ${weight}`,
                      m.step !== null && m.step !== undefined ? `step ${m.step + 1}` : "",
                      m.waitingFor ? `waiting for ${m.waitingFor}` : ""]) {
    if (text) facts.appendChild(el("span", {}, text));
  }
  box.appendChild(facts);
  if (m.message) box.appendChild(el("div", { class: "message" }, m.message));
  const versions = el("div", { class: "versions" }, "versions: ");
  for (const v of m.versions) versions.appendChild(el("span", {}, `${v.version} (${v.role})`));
  box.appendChild(versions);
  box.appendChild(el("h3", {}, "canary weight %"));
  box.appendChild(chart([
    { color: COLORS.effective, width: 2, points: m.weights.map(p => [p.t, p.effective]) },
    { color: COLORS.weight, points: m.weights.map(p => [p.t, p.weight]) },
  ], 100, `weight of ${m.name}`));
  box.appendChild(legend([["weight", COLORS.weight], ["effective", COLORS.effective]]));
  box.appendChild(el("h3", {}, "analysis (canary)"));
  const a = m.analyses;
  const p99Max = Math.max(1, ...a.map(p => p.canary.p99LatencyMs || 0));
  box.appendChild(chart([
    { color: COLORS.errorRate, points: a.map(p => [p.t, p.canary.errorRate === null ? null : p.canary.errorRate * 100]) },
    { color: COLORS.p99, points: a.map(p => [p.t, p.canary.p99LatencyMs === null ? null : p.canary.p99LatencyMs / p99Max * 100]) },
    { color: COLORS.confidence, points: a.map(p => [p.t, p.canary.meanConfidence === null ? null : p.canary.meanConfidence * 100]) },
  ], 100, `analysis of ${m.name}`));
  const last = a.length ? a[a.length - 1] : null;
  box.appendChild(legend([["error rate %", COLORS.errorRate],
                          [`p99 (of ${p99Max.toFixed(1)} ms)`, COLORS.p99],
                          ["confidence %", COLORS.confidence]]));
  if (last) box.appendChild(el("div", { class: "message" },
                               `last analysis: ${last.verdict} (${last.version}) at ${last.time}`));
  return box;
}

async function refresh() {
  try {
    const answer = await fetch("/api/state", { cache: "no-store" });
    const state = await answer.json();
    const main = document.getElementById("models");
    main.replaceChildren(...(state.models.length ? state.models.map(card)
                             : [el("p", { class: "empty" }, "No AxiomModel in this namespace yet.")]));
    const error = document.getElementById("error");
    error.hidden = !state.error;
    error.textContent = state.error || "";
    document.getElementById("updated").textContent =
      `updated ${new Date(state.now * 1000).toLocaleTimeString()}`;
  } catch (e) {
    document.getElementById("updated").textContent = `cannot reach the dashboard: ${e}`;
  }
}
refresh();
setInterval(refresh, 1000);
