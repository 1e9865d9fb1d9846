/* The knowledge-base editor (/kb): list with filters, Markdown editor with a preview
   rendered by the server's sanitiser, revisions with diff and restore, review, publish,
   autosave with optimistic locking (a 409 names who changed the article). */
(function () {
  "use strict";
  const T = window.Tsunagu;
  const t = T.t;
  const $ = (id) => document.getElementById(id);
  const app = $("kb-app");
  const isEditor = app.dataset.editor === "true";
  const userId = Number(app.dataset.userId || 0);
  const form = $("kb-editor");
  const fields = {
    title: $("kb-title"), body: $("kb-body"), locale: $("kb-locale"), visibility: $("kb-visibility"),
    category: $("kb-category"), tags: $("kb-tags"), note: $("kb-note"), needsReview: $("kb-needs-review"),
    publishAt: $("kb-publish-at"),
  };
  let current = null;      // the article as the server last answered it
  let nextCursor = null;
  let dirty = false;
  let autosaveTimer = null;
  let previewTimer = null;
  let saving = false;

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (k === "class") node.className = v; else if (k === "dataset") Object.assign(node.dataset, v);
      else node.setAttribute(k, v);
    });
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function fmt(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return d.toLocaleString(document.documentElement.lang === "en" ? "en-GB" : "ja-JP",
      { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
  }

  function status(message, kind) {
    const node = $("kb-status");
    node.textContent = message || "";
    node.className = "kb-status" + (kind ? " kb-status-" + kind : "");
  }

  function canEdit(article) {
    if (!article) return true;
    if (isEditor) return true;
    return article.status === "draft" && !article.published_at && article.author_id === userId;
  }

  function showError(error) {
    if (error.status === 409 && error.body && error.body.error) {
      const info = error.body.error;
      $("kb-conflict-text").textContent = info.message;
      $("kb-conflict").hidden = false;
      status(t("conflict"), "bad");
      return;
    }
    status((error && error.message) || t("error"), "bad");
  }

  /* ---------- list ---------- */
  function listQuery() {
    const data = new FormData($("kb-filters"));
    const params = new URLSearchParams();
    for (const [k, v] of data.entries()) if (v) params.set(k, v);
    params.set("limit", "50");
    return params;
  }

  async function loadList(reset) {
    const params = listQuery();
    if (!reset && nextCursor) params.set("cursor", nextCursor);
    const list = $("kb-list");
    try {
      const page = await T.api("GET", "/kb/articles?" + params.toString());
      if (reset) list.textContent = "";
      page.items.forEach((a) => list.appendChild(listItem(a)));
      nextCursor = page.next_cursor;
      $("kb-more").hidden = !nextCursor;
      if (reset && !page.items.length) list.appendChild(el("li", { class: "muted kb-list-empty" }, t("no_articles")));
      markActive();
    } catch (error) { status(error.message, "bad"); }
  }

  function listItem(a) {
    const li = el("li");
    const button = el("button", { type: "button", class: "kb-list-item", dataset: { id: a.id, testid: "kb-item" } });
    button.appendChild(el("span", { class: "kb-list-title" }, a.title || t("untitled")));
    const meta = el("span", { class: "kb-list-meta" });
    meta.appendChild(el("span", { class: "pill pill-" + a.status }, t(a.status)));
    meta.appendChild(el("span", { class: "pill pill-" + a.visibility }, t(a.visibility)));
    meta.appendChild(el("span", { class: "pill" }, a.locale.toUpperCase()));
    if (a.needs_review && a.status === "draft") meta.appendChild(el("span", { class: "pill pill-review" }, t("needs_review")));
    if (a.proposal_for_id) meta.appendChild(el("span", { class: "pill pill-review" }, t("proposal")));
    button.appendChild(meta);
    button.addEventListener("click", () => openArticle(a.id));
    li.appendChild(button);
    return li;
  }

  function markActive() {
    document.querySelectorAll(".kb-list-item").forEach((b) => {
      b.classList.toggle("active", current && Number(b.dataset.id) === current.id);
    });
  }

  /* ---------- editor ---------- */
  function fill(article) {
    current = article;
    dirty = false;
    $("kb-empty").hidden = true;
    form.hidden = false;
    $("kb-conflict").hidden = true;
    fields.title.value = article ? article.title : "";
    fields.body.value = article ? article.body : "";
    fields.locale.value = article ? article.locale : (document.documentElement.lang === "en" ? "en" : "ja");
    fields.visibility.value = article ? article.visibility : "internal";
    fields.category.value = article && article.category_id ? String(article.category_id) : "";
    fields.tags.value = article ? (article.tags || []).join(", ") : "";
    fields.needsReview.checked = article ? article.needs_review : false;
    fields.note.value = "";
    fields.publishAt.value = "";
    const editable = canEdit(article);
    form.querySelectorAll("input, select, textarea").forEach((node) => {
      if (node.id !== "kb-link-search") node.disabled = !editable;
    });
    document.querySelectorAll("[data-editor-only]").forEach((node) => { node.hidden = !isEditor; });
    $("kb-save").hidden = !editable;
    $("kb-review").hidden = !article || !editable || article.status !== "draft";
    $("kb-approve").hidden = !isEditor || !article || article.approved || article.status === "archived";
    $("kb-publish").hidden = !isEditor || !article || article.proposal_for_id !== null;
    $("kb-apply").hidden = !isEditor || !article || !article.proposal_for_id || article.status !== "draft";
    $("kb-archive").hidden = !isEditor || !article || article.status === "archived";
    $("kb-translate").hidden = !article || !(article.translations || []).every((tr) => tr.locale === article.locale) || !(isEditor || article.status === "published");
    $("kb-propose").hidden = isEditor || !article || article.status !== "published";
    renderMeta();
    renderPreview();
    if (article) {
      history.replaceState(null, "", "/kb/articles/" + article.id);
      loadRevisions();
    } else {
      history.replaceState(null, "", "/kb");
      $("kb-history").hidden = true;
    }
    markActive();
  }

  function renderMeta() {
    const a = current;
    const state = $("kb-state");
    const vis = $("kb-visibility-pill");
    if (!a) {
      state.textContent = t("new_article"); state.className = "pill pill-draft";
      vis.textContent = ""; vis.hidden = true;
      $("kb-meta-line").textContent = "";
      $("kb-stats").textContent = "";
      return;
    }
    let label = t(a.status);
    if (a.status === "draft" && a.publish_at) label += " · " + t("scheduled") + " " + fmt(a.publish_at);
    state.textContent = label;
    state.className = "pill pill-" + a.status;
    vis.hidden = false;
    vis.textContent = t(a.visibility);
    vis.className = "pill pill-" + a.visibility;
    const parts = ["#" + a.id, t("revision") + " " + a.current_rev, "v" + a.version];
    if (a.updated_by_name) parts.push(fmt(a.updated_at) + " " + t("by") + " " + a.updated_by_name);
    if (a.needs_review) parts.push(a.approved ? t("approved") : t("needs_review"));
    else if (a.approved) parts.push(t("approved"));
    $("kb-meta-line").textContent = parts.join(" · ");
    $("kb-stats").textContent = t("uses") + ": " + a.use_count + " · " + t("helpful") + ": " + a.helpful_yes + " · " + t("not_helpful") + ": " + a.helpful_no;
  }

  let previewSeq = 0;
  async function renderPreview() {
    clearTimeout(previewTimer);
    const body = fields.body.value;
    const seq = ++previewSeq;
    try {
      const result = await T.api("POST", "/kb/preview", { body });
      if (seq !== previewSeq) return;  // an older answer arriving late must not cover a newer one
      // The server's one sanitiser (nh3) produced this HTML, exactly as it will be stored.
      $("kb-preview").innerHTML = result.html;
    } catch (error) { /* the preview catches up on the next keystroke */ }
  }

  function values() {
    const tags = fields.tags.value.split(/[,、]/).map((s) => s.trim()).filter(Boolean);
    return {
      title: fields.title.value.trim(), body: fields.body.value, locale: fields.locale.value,
      visibility: fields.visibility.value, category_id: fields.category.value ? Number(fields.category.value) : null,
      tags, needs_review: fields.needsReview.checked, note: fields.note.value.trim(),
    };
  }

  async function save(autosave) {
    if (saving) return;
    if (!fields.title.value.trim()) { fields.title.reportValidity(); return; }
    clearTimeout(autosaveTimer);
    saving = true;
    status(t("saving"));
    try {
      let article;
      if (!current) {
        article = await T.api("POST", "/kb/articles", values());
      } else {
        article = await T.api("PATCH", "/kb/articles/" + current.id, { ...values(), version: current.version, autosave: !!autosave });
      }
      fill(article);
      status(autosave ? t("autosaved") : t("saved"), "ok");
      loadList(true);
    } catch (error) { showError(error); }
    finally { saving = false; }
  }

  function scheduleAutosave() {
    dirty = true;
    clearTimeout(autosaveTimer);
    if (!current || current.status !== "draft" || !canEdit(current)) return;
    autosaveTimer = setTimeout(() => { if (dirty) save(true); }, 8000);
  }

  async function action(path, body, message) {
    try {
      const article = await T.api("POST", "/kb/articles/" + current.id + path, { version: current.version, ...(body || {}) });
      fill(article);
      status(message || t("saved"), "ok");
      loadList(true);
    } catch (error) { showError(error); }
  }

  async function openArticle(id) {
    if (dirty && current && current.id !== id && canEdit(current) && fields.title.value.trim()) await save(current.status === "draft");
    try {
      fill(await T.api("GET", "/kb/articles/" + id));
      status("");
    } catch (error) { status(error.message, "bad"); }
  }

  /* ---------- revisions and diff ---------- */
  async function loadRevisions() {
    const tbody = $("kb-revisions");
    $("kb-history").hidden = false;
    $("kb-diff").hidden = true;
    try {
      const page = await T.api("GET", "/kb/articles/" + current.id + "/revisions?limit=200");
      tbody.textContent = "";
      page.items.forEach((r, index) => {
        const tr = el("tr", { dataset: { rev: r.rev } });
        const from = el("input", { type: "radio", name: "rev-from", value: r.rev, "aria-label": "from " + r.rev });
        const to = el("input", { type: "radio", name: "rev-to", value: r.rev, "aria-label": "to " + r.rev });
        if (index === 0) to.checked = true;
        if (index === 1) from.checked = true;
        const c1 = el("td"); c1.appendChild(from);
        const c2 = el("td"); c2.appendChild(to);
        tr.append(c1, c2, el("td", {}, String(r.rev) + (index === 0 ? " (" + t("current") + ")" : "")),
          el("td", {}, fmt(r.created_at)), el("td", {}, r.author_name || ""),
          el("td", {}, (r.autosave ? "⟳ " : "") + (r.note || "")));
        const cell = el("td");
        if (isEditor && index > 0) {
          const restore = el("button", { type: "button", class: "small", dataset: { testid: "kb-restore", rev: r.rev } }, t("restore"));
          restore.addEventListener("click", () => restoreRevision(r.rev));
          cell.appendChild(restore);
        }
        tr.appendChild(cell);
        tbody.appendChild(tr);
      });
    } catch (error) { status(error.message, "bad"); }
  }

  async function restoreRevision(rev) {
    if (!window.confirm(t("confirm_restore"))) return;
    try {
      const article = await T.api("POST", "/kb/articles/" + current.id + "/revisions/" + rev + "/restore", { version: current.version });
      fill(article);
      status(t("restored"), "ok");
      loadList(true);
    } catch (error) { showError(error); }
  }

  function segmentsNode(segments, keep) {
    const span = el("span");
    segments.forEach((s) => {
      if (s.op === "equal") span.appendChild(document.createTextNode(s.text));
      else if (s.op === keep) span.appendChild(el(s.op === "insert" ? "ins" : "del", {}, s.text));
    });
    return span;
  }

  async function compare() {
    const from = document.querySelector("input[name=rev-from]:checked");
    const to = document.querySelector("input[name=rev-to]:checked");
    if (!from || !to) return;
    const box = $("kb-diff");
    try {
      const diff = await T.api("GET", "/kb/articles/" + current.id + "/diff?from=" + from.value + "&to=" + to.value);
      box.textContent = "";
      box.hidden = false;
      box.appendChild(el("h3", {}, t("revision") + " " + diff.from + " → " + diff.to +
        "  (+" + diff.stats.added + " " + t("added") + ", −" + diff.stats.removed + " " + t("removed") + ")"));
      if (diff.title.changed) {
        const p = el("p", { class: "kb-diff-title" });
        p.appendChild(segmentsNode(diff.title.segments, "delete"));
        p.appendChild(document.createTextNode("  →  "));
        p.appendChild(segmentsNode(diff.title.segments, "insert"));
        box.appendChild(p);
      }
      const table = el("table", { class: "kb-diff-table" });
      let changes = 0;
      diff.lines.forEach((line) => {
        if (line.op === "equal") {
          table.appendChild(diffRow("equal", line.old_no, line.new_no, document.createTextNode(line.old)));
          return;
        }
        changes += 1;
        if (line.op === "replace") {
          table.appendChild(diffRow("delete", line.old_no, "", segmentsNode(line.segments, "delete"), "−"));
          table.appendChild(diffRow("insert", "", line.new_no, segmentsNode(line.segments, "insert"), "+"));
        } else if (line.op === "delete") {
          table.appendChild(diffRow("delete", line.old_no, "", document.createTextNode(line.old), "−"));
        } else {
          table.appendChild(diffRow("insert", "", line.new_no, document.createTextNode(line.new), "+"));
        }
      });
      if (!changes && !diff.title.changed) box.appendChild(el("p", { class: "muted" }, t("diff_same")));
      box.appendChild(table);
    } catch (error) { status(error.message, "bad"); }
  }

  function diffRow(kind, oldNo, newNo, content, sign) {
    const tr = el("tr", { class: "diff-" + kind });
    tr.append(el("td", { class: "diff-no" }, oldNo === null ? "" : String(oldNo)),
      el("td", { class: "diff-no" }, newNo === null ? "" : String(newNo)), el("td", { class: "diff-sign" }, sign || ""));
    const td = el("td", { class: "diff-text" });
    td.appendChild(content);
    tr.appendChild(td);
    return tr;
  }

  /* ---------- images and links ---------- */
  function insertAtCursor(text) {
    const area = fields.body;
    const start = area.selectionStart, end = area.selectionEnd;
    area.value = area.value.slice(0, start) + text + area.value.slice(end);
    area.selectionStart = area.selectionEnd = start + text.length;
    area.focus();
    schedulePreview();
    scheduleAutosave();
  }

  async function upload(file) {
    const data = new FormData();
    data.append("file", file);
    try {
      const response = await fetch("/api/v1/kb/images", {
        method: "POST", body: data, credentials: "same-origin", headers: { "X-CSRF-Token": T.csrf, "Accept": "application/json" },
      });
      const body = await response.json().catch(() => null);
      if (!response.ok) throw new Error((body && body.error && body.error.message) || t("upload_failed"));
      insertAtCursor("\n" + body.markdown + "\n");
      status(t("uploaded"), "ok");
    } catch (error) { status(error.message, "bad"); }
  }

  let linkTimer = null;
  function searchLinks() {
    clearTimeout(linkTimer);
    const q = $("kb-link-search").value.trim();
    const box = $("kb-link-results");
    if (!q) { box.hidden = true; return; }
    linkTimer = setTimeout(async () => {
      try {
        const result = await T.api("GET", "/kb/search?limit=8&q=" + encodeURIComponent(q));
        box.textContent = "";
        result.items.forEach((hit) => {
          const li = el("li");
          const b = el("button", { type: "button" }, "#" + hit.id + " " + hit.title);
          b.addEventListener("click", () => {
            insertAtCursor("[" + hit.title.replace(/[\[\]]/g, "") + "](/help/articles/" + hit.id + ")");
            box.hidden = true; $("kb-link-search").value = "";
          });
          li.appendChild(b);
          box.appendChild(li);
        });
        box.hidden = !result.items.length;
      } catch (error) { box.hidden = true; }
    }, 250);
  }

  function schedulePreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(renderPreview, 300);
  }

  /* ---------- wiring ---------- */
  form.addEventListener("submit", (event) => { event.preventDefault(); save(false); });
  ["input", "change"].forEach((type) => form.addEventListener(type, (event) => {
    if (event.target.id === "kb-link-search" || event.target.id === "kb-image") return;
    if (event.target === fields.body) schedulePreview();
    scheduleAutosave();
  }));
  $("kb-new").addEventListener("click", () => { fill(null); fields.title.focus(); status(""); });
  $("kb-publish").addEventListener("click", () => {
    const at = fields.publishAt.value ? new Date(fields.publishAt.value).toISOString() : null;
    action("/publish", at ? { at } : {}, at ? t("scheduled") : t("published"));
  });
  $("kb-review").addEventListener("click", () => action("/review", {}, t("review_requested")));
  $("kb-approve").addEventListener("click", () => action("/approve", {}, t("approved")));
  $("kb-apply").addEventListener("click", () => action("/apply", {}, t("applied")));
  $("kb-archive").addEventListener("click", async () => {
    if (!window.confirm(t("confirm_archive"))) return;
    try {
      await T.api("DELETE", "/kb/articles/" + current.id);
      fill(await T.api("GET", "/kb/articles/" + current.id));
      status(t("archived"), "ok");
      loadList(true);
    } catch (error) { showError(error); }
  });
  $("kb-translate").addEventListener("click", async () => {
    const locale = current.locale === "ja" ? "en" : "ja";
    try {
      const article = await T.api("POST", "/kb/articles", {
        title: current.title, body: current.body, locale, visibility: current.visibility,
        category_id: current.category_id, tags: current.tags, translation_of: current.id,
      });
      fill(article);
      status(t("translation_created"), "ok");
      loadList(true);
    } catch (error) { showError(error); }
  });
  $("kb-propose").addEventListener("click", async () => {
    try {
      const article = await T.api("POST", "/kb/articles", {
        title: current.title, body: current.body, locale: current.locale, visibility: current.visibility,
        category_id: current.category_id, tags: current.tags, proposal_for: current.id,
      });
      fill(article);
      status(t("saved"), "ok");
      loadList(true);
    } catch (error) { showError(error); }
  });
  $("kb-reload").addEventListener("click", () => openArticle(current.id));
  $("kb-compare").addEventListener("click", compare);
  $("kb-image").addEventListener("change", (event) => {
    if (event.target.files.length) upload(event.target.files[0]);
    event.target.value = "";
  });
  $("kb-link-search").addEventListener("input", searchLinks);
  $("kb-more").addEventListener("click", () => loadList(false));
  let filterTimer = null;
  $("kb-filters").addEventListener("input", () => { clearTimeout(filterTimer); filterTimer = setTimeout(() => loadList(true), 250); });
  $("kb-filters").addEventListener("submit", (event) => { event.preventDefault(); loadList(true); });
  $("kb-preview").addEventListener("click", (event) => {
    const link = event.target.closest("a[href^='/help/articles/']");
    if (link) { event.preventDefault(); openArticle(Number(link.getAttribute("href").split("/").pop())); }
  });
  window.addEventListener("beforeunload", (event) => {
    if (dirty && current && canEdit(current)) { event.preventDefault(); event.returnValue = ""; }
  });

  loadList(true);
  if (app.dataset.articleId) openArticle(Number(app.dataset.articleId));
})();
