// kgpipe web page: search an entity, show its card, draw its neighbourhood (plain SVG, no build step).
// Talks to the JSON API of kgpipe/serve/api/app.py; the page lives under /ui/, the API one level up, so the
// same files work behind a reverse proxy that mounts the service under a prefix.
"use strict";

const KEY_STORE = "kgpipe.apiKey";
const API_ROOT = new URL("../", document.baseURI);
const MAX_NEIGHBOURS = 24;       // more nodes than this make the radial drawing unreadable
const MAX_LITERALS = 6;          // literal values (dates, numbers, strings) drawn when entities leave room
const WIDTH = 1000, HEIGHT = 600; // the drawing's viewBox (index.html); it scales with the page
const SIMILAR_K = 8;
const SVG_NS = "http://www.w3.org/2000/svg";
const TYPE_COLOURS = {
  PERSON: "#d9822b", PER: "#d9822b", ORG: "#2b7bd9", GPE: "#3a9d5d", LOC: "#3a9d5d", FAC: "#3a9d5d",
  NORP: "#8e5bd6", EVENT: "#c2417b", WORK_OF_ART: "#b0a13a", PRODUCT: "#4aa3a3", LAW: "#7a7a7a",
};

const $ = (id) => document.getElementById(id);
let lastAction = null;           // what the user asked for last: rerun once a key has been entered

// ------------------------------------------------------------------ API key and requests

class AuthError extends Error {}

function apiKey() { return sessionStorage.getItem(KEY_STORE); }

function askForKey(message) {
  if (message) $("key-message").textContent = message;
  const dialog = $("key-dialog");
  if (!dialog.open) dialog.showModal();
  $("api-key").focus();
}

async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  const key = apiKey();
  if (key) headers.set("Authorization", `Bearer ${key}`);
  const response = await fetch(new URL(path, API_ROOT), { ...options, headers });
  if (response.status === 401 || response.status === 403) {
    sessionStorage.removeItem(KEY_STORE);
    askForKey(response.status === 401 ? "This service needs an API key."
                                       : "The service did not accept that key. Please enter another one.");
    throw new AuthError("API key needed");
  }
  let body = null;
  try { body = await response.json(); } catch (_) { /* a non-JSON error page: reported below */ }
  if (!response.ok) {
    const detail = body && body.detail;
    const text = typeof detail === "string" ? detail : detail ? JSON.stringify(detail) : response.statusText;
    throw new Error(`${response.status}: ${text}`);
  }
  const version = response.headers.get("X-Index-Version");
  if (version) $("version").textContent = `index ${version}`;
  return body;
}

function setStatus(text, isError = false) {
  const status = $("status");
  status.textContent = text || "";
  status.classList.toggle("error", Boolean(isError));
}

function report(error) {
  if (error instanceof AuthError) setStatus("Waiting for an API key.");
  else setStatus(String(error.message || error), true);
}

