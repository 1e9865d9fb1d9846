/* /customers/{id}: the timeline with infinite scroll, notes, merge, rank override, anonymise. */
(function () {
  "use strict";
  const { t, api } = window.Tsunagu;
  const root = document.getElementById("customer");
  const id = root.dataset.customerId;
  const list = document.getElementById("timeline");
  const end = document.getElementById("timeline-end");
  const sentinel = document.getElementById("timeline-sentinel");
  const dateFormat = new Intl.DateTimeFormat(document.documentElement.lang || "ja", {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", timeZone: "Asia/Tokyo",
  });
  let cursor = null;
  let loading = false;
  let finished = false;

  function item(entry) {
    const li = document.createElement("li");
    li.className = "tl-item tl-" + entry.kind;
    li.dataset.id = entry.id;
    const head = document.createElement("div");
    head.className = "tl-head";
    const kind = document.createElement("span");
    kind.className = "tl-kind";
    kind.textContent = t("kind_" + entry.kind) !== "kind_" + entry.kind ? t("kind_" + entry.kind) : entry.kind;
    const when = document.createElement("time");
    when.dateTime = entry.occurred_at;
    when.textContent = dateFormat.format(new Date(entry.occurred_at));
    head.append(kind, when);
    if (entry.direction) {
      const dir = document.createElement("span");
      dir.className = "muted small";
      dir.textContent = t(entry.direction);
      head.append(dir);
    }
    if (entry.ticket_id) {
      const link = document.createElement("a");
      link.href = "/tickets/" + entry.ticket_id;
      link.textContent = t("ticket") + " #" + entry.ticket_id;
      head.append(link);
    }
    const text = document.createElement("div");
    text.className = "tl-summary";
    text.textContent = entry.kind === "merge" ? t("merged_from") + " " + entry.summary : entry.summary;
    li.append(head, text);
    if (entry.body && entry.body !== entry.summary) {
      const body = document.createElement("div");
      body.className = "tl-body";
      body.textContent = entry.body;
      li.append(body);
    }
    return li;
  }

  async function more() {
    if (loading || finished) return;
    loading = true;
    try {
      const query = "?limit=30" + (cursor ? "&before=" + encodeURIComponent(cursor) : "");
      const page = await api("GET", "/customers/" + id + "/timeline" + query);
      page.items.forEach((entry) => list.appendChild(item(entry)));
      cursor = page.next_cursor;
      if (!cursor) { finished = true; end.hidden = false; observer.disconnect(); }
    } finally {
      loading = false;
    }
    /* Keep filling while the sentinel is still on screen (tall windows). */
    if (!finished && sentinel.getBoundingClientRect().top < window.innerHeight + 200) more();
  }

  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) more();
  }, { rootMargin: "200px" });
  observer.observe(sentinel);

  const noteForm = document.getElementById("note-form");
  noteForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = noteForm.elements.body.value.trim();
    if (!body) return;
    const button = noteForm.querySelector("button");
    button.disabled = true;
    try {
      const entry = await api("POST", "/customers/" + id + "/notes", { body });
      list.prepend(item(entry));
      noteForm.reset();
    } catch (error) {
      alert(error.message);
    } finally {
      button.disabled = false;
    }
  });

  document.querySelectorAll(".merge-btn").forEach((button) => {
    button.addEventListener("click", async () => {
      const duplicate = Number(button.dataset.duplicateId);
      if (!confirm(t("confirm_merge").replace("{id}", duplicate))) return;
      try {
        await api("POST", "/customers/" + id + "/merge", { duplicate_id: duplicate });
        window.location.reload();
      } catch (error) {
        alert(error.message);
      }
    });
  });

  const override = document.getElementById("override-form");
  if (override) {
    override.elements.rank_override.addEventListener("change", async (event) => {
      try {
        await api("PATCH", "/customers/" + id, { rank_override: event.target.value || null, version: Number(root.dataset.version) });
        window.location.reload();
      } catch (error) {
        alert(error.message);
      }
    });
  }

  const anonymize = document.getElementById("anonymize-btn");
  if (anonymize) {
    anonymize.addEventListener("click", async () => {
      if (!confirm(t("confirm_anonymize"))) return;
      try {
        await api("POST", "/customers/" + id + "/anonymize");
        window.location.reload();
      } catch (error) {
        alert(error.message);
      }
    });
  }

  more();
})();
