// The page: upload a photo once, then re-rank it by its query id as the sliders and filters move.
// Plain JavaScript, no build step. Server text is only ever put in the page with textContent.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  // Colours of the score components, by their place in GET /components.
  const PALETTE = ["#2f5bd3", "#d08a18", "#c2417f", "#2a9d8f", "#7a5cc4", "#5f8a2e", "#b5523b", "#44607a"];
  // A vote is refused while a re-ranking is in flight and for this long after the cards are redrawn:
  // a click aimed at a card before the redraw would land on whichever card moved under the pointer,
  // and a person needs about this long to see that the cards moved.
  const SETTLE_MS = 300;
  const state = {
    components: [],      // the score components (GET /components): name, label, describe, weight
    file: null,          // the chosen photo (kept to upload again if the server forgot the query)
    queryId: null,       // the server's id for the described photo
    defaults: { top_k: 5, weights: {} },
    maxUploadMb: 10,
    sequence: 0,         // only the latest answer is shown
    controller: null,    // aborts a superseded request
    timer: null,
    previewUrl: null,
    judged: {},          // query id -> {item key: "like" | "dislike"} (this browser's session)
    settleTimer: null,   // ends the "settling" state that follows a redraw
    garments: [],        // shop the look: [{query_id, garment: {part, box, share}}] of the last upload
    words: "",           // words refining the photo (the q field), when "Refine my photo" is ticked
  };

  // ------------------------------------------------------------------ helpers

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function fixed(value, digits = 2) {
    return typeof value === "number" && isFinite(value) ? value.toFixed(digits) : "–";
  }

  function showError(message) {
    const box = $("error");
    box.textContent = message || "";
    box.hidden = !message;
  }

  function setStatus(message) {
    $("status").textContent = message;
  }

  async function errorText(response) {
    try {
      const body = await response.json();
      if (body && typeof body.error === "string") return body.error;
    } catch (_) { /* not JSON */ }
    return `the server answered ${response.status}`;
  }

  function swatches(container, colours) {
    container.replaceChildren();
    for (const colour of colours || []) {
      const swatch = el("span");
      swatch.style.setProperty("background-color", /^#[0-9a-fA-F]{6}$/.test(colour.hex) ? colour.hex : "#ccc");
      swatch.style.setProperty("flex-grow", String(Math.max(colour.share || 0, 0.01)));
      swatch.title = `${colour.name} (${colour.family}) ${Math.round((colour.share || 0) * 100)}%`;
      container.append(swatch);
    }
  }

  // ------------------------------------------------------------------ controls

  function names() {
    return state.components.map((c) => c.name);
  }

  function colourOf(index) {
    return PALETTE[index % PALETTE.length];
  }

  function buildSliders() {
    // One slider per registered score component: label, range, share of the total.
    const box = $("sliders");
    box.replaceChildren();
    state.components.forEach((component, index) => {
      const row = el("div", "slider");
      row.style.setProperty("--component", colourOf(index));
      row.title = component.describe || "";
      const label = el("label", null, component.label || component.name);
      label.htmlFor = `w-${component.name}`;
      const input = el("input");
      Object.assign(input, { type: "range", id: `w-${component.name}`, min: "0", max: "1", step: "0.05" });
      input.addEventListener("input", scheduleRerank);
      const output = el("output");
      output.id = `o-${component.name}`;
      output.htmlFor = input.id;
      row.append(label, input, output);
      box.append(row);
    });
  }

  function weights() {
    const out = {};
    for (const name of names()) out[name] = parseFloat($(`w-${name}`).value);
    return out;
  }

  function showWeights() {
    const raw = weights();
    const sum = names().reduce((s, n) => s + raw[n], 0);
    for (const name of names()) {
      $(`o-${name}`).value = sum > 0 ? `${Math.round((100 * raw[name]) / sum)}%` : "0%";
    }
  }

  function resetControls() {
    for (const name of names()) $(`w-${name}`).value = state.defaults.weights[name] ?? 0;
    $("f-category").value = "";
    $("f-colour").value = "";
    $("top-k").value = state.defaults.top_k;
    showWeights();
  }

  async function loadSetup() {
    try {
      state.components = (await (await fetch("/components")).json()).components;
    } catch (_) {
      state.components = [];
    }
    buildSliders();
    try {
      const health = await (await fetch("/health")).json();
      state.defaults = health.defaults;
      state.maxUploadMb = health.limits.max_upload_mb;
      $("top-k").max = health.limits.max_top_k;
      const catalog = health.catalog;
      $("catalog-info").textContent = `${catalog.items.toLocaleString()} catalog items`;
    } catch (_) {
      $("catalog-info").textContent = "The server did not answer.";
    }
    resetControls();
    try {
      const [categories, colours] = await Promise.all([
        fetch("/categories").then((r) => r.json()), fetch("/colours").then((r) => r.json())]);
      const select = $("f-category");
      for (const category of categories.categories.filter((c) => c.items > 0)) {
        const option = el("option", null, `${category.name} (${category.items})`);
        option.value = category.name;
        select.append(option);
      }
      for (const family of colours.families) {
        const option = el("option", null, family);
        option.value = family;
        $("f-colour").append(option);
      }
    } catch (_) { /* filters stay at "any" */ }
  }

  // ------------------------------------------------------------------ requests

  function formFor(useQueryId) {
    const form = new FormData();
    if (useQueryId) form.append("query_id", state.queryId);
    else {
      form.append("image", state.file, state.file.name || "photo");
      if ($("garments").checked) form.append("garments", "true");
    }
    const raw = weights();
    for (const name of names()) form.append(`w_${name}`, raw[name]);
    const topK = parseInt($("top-k").value, 10);
    if (topK > 0) form.append("top_k", topK);
    if ($("f-category").value) form.append("category", $("f-category").value);
    if ($("f-colour").value) form.append("colour", $("f-colour").value);
    if (state.words) form.append("q", state.words);
    return form;
  }

  async function recommend({ upload = false } = {}) {
    if (!state.file) return;
    if (state.controller) state.controller.abort();
    const controller = new AbortController();
    state.controller = controller;
    const sequence = ++state.sequence;
    const useQueryId = !upload && state.queryId !== null;
    $("results").classList.add("busy");
    setStatus(useQueryId ? "Re-ranking…" : "Looking at your photo…");
    const started = performance.now();
    try {
      let response = await fetch("/recommend", { method: "POST", body: formFor(useQueryId), signal: controller.signal });
      if (response.status === 404 && useQueryId) {
        // The server no longer holds the description (restarted, or evicted): upload again.
        state.queryId = null;
        response = await fetch("/recommend", { method: "POST", body: formFor(false), signal: controller.signal });
      }
      if (sequence !== state.sequence) return;
      if (!response.ok) {
        // Words that cannot refine the photo (only unknown ones, say) are dropped with the message,
        // so that the next slider move re-ranks the photo instead of repeating the error.
        if (response.status === 400 && state.words) state.words = "";
        showError(await errorText(response));
        setStatus("");
        return;
      }
      const payload = await response.json();
      if (sequence !== state.sequence) return;
      showError("");
      render(payload, performance.now() - started);
    } catch (error) {
      if (error.name !== "AbortError" && sequence === state.sequence) {
        showError(`Could not reach the server (${error.message}).`);
        setStatus("");
      }
    } finally {
      if (sequence === state.sequence) $("results").classList.remove("busy");
    }
  }

  function scheduleRerank() {
    showWeights();
    clearTimeout(state.timer);
    state.timer = setTimeout(() => recommend(), 60);
  }

  // ------------------------------------------------------------------ rendering

  function renderQuery(query) {
    $("query").hidden = false;
    const [first, ...others] = query.categories;
    $("q-category").textContent = first ? first.name : "unknown";
    $("q-probability").textContent = first ? `${Math.round(first.probability * 100)}%` : "";
    $("q-others").textContent = others.length
      ? "or " + others.map((c) => `${c.name} ${Math.round(c.probability * 100)}%`).join(", ") : "";
    const attributes = $("q-attributes");
    attributes.replaceChildren(...query.attributes.map((a) => {
      const chip = el("li", null, a.name);
      chip.title = `${a.type}, ${Math.round(a.probability * 100)}%`;
      return chip;
    }));
    swatches($("q-colours"), query.colours);
    $("q-colour-names").replaceChildren(...query.colours.map(
      (c) => el("li", null, `${c.name} ${Math.round(c.share * 100)}%`)));
  }

  function newCard(result) {
    // The parts every card has (photo and word results alike): key, thumbnail, rank, total.
    const card = $("card-template").content.firstElementChild.cloneNode(true);
    card.dataset.key = result.key;
    card.dataset.id = result.id;
    const image = card.querySelector(".thumb");
    image.src = `/items/${encodeURIComponent(result.id)}/image`;
    image.alt = result.name || result.category || "catalog item";
    card.querySelector(".rank").textContent = `#${result.rank}`;
    card.querySelector(".total").textContent = fixed(result.score.total);
    return card;
  }

  function renderCard(result, used) {
    const card = newCard(result);
    const parts = [];
    const bar = card.querySelector(".bar");
    const list = card.querySelector(".parts");
    state.components.forEach((component, index) => {
      const name = component.name;
      const share = (used[name] || 0) * (result.score[name] || 0);
      const part = el("span", "part");
      part.style.setProperty("--component", colourOf(index));
      part.style.setProperty("width", `${Math.max(0, share * 100)}%`);
      bar.append(part);
      const row = el("div");
      const term = el("dt");
      const dot = el("span", "dot");
      dot.style.setProperty("--component", colourOf(index));
      term.append(dot, (component.label || name).toLowerCase());
      row.append(term, el("dd", `s-${name}`, fixed(result.score[name])),
        el("dd", `w-${name} muted`, `×${Math.round((used[name] || 0) * 100)}%`));
      list.append(row);
      parts.push(`${name} ${fixed(result.score[name])} × ${Math.round((used[name] || 0) * 100)}%`);
    });
    bar.setAttribute("aria-label", `score ${fixed(result.score.total)} = ${parts.join(" + ")}`);
    bar.title = parts.join(" + ");
    card.querySelector(".category-name").textContent = result.category || result.predicted_category || "";
    swatches(card.querySelector(".swatches"), result.colours);
    const shared = (result.shared_attributes || []).map((a) => a.name);
    card.querySelector(".shared").textContent = shared.length ? `Also ${shared.join(", ")}` : "";
    // What this shopper's likes and dislikes changed (their session only).
    card.querySelector(".feedback-note").textContent = result.feedback ? result.feedback.note : "";
    for (const line of result.matched || []) list.append(el("dd", "matched", line));  // the words' part
    const judged = (state.judged[state.queryId] || {})[result.key];
    for (const button of card.querySelectorAll(".vote button")) {
      button.setAttribute("aria-pressed", String(judged === (button.classList.contains("like") ? "like" : "dislike")));
      button.addEventListener("click", () => vote(card, button, button.classList.contains("like") ? "like" : "dislike"));
    }
    return card;
  }

  async function renderGarments(answers) {
    // One button per garment: its crop of the photo (drawn from the file and the box), part and share.
    const picker = $("garment-picker");
    state.garments = answers.map((a) => ({ query_id: a.query_id, garment: a.garment }));
    picker.hidden = false;
    let bitmap = null;
    try { bitmap = await createImageBitmap(state.file); } catch (_) { /* text-only buttons */ }
    picker.replaceChildren(...state.garments.map((entry, index) => {
      const { part, box, share } = entry.garment;
      const button = el("button", "garment");
      button.type = "button";
      button.setAttribute("aria-pressed", String(entry.query_id === state.queryId));
      if (bitmap) {
        const [x0, y0, x1, y1] = box;
        const canvas = el("canvas");
        const scale = 64 / Math.max(x1 - x0, y1 - y0);
        canvas.width = Math.max(1, Math.round((x1 - x0) * scale));
        canvas.height = Math.max(1, Math.round((y1 - y0) * scale));
        canvas.getContext("2d").drawImage(bitmap, x0, y0, x1 - x0, y1 - y0, 0, 0, canvas.width, canvas.height);
        button.append(canvas);
      }
      button.append(el("span", null, `${part} ${Math.round(share * 100)}%`));
      button.addEventListener("click", () => {
        state.queryId = state.garments[index].query_id;
        picker.querySelectorAll("button").forEach((b, i) => b.setAttribute("aria-pressed", String(i === index)));
        recommend();  // this garment's recommendations, re-ranked by its own query id
      });
      return button;
    }));
  }

  function render(payload, elapsedMs) {
    const answer = payload.queries[0];
    if (answer.garment) renderGarments(payload.queries);
    else if (!state.garments.some((g) => g.query_id === answer.query_id)) {
      state.garments = [];
      $("garment-picker").hidden = true;
    }
    state.queryId = answer.query_id;
    renderQuery(answer.query);
    $("search-notes").replaceChildren(...(payload.notes || []).map((note) => el("li", null, note)));
    const cards = answer.results.map((result) => renderCard(result, payload.weights));
    $("results").replaceChildren(...cards);
    $("results").classList.add("settling");
    clearTimeout(state.settleTimer);
    state.settleTimer = setTimeout(() => $("results").classList.remove("settling"), SETTLE_MS);
    const session = answer.session;
    $("session-info").textContent = session && (session.this_photo.likes || session.this_photo.dislikes)
      ? `Re-ranked by your ${session.this_photo.likes} like(s) and ${session.this_photo.dislikes} dislike(s)`
        + (payload.weights_learned ? "; weights learned from every shopper's feedback" : "")
      : (payload.weights_learned ? "Weights learned from every shopper's feedback" : "");
    const filters = [payload.filters.category, payload.filters.colour].filter(Boolean);
    setStatus(cards.length
      ? `${cards.length} items${filters.length ? ` (only ${filters.join(", ")})` : ""} in ${Math.round(elapsedMs)} ms`
      : "No catalog item passes these filters.");
  }

  async function vote(card, button, label) {
    if (!state.queryId) return;
    const results = $("results");
    if (results.classList.contains("busy") || results.classList.contains("settling")) {
      // The cards are moving: the shopper may have aimed at another one. Record nothing, and say so.
      setStatus("The cards just moved, so that vote was not recorded: click again on the card you mean.");
      return;
    }
    const buttons = card.querySelectorAll(".vote button");
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const response = await fetch("/feedback", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ query_id: state.queryId, item: card.dataset.key, label, weights: weights() }),
      });
      if (!response.ok) {
        showError(await errorText(response));
        return;
      }
      buttons.forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
      (state.judged[state.queryId] = state.judged[state.queryId] || {})[card.dataset.key] = label;
      showError("");
      scheduleRerank();  // the likes re-rank this shopper's results at once
    } catch (error) {
      showError(`Could not send your vote (${error.message}).`);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  // ------------------------------------------------------------------ searching by words

  function renderWordCard(result) {
    const card = newCard(result);
    card.querySelector(".bar").remove();
    const list = card.querySelector(".parts");
    for (const line of result.matched || []) list.append(el("dd", "matched", line));
    card.querySelector(".category-name").textContent = result.category || result.predicted_category || "";
    swatches(card.querySelector(".swatches"), result.colours);
    card.querySelector(".vote").remove();  // likes belong to a photo query (its query id)
    return card;
  }

  async function searchWords(text) {
    if (state.controller) state.controller.abort();
    const controller = new AbortController();
    state.controller = controller;
    const sequence = ++state.sequence;
    const params = new URLSearchParams({ q: text });
    const topK = parseInt($("top-k").value, 10);
    if (topK > 0) params.set("top_k", String(topK));
    if ($("f-category").value) params.set("category", $("f-category").value);
    if ($("f-colour").value) params.set("colour", $("f-colour").value);
    setStatus("Searching…");
    try {
      const response = await fetch(`/search?${params}`, { signal: controller.signal });
      if (sequence !== state.sequence) return;
      if (!response.ok) {
        $("search-notes").replaceChildren();
        showError(await errorText(response));
        setStatus("");
        return;
      }
      const payload = await response.json();
      if (sequence !== state.sequence) return;
      showError("");
      $("query").hidden = true;
      $("search-notes").replaceChildren(...payload.notes.map((note) => el("li", null, note)));
      const cards = payload.results.map(renderWordCard);
      $("results").replaceChildren(...cards);
      setStatus(cards.length ? `${cards.length} items for “${text}”` : "No catalog item passes these filters.");
    } catch (error) {
      if (error.name !== "AbortError" && sequence === state.sequence) {
        showError(`Could not reach the server (${error.message}).`);
        setStatus("");
      }
    }
  }

  // ------------------------------------------------------------------ choosing a photo

  function choose(file) {
    if (!file) return;
    if (file.size > state.maxUploadMb * 1024 * 1024) {
      showError(`That photo is ${(file.size / 1048576).toFixed(1)} MB; the limit is ${state.maxUploadMb} MB.`);
      return;
    }
    state.file = file;
    state.queryId = null;
    if (state.previewUrl) URL.revokeObjectURL(state.previewUrl);
    state.previewUrl = URL.createObjectURL(file);
    const preview = $("preview");
    preview.src = state.previewUrl;
    preview.hidden = false;
    $("drop-text").textContent = "Choose another photo or drop it here";
    $("refine-label").hidden = false;
    recommend({ upload: true });
  }

  function setUp() {
    const drop = $("drop");
    $("file").addEventListener("change", (event) => choose(event.target.files[0]));
    for (const type of ["dragenter", "dragover"]) {
      drop.addEventListener(type, (event) => { event.preventDefault(); drop.classList.add("over"); });
    }
    for (const type of ["dragleave", "drop"]) {
      drop.addEventListener(type, () => drop.classList.remove("over"));
    }
    drop.addEventListener("drop", (event) => {
      event.preventDefault();
      choose(event.dataTransfer.files[0]);
    });
    drop.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); $("file").click(); }
    });
    for (const id of ["f-category", "f-colour", "top-k"]) $(id).addEventListener("change", scheduleRerank);
    $("garments").addEventListener("change", () => recommend({ upload: true }));
    $("search-form").addEventListener("submit", (event) => {
      event.preventDefault();
      if (state.file && $("refine-photo").checked) {
        state.words = $("search").value;  // the photo's ranking, refined by the words
        recommend();
      } else {
        state.words = "";
        searchWords($("search").value);
      }
    });
    $("refine-photo").addEventListener("change", () => {
      if (!$("refine-photo").checked && state.words) { state.words = ""; scheduleRerank(); }
    });
    $("reset").addEventListener("click", () => { resetControls(); scheduleRerank(); });
    $("reset-feedback").addEventListener("click", async () => {
      try {
        const response = await fetch("/session/reset", { method: "POST" });
        if (!response.ok) { showError(await errorText(response)); return; }
        state.judged = {};
        showError("");
        scheduleRerank();
      } catch (error) {
        showError(`Could not reach the server (${error.message}).`);
      }
    });
    loadSetup();
  }

  setUp();
})();