// ------------------------------------------------------------------ small DOM helpers (text only, never HTML)

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "className") node.className = value;
    else if (name === "onclick") node.addEventListener("click", value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// replaceChildren turns null into the text "null": optional parts are dropped first
function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((child) => child !== null && child !== undefined));
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function safeUrl(url) {
  // evidence URLs come from ingested documents: only http(s) becomes a link (no javascript: URLs)
  try {
    const parsed = new URL(url);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch (_) { return null; }
}

function entityLink(id, name) {
  if (!id) return el("span", { className: "literal" }, name ?? "");
  return el("a", { href: `#/entity/${encodeURIComponent(id)}`, className: "entity-link", "data-entity-id": id },
            name || id);
}

function shorten(text, n) { return text.length > n ? `${text.slice(0, n - 1)}…` : text; }

function typeColour(type) { return TYPE_COLOURS[(type || "").toUpperCase()] || "#888"; }

// ------------------------------------------------------------------ search

async function search(q) {
  setStatus(`Searching “${q}”…`);
  const body = await api(`entities?${new URLSearchParams({ q, k: 10 })}`);
  const list = $("results");
  list.dataset.query = q;        // which query the list answers (tests and scripts wait on it)
  list.replaceChildren(...body.results.map((r) => el("li", {},
    el("button", { type: "button", className: "result", "data-entity-id": r.entity_id,
                   onclick: () => openEntity(r.entity_id) },
       el("span", { className: "name" }, r.name),
       el("span", { className: "type", style: `background:${typeColour(r.type)}` }, r.type || "?"),
       el("span", { className: "match" }, r.match)))));
  setStatus(body.results.length ? `${body.results.length} result(s) for “${q}”.`
                                : `No entity matches “${q}”.`);
}

function openEntity(id) {
  const hash = `#/entity/${encodeURIComponent(id)}`;
  if (location.hash === hash) run(() => showEntity(id));
  else location.hash = hash;     // hashchange shows it, and the back button works
}

// ------------------------------------------------------------------ entity card

let shownSeq = 0;                // answers to an older click must not overwrite a newer one

async function showEntity(id) {
  const seq = ++shownSeq;
  setStatus("Loading…");
  const card = await api(`entities/${encodeURIComponent(id)}`);
  if (seq !== shownSeq) return;
  $("entity-panel").hidden = false;
  $("similar").replaceChildren();
  renderCard(card);
  renderFacts(card);
  drawNeighbourhood(card);
  setStatus("");
  renderSimilar(card, seq).catch(report);
}

function stat(label, value) {
  return [el("dt", {}, label), el("dd", {}, value === null || value === undefined ? "–" : value)];
}

function renderCard(card) {
  const wiki = card.wiki_title
    ? el("a", { href: `https://en.wikipedia.org/wiki/${encodeURIComponent(card.wiki_title.replace(/ /g, "_"))}`,
                rel: "noopener noreferrer", target: "_blank" }, card.wiki_title.replace(/_/g, " "))
    : null;
  const counts = card.fact_counts || {};
  fill($("card"),
    el("h2", { id: "entity-name" }, card.name,
       el("span", { className: "type", style: `background:${typeColour(card.type)}` }, card.type || "?")),
    wiki ? el("p", { className: "wiki" }, "Wikipedia: ", wiki) : null,
    el("dl", { className: "stats" },
       stat("mentions", card.mention_count),
       stat("PageRank", typeof card.pagerank === "number" ? card.pagerank.toFixed(3) : card.pagerank),
       stat("facts out / in", `${counts.out ?? card.out_degree ?? "–"} / ${counts.in ?? card.in_degree ?? "–"}`),
       stat("component size", card.component_size),
       stat("community", card.community_id ? entityLink(card.community_id, card.community_id) : null),
       stat("entity id", el("code", {}, card.entity_id))),
    card.aliases && card.aliases.length
      ? el("p", { className: "aliases" }, "Also called: ", card.aliases.join(" · ")) : null,
    card.documents && card.documents.length
      ? el("p", { className: "documents" }, "Sources: ",
           ...card.documents.flatMap((d, i) => [i ? ", " : "",
             safeUrl(d.url) ? el("a", { href: safeUrl(d.url), rel: "noopener noreferrer", target: "_blank" },
                                 d.title || d.doc_id)
                            : el("span", {}, d.title || d.doc_id)]))
      : null,
  );
}

function renderFacts(card) {
  const rows = card.facts.map((f) => el("tr", { className: f.kind },
    el("td", {}, entityLink(f.subject_id, f.subject)),
    el("td", {}, f.predicate),
    el("td", {}, entityLink(f.object_id, f.object)),
    el("td", {}, f.kind === "inferred" ? el("span", { title: `premises: ${(f.supporting_edge_ids || []).join(", ")}` },
                                            `inferred (${f.rule})`) : "extracted"),
    el("td", {}, typeof f.confidence === "number" ? f.confidence.toFixed(2) : ""),
    el("td", {}, ...(f.evidence || []).map((e) => el("blockquote", {},
      `“${e.sentence_text}” `,
      el("cite", {}, safeUrl(e.url) ? el("a", { href: safeUrl(e.url), rel: "noopener noreferrer", target: "_blank" },
                                         e.title || e.doc_id)
                                    : (e.title || e.doc_id)))))));
  $("facts").tBodies[0].replaceChildren(...rows);
  if (card.facts_truncated) {
    $("facts").tBodies[0].append(el("tr", {}, el("td", { colspan: 6, className: "note" },
      `Showing ${card.facts.length} of ${(card.fact_counts.out || 0) + (card.fact_counts.in || 0)} facts.`)));
  }
}

async function renderSimilar(card, seq) {
  const list = $("similar");
  if (!card.has_embedding) {
    list.replaceChildren(el("li", { className: "note" }, "No embedding: the entity takes part in no trained fact."));
    return;
  }
  const body = await api(`entities/${encodeURIComponent(card.entity_id)}/similar?k=${SIMILAR_K}`);
  if (seq !== shownSeq) return;
  list.replaceChildren(...body.results.map((r) => el("li", {},
    entityLink(r.entity_id, r.name), " ", el("span", { className: "score" }, r.score.toFixed(3)))));
}

// ------------------------------------------------------------------ neighbourhood drawing

function neighbourhood(card) {
  // one node per neighbouring entity (or literal value); its edges carry every predicate between the two
  const nodes = new Map();
  for (const f of card.facts) {
    const outgoing = f.subject_id === card.entity_id;
    const otherId = outgoing ? f.object_id : f.subject_id;
    if (otherId === card.entity_id) continue;                       // a self-loop adds nothing to the picture
    const key = otherId ? `e:${otherId}` : `l:${f.object}`;
    if (!nodes.has(key)) {
      nodes.set(key, { key, id: otherId, name: outgoing ? f.object : f.subject,
                       // the store knows the object's entity type; an incoming fact's subject stays uncoloured
                       type: otherId && outgoing ? f.object_entity_type : null,
                       literal: !otherId, out: new Set(), in: new Set(), inferred: true, weight: 0 });
    }
    const node = nodes.get(key);
    (outgoing ? node.out : node.in).add(f.predicate);
    node.inferred = node.inferred && f.kind === "inferred";
    node.weight += (f.support_count || 1);
  }
  // entities first (they can be opened), then a few literal values; each kind by support, then name
  const order = (a, b) => b.weight - a.weight || String(a.name).localeCompare(b.name);
  const all = [...nodes.values()];
  const entities = all.filter((n) => !n.literal).sort(order);
  const literals = all.filter((n) => n.literal).sort(order);
  const shownEntities = entities.slice(0, MAX_NEIGHBOURS);
  const room = Math.min(MAX_LITERALS, MAX_NEIGHBOURS - shownEntities.length);
  const shown = shownEntities.concat(literals.slice(0, Math.max(0, room)));
  return { shown, hidden: all.length - shown.length };
}

function drawNeighbourhood(card) {
  const graph = $("graph");
  const cx = WIDTH / 2, cy = HEIGHT / 2;
  const { shown, hidden } = neighbourhood(card);
  // an ellipse rather than a circle: the drawing is wider than tall, and names need horizontal room
  const rx = cx - 120, ry = cy - 50;
  const defs = svg("defs");
  for (const [id, colour] of [["arrow", "#666"], ["arrow-inferred", "#b36"]]) {
    const marker = svg("marker", { id, viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7,
                                   orient: "auto-start-reverse" });
    marker.append(svg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: colour }));
    defs.append(marker);
  }
  const edges = svg("g", { class: "edges" });
  const nodes = svg("g", { class: "nodes" });
  const centreRadius = 26, nodeRadius = 14;

  shown.forEach((n, i) => {
    const angle = (2 * Math.PI * i) / shown.length - Math.PI / 2;
    const x = cx + rx * Math.cos(angle), y = cy + ry * Math.sin(angle);
    // the line stops at both circles' rims so the arrowheads stay visible
    const dx = x - cx, dy = y - cy, len = Math.hypot(dx, dy) || 1;
    const x1 = cx + (dx / len) * centreRadius, y1 = cy + (dy / len) * centreRadius;
    const x2 = x - (dx / len) * nodeRadius, y2 = y - (dy / len) * nodeRadius;
    const marker = n.inferred ? "url(#arrow-inferred)" : "url(#arrow)";
    const predicates = [...n.out].map((p) => `${p} →`).concat([...n.in].map((p) => `← ${p}`));
    const edge = svg("line", { class: `edge${n.inferred ? " inferred" : ""}`, x1, y1, x2, y2,
                               "data-predicates": predicates.join("; ") });
    if (n.out.size) edge.setAttribute("marker-end", marker);
    if (n.in.size) edge.setAttribute("marker-start", marker);
    edge.append(svg("title", {}, predicates.join("\n")));
    edges.append(edge);
    // the label runs along its edge, past the crowded centre, turned so that it never reads upside down
    const lx = x1 + (x2 - x1) * 0.58, ly = y1 + (y2 - y1) * 0.58;
    let degrees = (Math.atan2(dy, dx) * 180) / Math.PI;
    if (degrees > 90 || degrees < -90) degrees += 180;
    edges.append(svg("text", { class: "edge-label", x: lx, y: ly - 3, "text-anchor": "middle",
                               transform: `rotate(${degrees.toFixed(1)} ${lx.toFixed(1)} ${ly.toFixed(1)})` },
                     shorten(predicates.join(", "), 28)));

    const group = svg("g", { class: `node${n.literal ? " literal" : ""}`, transform: `translate(${x},${y})` });
    if (n.id) {
      group.setAttribute("data-entity-id", n.id);
      group.setAttribute("tabindex", "0");
      group.setAttribute("role", "link");
      const go = () => openEntity(n.id);
      group.addEventListener("click", go);
      group.addEventListener("keydown", (event) => { if (event.key === "Enter") go(); });
      group.append(svg("circle", { r: nodeRadius, fill: typeColour(n.type) }));
    } else {
      group.append(svg("rect", { x: -nodeRadius, y: -9, width: 2 * nodeRadius, height: 18, rx: 4, fill: "#ccc" }));
    }
    group.append(svg("title", {}, n.name));
    // names sit outside the ring: below the lower half's nodes, above the upper half's
    const below = y >= cy - 1;
    group.append(svg("text", { y: below ? nodeRadius + 14 : -nodeRadius - 6, "text-anchor": "middle" },
                     shorten(String(n.name), 26)));
    nodes.append(group);
  });

  const centre = svg("g", { class: "node centre", transform: `translate(${cx},${cy})`,
                            "data-entity-id": card.entity_id });
  centre.append(svg("circle", { r: centreRadius, fill: typeColour(card.type) }));
  centre.append(svg("text", { y: centreRadius + 16, "text-anchor": "middle", class: "centre-label" },
                    shorten(card.name, 32)));
  nodes.append(centre);
  graph.replaceChildren(defs, edges, nodes);

  const entityCount = shown.filter((n) => !n.literal).length;
  $("graph-caption").textContent = shown.length
    ? `${card.name}: ${entityCount} neighbouring entit${entityCount === 1 ? "y" : "ies"}` +
      `${shown.length > entityCount ? ` and ${shown.length - entityCount} value(s)` : ""}` +
      `${hidden ? `, ${hidden} more not drawn` : ""}. Dashed: inferred facts. Click a node to open it.`
    : `${card.name} has no facts in the graph.`;
}

