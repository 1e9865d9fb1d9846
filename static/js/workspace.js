/* Ticket workspace: the customer's profile and recent history beside the conversation,
   and knowledge-base suggestions that insert a link into the reply (the use is recorded). */
(function () {
  "use strict";
  const { t, api } = window.Tsunagu;
  const root = document.getElementById("ticket");
  if (!root) return;
  const ticketId = Number(root.dataset.ticketId);
  const customerId = Number(root.dataset.customerId);
  const $ = (id) => document.getElementById(id);
  const money = new Intl.NumberFormat(document.documentElement.lang === "en" ? "en-JP" : "ja-JP", { style: "currency", currency: "JPY" });

  async function loadCustomer() {
    const c = await api("GET", "/customers/" + customerId);
    $("ws-name").textContent = c.name;
    $("ws-kana").textContent = c.name_kana || "";
    const rank = $("ws-rank");
    rank.textContent = t(c.rank); rank.className = "ws-rank rank-" + c.rank;
    const rfm = c.rfm || {};
    $("ws-rfm").textContent = [rfm.r, rfm.f, rfm.m].map((x) => (x == null ? "–" : x)).join(" / ");
    $("ws-ltv").textContent = money.format(c.ltv || 0);
    $("ws-phones").textContent = (c.phones_display || c.phones || []).join(", ") || t("ws_none");
    $("ws-last-purchase").textContent = c.last_purchase_at ? new Date(c.last_purchase_at).toLocaleDateString() : t("ws_none");
    const history = await api("GET", "/customers/" + customerId + "/timeline?limit=10");
    const list = $("ws-timeline");
    list.textContent = "";
    history.items.forEach((item) => {
      const li = document.createElement("li");
      const when = document.createElement("span"); when.className = "when";
      when.textContent = new Date(item.occurred_at).toLocaleDateString();
      const text = document.createElement("span");
      text.textContent = t("kind_" + item.kind) + " · " + item.summary;
      li.append(when, text);
      list.appendChild(li);
    });
  }

  function insertLink(article) {
    const body = $("body");
    const link = "[" + article.title + "](" + (article.visibility === "public" ? "/help/articles/" + article.id : "/kb/articles/" + article.id) + ")";
    const at = body.selectionStart ?? body.value.length;
    body.value = body.value.slice(0, at) + link + body.value.slice(at);
    body.focus();
    body.dispatchEvent(new Event("input", { bubbles: true }));
    api("POST", "/kb/articles/" + article.id + "/uses", { ticket_id: ticketId }).catch(() => {});
  }

  async function loadSuggestions() {
    const data = await api("GET", "/tickets/" + ticketId + "/suggestions");
    const list = $("ws-suggestions");
    list.textContent = "";
    if (!data.items.length) {
      const li = document.createElement("li"); li.className = "muted"; li.textContent = t("ws_no_articles");
      list.appendChild(li);
    }
    data.items.forEach((article) => {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = "/kb/articles/" + article.id; a.target = "_blank"; a.textContent = article.title;
      const snippet = document.createElement("span"); snippet.className = "snippet";
      snippet.textContent = (article.snippet || "").replace(/<\/?mark>/g, "");
      const button = document.createElement("button");
      button.type = "button"; button.textContent = t("ws_insert");
      button.addEventListener("click", () => insertLink(article));
      li.append(a, snippet, button);
      list.appendChild(li);
    });
  }

  loadCustomer().catch(() => {});
  loadSuggestions().catch(() => {});
})();
