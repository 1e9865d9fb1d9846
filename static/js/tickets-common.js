/* Shared by the ticket pages: labels, pills, SLA countdown text. */
(function () {
  "use strict";
  const { t } = window.Tsunagu;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function pill(kind, value) {
    return el("span", "tk-pill tk-" + kind + "-" + value, t(kind === "rank" && value === "new" ? "rank_new" : value));
  }

  function duration(ms) {
    const s = Math.round(Math.abs(ms) / 1000);
    if (s < 3600) return Math.floor(s / 60) + "m";
    if (s < 86400) return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
    return Math.floor(s / 86400) + "d " + Math.floor((s % 86400) / 3600) + "h";
  }

  /* Text and state of one SLA clock: {text, state: ok|warn|bad|met|paused}. */
  function clock(dueIso, metIso, breached, paused, running) {
    if (metIso) return { text: t("met"), state: breached ? "bad" : "met" };
    if (!dueIso) return { text: "—", state: "met" };
    if (!running && !paused) return { text: "—", state: "met" };
    const left = Date.parse(dueIso) - Date.now();
    if (paused) return { text: t("paused") + " (" + duration(left) + ")", state: "paused" };
    if (left < 0 || breached) return { text: t("overdue") + " " + duration(left), state: "bad" };
    return { text: t("due_in") + " " + duration(left), state: left < 15 * 60 * 1000 ? "warn" : "ok" };
  }

  window.TsunaguTickets = { el, pill, clock, duration };
})();