// ------------------------------------------------------------------ questions

async function ask(question) {
  setStatus("Thinking…");
  const body = await api("ask", { method: "POST", headers: { "Content-Type": "application/json" },
                                  body: JSON.stringify({ question }) });
  const box = $("answer");
  box.hidden = false;
  const citations = (body.citations || []).map((c) => {
    const title = c.title || c.doc_id || "";
    const url = safeUrl(c.url);
    return el("li", {}, c.sentence_text ? `“${c.sentence_text}” ` : "",
              url ? el("a", { href: url, rel: "noopener noreferrer", target: "_blank" }, title) : title);
  });
  fill(box,
    el("p", { className: body.known ? "answer known" : "answer unknown" }, body.answer),
    (body.entities || []).length
      ? el("p", { className: "linked" }, "About: ",
           ...body.entities.flatMap((e, i) => [i ? ", " : "", entityLink(e.entity_id, e.name)]))
      : null,
    citations.length ? el("ol", { className: "citations" }, ...citations) : null,
    (body.reasoning || []).length
      ? el("details", {}, el("summary", {}, "reasoning"), el("ol", {}, ...body.reasoning.map((s) => el("li", {}, s))))
      : null);
  setStatus("");
}

// ------------------------------------------------------------------ wiring

function route() {
  const match = location.hash.match(/^#\/entity\/(.+)$/);
  if (match) {
    const id = decodeURIComponent(match[1]);
    run(() => showEntity(id));
  }
}

function run(action) {
  lastAction = action;
  action().then(() => { if (lastAction === action) lastAction = null; }, report);
}

document.addEventListener("DOMContentLoaded", () => {
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const q = $("q").value.trim();
    if (q) run(() => search(q));
  });
  $("ask-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const question = $("question").value.trim();
    if (question) run(() => ask(question));
  });
  $("key-form").addEventListener("submit", () => {
    const key = $("api-key").value.trim();
    if (key) {
      sessionStorage.setItem(KEY_STORE, key);
      $("api-key").value = "";
      setStatus("Key saved for this tab.");
      if (lastAction) run(lastAction);
      else route();
    }
  });
  $("key-button").addEventListener("click", () => askForKey("Enter the API key to use in this tab."));
  $("home").addEventListener("click", (event) => { event.preventDefault(); $("q").focus(); });
  window.addEventListener("hashchange", route);
  // ask for a key once per tab, and only when the service wants one (it may run with --insecure-no-auth):
  // a 401/403 from this probe opens the dialog; the key then lives in sessionStorage
  api("info").catch((error) => { if (!(error instanceof AuthError)) setStatus(""); });
  route();
});
