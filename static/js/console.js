/* Operator console: presence, ringing offers, the screen pop, my work, missed calls,
   my recent contacts.
   Everything live over Socket.IO; after every (re)connect the state is fetched again so a
   dropped connection never loses an offer. */
(function () {
  "use strict";
  const { t, api, connect } = window.Tsunagu;
  const $ = (id) => document.getElementById(id);
  const group = document.querySelector(".presence-switch");
  let socket = null;
  let currentOffer = null;
  let offerTimer = null;
  let currentPop = null;
  let audio = null;

  /* ---------- presence ---------- */
  function showPresence(presence) {
    group.dataset.current = presence;
    $("presence-now").textContent = t(presence);
    group.querySelectorAll(".presence-btn").forEach((b) => b.setAttribute("aria-checked", String(b.dataset.presence === presence)));
    $("wrapup").hidden = !(presence === "wrap_up" && currentPop);
  }
  function choosePresence(presence) {
    if (!socket || !socket.connected) return;
    if (window.Notification && Notification.permission === "default") Notification.requestPermission();
    if (!audio && window.AudioContext) audio = new AudioContext();
    socket.emit("presence", { presence }, (answer) => { if (answer && answer.presence) showPresence(answer.presence); });
  }
  group.addEventListener("click", (e) => { const b = e.target.closest(".presence-btn"); if (b) choosePresence(b.dataset.presence); });

  /* ---------- offers ---------- */
  function ring() {
    if (!audio) return;
    const osc = audio.createOscillator(); const gain = audio.createGain();
    osc.frequency.value = 880; gain.gain.value = 0.08;
    osc.connect(gain); gain.connect(audio.destination);
    osc.start(); osc.stop(audio.currentTime + 0.25);
  }
  function showOffer(offer) {
    currentOffer = offer;
    const box = $("offer");
    box.hidden = false;
    box.dataset.offerId = offer.offer_id;
    $("offer-channel").textContent = t(offer.channel);
    const customer = offer.customer || {};
    $("offer-name").textContent = customer.name || t("anonymous");
    const rank = $("offer-rank");
    rank.textContent = customer.rank ? t(customer.rank) : "";
    rank.className = "rank-badge" + (customer.rank ? " rank-" + customer.rank : "");
    rank.hidden = !customer.rank;
    $("offer-ticket").textContent = "#" + offer.ticket_id;
    const expires = Date.parse(offer.expires_at);
    const total = Math.max(1, expires - Date.now());
    clearInterval(offerTimer);
    const tick = () => {
      const left = Math.max(0, expires - Date.now());
      $("offer-seconds").textContent = Math.ceil(left / 1000) + "s";
      $("offer-bar").style.width = Math.round((left / total) * 100) + "%";
      if (left > 0 && Math.ceil(left / 1000) % 2 === 0) ring();
      if (left <= 0) hideOffer();
    };
    tick();
    offerTimer = setInterval(tick, 1000);
    if (document.hidden && window.Notification && Notification.permission === "granted") {
      new Notification(t("new_offer") + ": " + (customer.name || t("anonymous")), { tag: "offer-" + offer.offer_id });
    }
  }
  function hideOffer() {
    clearInterval(offerTimer);
    currentOffer = null;
    $("offer").hidden = true;
  }
  async function decide(decision) {
    if (!currentOffer) return;
    const offer = currentOffer;
    hideOffer();
    try {
      await api("POST", "/offers/" + offer.offer_id + "/" + decision);
      if (decision === "accept") loadWork();
    } catch (e) { /* already decided or expired: the revoked event tells */ }
  }
  $("offer-accept").addEventListener("click", () => decide("accept"));
  $("offer-reject").addEventListener("click", () => decide("reject"));

  /* ---------- screen pop ---------- */
  function fmtDate(iso) {
    if (!iso) return "—";
    const d = new Date(iso);
    return d.toLocaleDateString() + " " + d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }
  const money = new Intl.NumberFormat(document.documentElement.lang === "en" ? "en-JP" : "ja-JP", { style: "currency", currency: "JPY" });
  function yen(amount) { return money.format(amount || 0); }
  function li(text, cls) { const el = document.createElement("li"); if (cls) el.className = cls; el.textContent = text; return el; }
  function showPop(pop) {
    currentPop = pop;
    $("pop").hidden = false;
    $("pop-caller").textContent = pop.caller === "anonymous" ? t("anonymous") : (pop.caller_display || pop.caller);
    $("pop-ticket-link").href = "/tickets/" + pop.ticket_id;
    const articles = $("pop-articles");
    articles.textContent = "";
    (pop.suggested_articles || []).forEach((a) => {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = "/kb/articles/" + a.id; link.textContent = a.title; link.target = "_blank";
      item.appendChild(link);
      articles.appendChild(item);
    });
    if (!(pop.suggested_articles || []).length) articles.appendChild(li(t("none"), "muted"));
    const c = pop.customer;
    $("pop-known").hidden = !c;
    $("pop-unknown").hidden = !!c;
    if (!c) {
      $("pop-name").textContent = t("anonymous");
      $("pop-rank").hidden = true;
      $("pop-kana").textContent = "";
      $("pop-unknown-number").textContent = pop.caller === "anonymous" ? "" : (pop.caller_display || pop.caller);
      $("pop-profile-link").href = pop.placeholder_customer_id ? "/customers/" + pop.placeholder_customer_id : "#";
      return;
    }
    $("pop-name").textContent = c.name;
    $("pop-kana").textContent = c.name_kana || "";
    const rank = $("pop-rank");
    rank.hidden = false; rank.textContent = t(c.rank); rank.className = "rank-badge rank-" + c.rank;
    rank.dataset.rank = c.rank;
    $("pop-profile-link").href = "/customers/" + c.id;
    const rfm = c.rfm || {};
    $("pop-rfm").textContent = [rfm.r, rfm.f, rfm.m].map((x) => (x == null ? "–" : x)).join(" / ");
    $("pop-ltv").textContent = yen(c.ltv);
    $("pop-last-purchase").textContent = c.last_purchase
      ? c.last_purchase.product + " · " + yen(c.last_purchase.amount) + " · " + new Date(c.last_purchase.purchased_at).toLocaleDateString()
      : t("none");
    const lastContact = pop.last_contact;
    $("pop-last-contact").textContent = lastContact ? fmtDate(lastContact.occurred_at) + " " + lastContact.summary : t("none");
    const tickets = $("pop-tickets");
    tickets.textContent = "";
    (pop.open_tickets || []).forEach((tk) => {
      const item = document.createElement("li");
      const link = document.createElement("a"); link.href = "/tickets/" + tk.id; link.textContent = "#" + tk.id + " " + tk.subject;
      const status = document.createElement("span"); status.className = "status-pill"; status.textContent = t("status_" + tk.status);
      item.appendChild(status); item.appendChild(link);
      tickets.appendChild(item);
    });
    if (!(pop.open_tickets || []).length) tickets.appendChild(li(t("no_open_tickets"), "muted"));
    const history = $("pop-timeline");
    history.textContent = "";
    (pop.recent_interactions || []).forEach((it) => {
      const item = document.createElement("li");
      const when = document.createElement("span"); when.className = "when"; when.textContent = fmtDate(it.occurred_at);
      const kind = document.createElement("span"); kind.className = "kind"; kind.textContent = t("kind_" + it.kind);
      const text = document.createElement("span"); text.textContent = it.summary;
      item.append(when, kind, text);
      history.appendChild(item);
    });
    if (!(pop.recent_interactions || []).length) history.appendChild(li(t("no_history"), "muted"));
  }

  /* Unknown caller: name the placeholder customer, or link it to an existing one (merge). */
  $("pop-create").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!currentPop || !currentPop.placeholder_customer_id) return;
    const form = e.target;
    try {
      const id = currentPop.placeholder_customer_id;
      const current = await api("GET", "/customers/" + id);
      const updated = await api("PATCH", "/customers/" + id, {
        version: current.version, name: form.name.value, name_kana: form.name_kana.value || null,
        tags: (current.tags || []).filter((x) => x !== "unidentified") });
      currentPop.customer = Object.assign({ recent_interactions: [] }, updated);
      currentPop.placeholder_customer_id = null;
      showPop(currentPop);
    } catch (err) { $("pop-error").textContent = err.message; }
  });
  $("pop-link").addEventListener("submit", async (e) => {
    e.preventDefault();
    const q = e.target.q.value.trim();
    if (!q) return;
    const results = $("pop-link-results");
    results.textContent = "";
    try {
      const data = await api("GET", "/customers?limit=8&q=" + encodeURIComponent(q));
      data.items.filter((c) => c.id !== currentPop.placeholder_customer_id).forEach((c) => {
        const item = li(c.name + (c.name_kana ? " (" + c.name_kana + ")" : "") + " · " + (c.phones || []).join(", "));
        const button = document.createElement("button");
        button.type = "button"; button.textContent = t("link");
        button.addEventListener("click", async () => {
          try {
            await api("POST", "/customers/" + c.id + "/merge", { duplicate_id: currentPop.placeholder_customer_id });
            const profile = await api("GET", "/customers/" + c.id);
            currentPop.customer = profile; currentPop.placeholder_customer_id = null;
            showPop(currentPop);
          } catch (err) { $("pop-error").textContent = err.message; }
        });
        item.appendChild(button);
        results.appendChild(item);
      });
    } catch (err) { $("pop-error").textContent = err.message; }
  });

  /* After-call summary in wrap-up: a note on the customer's timeline. */
  $("wrapup").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.target;
    const customerId = currentPop && (currentPop.customer ? currentPop.customer.id : currentPop.placeholder_customer_id);
    if (!customerId) return;
    const body = "[" + form.reason.value + "] " + form.summary.value;
    $("wrapup-error").textContent = "";
    try {
      // On the call's ticket when there is one: the note then lands on the timeline with
      // the ticket, and in the ticket itself.
      if (currentPop.ticket_id) await api("POST", "/tickets/" + currentPop.ticket_id + "/messages", { body, kind: "note" });
      else await api("POST", "/customers/" + customerId + "/notes", { body });
      form.reset();
      form.hidden = true;
      loadContacts();
    } catch (err) { $("wrapup-error").textContent = err.message; }
  });

  /* ---------- my work and missed calls ---------- */
  async function loadWork() {
    try {
      const data = await api("GET", "/tickets?assignee=me&limit=50");
      const list = $("my-work");
      list.textContent = "";
      const open = data.items.filter((tk) => ["new", "open", "pending", "on_hold"].includes(tk.status));
      open.forEach((tk) => {
        const item = document.createElement("li");
        const status = document.createElement("span"); status.className = "status-pill"; status.textContent = t("status_" + tk.status);
        const link = document.createElement("a"); link.href = "/tickets/" + tk.id; link.textContent = "#" + tk.id + " " + tk.subject;
        const channel = document.createElement("span"); channel.className = "kind"; channel.textContent = t(tk.channel);
        item.append(status, channel, link);
        list.appendChild(item);
      });
      $("my-work-empty").hidden = open.length > 0;
    } catch (e) { /* tickets unavailable: keep the last list */ }
  }
  async function loadMissed() {
    try {
      const data = await api("GET", "/calls?missed=true&limit=20");
      const open = data.items.filter((c) => !c.done);
      const badge = $("missed-badge");
      badge.querySelector(".count").textContent = data.missed_open ?? open.length;
      badge.classList.toggle("has", (data.missed_open ?? open.length) > 0);
      const list = $("missed-calls");
      list.textContent = "";
      open.forEach((call) => {
        const item = li(fmtDate(call.initialized_at) + "  " + (call.caller || t("anonymous")));
        if (call.caller) {
          const back = document.createElement("a");
          back.href = "tel:" + call.caller; back.textContent = t("call_back");
          item.appendChild(back);
        }
        const done = document.createElement("button");
        done.type = "button"; done.textContent = t("handled");
        done.addEventListener("click", async () => { await api("PATCH", "/calls/" + call.id, { done: true }); loadMissed(); });
        item.appendChild(done);
        list.appendChild(item);
      });
      $("missed-empty").hidden = open.length > 0;
    } catch (e) { /* keep the last list */ }
  }
  /* ---------- my recent contacts ---------- */
  const CONTACTS_PAGE = 10;
  let contactsCursor = null;
  let contactsRequest = 0;  // only the latest request's answer is shown
  const lang = document.documentElement.lang || undefined;
  const relative = window.Intl && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(lang, { numeric: "auto" }) : null;
  function shortTime(iso) {
    const d = new Date(iso);
    const minutes = Math.round((Date.now() - d.getTime()) / 60000);
    if (minutes < 1) return t("just_now");
    if (minutes < 60 && relative) return relative.format(-minutes, "minute");
    const time = d.toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" });
    if (d.toDateString() === new Date().toDateString()) return time;
    return d.toLocaleDateString(lang, { month: "numeric", day: "numeric" }) + " " + time;
  }
  function contactItem(c) {
    const item = document.createElement("li");
    const when = document.createElement("time");
    when.className = "when"; when.dateTime = c.occurred_at; when.title = fmtDate(c.occurred_at);
    when.textContent = shortTime(c.occurred_at);
    const kind = document.createElement("span");
    kind.className = "kind kind-" + c.kind; kind.textContent = t("kind_" + c.kind);
    const main = document.createElement("div"); main.className = "contact-main";
    const who = document.createElement("a"); who.className = "contact-name"; who.href = "/customers/" + c.customer_id;
    who.textContent = c.customer ? c.customer.name : "#" + c.customer_id;
    main.appendChild(who);
    if (c.customer && c.customer.rank) {
      const rank = document.createElement("span");
      rank.className = "rank-badge rank-" + c.customer.rank; rank.textContent = t(c.customer.rank);
      main.appendChild(rank);
    }
    const summary = document.createElement("div"); summary.className = "contact-summary muted";
    summary.textContent = c.summary; summary.title = c.summary;
    main.appendChild(summary);
    item.append(when, kind, main);
    if (c.ticket_id) {
      const ticket = document.createElement("a"); ticket.className = "contact-ticket";
      ticket.href = "/tickets/" + c.ticket_id; ticket.textContent = "#" + c.ticket_id;
      item.appendChild(ticket);
    }
    return item;
  }
  /* The first page again (as long as what is shown), or with `more` the next page appended. */
  async function loadContacts(more) {
    const list = $("recent-contacts");
    const limit = more ? CONTACTS_PAGE : Math.min(200, Math.max(CONTACTS_PAGE, list.children.length));
    let path = "/operators/me/contacts?limit=" + limit;
    if (more && contactsCursor) path += "&cursor=" + encodeURIComponent(contactsCursor);
    const request = ++contactsRequest;
    try {
      const data = await api("GET", path);
      if (request !== contactsRequest) return;
      if (!more) list.textContent = "";
      data.items.forEach((c) => list.appendChild(contactItem(c)));
      contactsCursor = data.next_cursor;
      $("contacts-more").hidden = !contactsCursor;
      $("contacts-empty").hidden = list.children.length > 0;
    } catch (e) { /* keep the last list */ }
  }
  $("contacts-more").addEventListener("click", () => loadContacts(true));

  $("missed-badge").addEventListener("click", () => $("missed-calls").scrollIntoView({ behavior: "smooth" }));

  async function resync() {
    loadWork();
    loadMissed();
    loadContacts();
    try {
      const offers = await api("GET", "/offers");
      if (offers.items.length) showOffer(offers.items[offers.items.length - 1]); else hideOffer();
    } catch (e) { /* ignore */ }
  }

  /* ---------- keyboard ---------- */
  document.addEventListener("keydown", (event) => {
    const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName);
    if (event.altKey) {
      const order = ["available", "busy", "away", "offline"];
      const index = Number(event.key) - 1;
      if (index >= 0 && index < order.length) { event.preventDefault(); choosePresence(order[index]); }
      return;
    }
    if (currentOffer && (event.key === "Enter" || (!typing && event.key.toLowerCase() === "a"))) { event.preventDefault(); decide("accept"); return; }
    if (currentOffer && (event.key === "Escape" || (!typing && event.key.toLowerCase() === "r"))) { event.preventDefault(); decide("reject"); return; }
    if (typing) return;
    if (event.key === "?") { $("shortcuts").showModal(); return; }
    if (event.key.toLowerCase() === "w" && currentPop) { window.location.href = "/tickets/" + currentPop.ticket_id; }
  });

  /* ---------- socket ---------- */
  socket = connect($("conn"), resync);
  socket.on("operator_presence", (event) => {
    showPresence(event.presence);
    if (event.presence === "wrap_up") loadContacts();  // a call just hung up: it is on the timeline now
  });
  socket.on("offer", (offer) => showOffer(offer));
  socket.on("offer_revoked", (event) => { if (currentOffer && currentOffer.offer_id === event.offer_id) hideOffer(); });
  socket.on("screen_pop", (pop) => showPop(pop));
  socket.on("ticket_assigned", () => loadWork());
  socket.on("ticket_updated", () => loadWork());
  setInterval(loadMissed, 30000);
  // Each read is audit-logged: a hidden tab does not poll, and catches up when shown again.
  setInterval(() => { if (!document.hidden) loadContacts(); }, 60000);
  document.addEventListener("visibilitychange", () => { if (!document.hidden && socket.connected) loadContacts(); });
})();
