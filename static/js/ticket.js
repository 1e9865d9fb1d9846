/* One ticket: messages (quoted text folded), composer with macros and Markdown preview,
   status/priority/tags, "take it", SLA countdown, live viewers and typing, stale-version guard. */
(function () {
  "use strict";
  const { api, t, connect } = window.Tsunagu;
  const { el, pill, clock } = window.TsunaguTickets;
  const root = document.getElementById("ticket");
  const ticketId = Number(root.dataset.ticketId);
  const me = Number(root.dataset.userId);
  const $ = (id) => document.getElementById(id);
  const body = $("body");
  let ticket = null;
  let version = null;
  let socket = null;

  function showStale(show) { $("stale").hidden = !show; }

  function renderMessage(message) {
    const li = el("li", "tk-msg tk-msg-" + message.kind + (message.automated ? " tk-msg-auto" : ""));
    li.dataset.messageId = message.id;
    const head = el("div", "tk-msg-head");
    const who = message.kind === "inbound"
      ? (message.from_name || message.from_address || t("inbound")) : t(message.kind);
    head.appendChild(el("strong", "", who));
    head.appendChild(el("span", "muted", new Date(message.created_at).toLocaleString()));
    if (message.automated) head.appendChild(el("span", "tk-pill", t("automated")));
    if (message.kind === "reply" && message.delivery) {
      const state = message.delivery === "failed" && message.delivery_detail === "retrying" ? "retrying" : message.delivery;
      const badge = el("span", "tk-delivery tk-delivery-" + state, t(state));
      badge.dataset.testid = "delivery";
      if (message.last_error) badge.title = message.last_error;
      head.appendChild(badge);
    }
    li.appendChild(head);
    const content = el("div", "tk-msg-body");
    if (message.kind === "inbound" && message.quoted_at !== null && message.quoted_at !== undefined) {
      content.appendChild(el("div", "tk-text", message.body.slice(0, message.quoted_at)));
      const quoted = el("div", "tk-text tk-quoted", message.body.slice(message.quoted_at));
      quoted.hidden = true;
      const toggle = el("button", "link-btn tk-quote-toggle", t("show_quoted"));
      toggle.type = "button";
      toggle.addEventListener("click", () => {
        quoted.hidden = !quoted.hidden;
        toggle.textContent = quoted.hidden ? t("show_quoted") : t("hide_quoted");
      });
      content.appendChild(toggle);
      content.appendChild(quoted);
    } else {
      /* html is sanitised on the server by the one sanitiser (core.sanitize). */
      content.innerHTML = message.html;
    }
    li.appendChild(content);
    if (message.attachments && message.attachments.length) {
      const list = el("ul", "tk-attachments");
      message.attachments.forEach((file) => {
        const item = el("li");
        if (file.omitted) item.appendChild(el("span", "muted", file.filename + " (" + t("too_large") + ")"));
        else { const a = el("a", "", file.filename); a.href = file.url; item.appendChild(a); }
        item.appendChild(el("span", "muted", " " + Math.ceil(file.size / 1024) + " KB"));
        list.appendChild(item);
      });
      li.appendChild(list);
    }
    return li;
  }

  function renderSla() {
    if (!ticket) return;
    const s = ticket.sla;
    const first = clock(s.first_response_due_at, s.first_responded_at, s.first_response_breached, s.paused, s.running);
    const resolution = clock(s.resolution_due_at, ticket.solved_at, s.resolution_breached, s.paused, s.running);
    $("sla-first").textContent = first.text; $("sla-first").className = "tk-sla-" + first.state;
    $("sla-resolution").textContent = resolution.text; $("sla-resolution").className = "tk-sla-" + resolution.state;
  }

  function render(data) {
    ticket = data; version = data.version;
    $("subject").textContent = data.subject;
    const customer = $("customer");
    customer.textContent = data.customer ? data.customer.name : "#" + data.customer_id;
    $("rank").replaceChildren(pill("rank", data.rank));
    $("channel").textContent = t(data.channel);
    if (data.linked_ticket_id) {
      const link = el("a", "", t("linked") + " #" + data.linked_ticket_id);
      link.href = "/tickets/" + data.linked_ticket_id;
      $("linked").replaceChildren(link); $("linked").hidden = false;
    }
    $("status").value = data.status; $("priority").value = data.priority;
    $("tags").value = data.tags.join(", ");
    $("assignee").textContent = data.assignee_name || t("unassigned");
    $("take").hidden = data.assignee_id === me;
    const closed = data.status === "closed";
    root.querySelectorAll("#props select, #props input, #props button, #composer textarea, #composer button")
      .forEach((node) => { node.disabled = closed; });
    $("messages").replaceChildren(...data.messages.map(renderMessage));
    renderSla();
    showStale(false);
  }

  async function load() {
    try { render(await api("GET", "/tickets/" + ticketId)); }
    catch (error) { $("props-error").textContent = error.message; }
  }

  function handle(error, where) {
    if (error.status === 409) showStale(true);
    $(where).textContent = error.message;
  }

  async function patch(changes) {
    $("props-error").textContent = "";
    try { render(await api("PATCH", "/tickets/" + ticketId, Object.assign({ version }, changes))); $("props-error").textContent = t("saved"); }
    catch (error) { handle(error, "props-error"); }
  }

  $("props").addEventListener("submit", (event) => {
    event.preventDefault();
    const changes = { priority: $("priority").value,
      tags: $("tags").value.split(",").map((s) => s.trim()).filter(Boolean) };
    if ($("status").value !== ticket.status) changes.status = $("status").value;
    patch(changes);
  });
  $("take").addEventListener("click", () => patch({ assignee_id: me }));
  $("reload").addEventListener("click", load);

  $("composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = body.value;
    if (!text.trim()) { $("composer-error").textContent = t("empty_body"); return; }
    const kind = root.querySelector('input[name="kind"]:checked').value;
    const payload = { body: text, kind, version };
    if ($("submit-status").value) payload.status = $("submit-status").value;
    $("send").disabled = true; $("composer-error").textContent = "";
    try {
      await api("POST", "/tickets/" + ticketId + "/messages", payload);
      body.value = ""; $("preview").hidden = true; $("submit-status").value = "";
      sendTyping(false);
      await load();
    } catch (error) { handle(error, "composer-error"); }
    finally { $("send").disabled = false; }
  });

  $("preview-toggle").addEventListener("click", async () => {
    const box = $("preview");
    if (!box.hidden) { box.hidden = true; return; }
    try {
      const answer = await api("POST", "/tickets/preview", { body: body.value });
      box.innerHTML = answer.html; /* sanitised by the server */
      box.hidden = false;
    } catch (error) { $("composer-error").textContent = error.message; }
  });

  async function loadMacros() {
    try {
      const page = await api("GET", "/macros");
      page.items.forEach((macro) => {
        const option = el("option", "", macro.name);
        option.value = macro.id;
        $("macro").appendChild(option);
      });
    } catch (error) { /* macros are optional */ }
  }
  $("macro").addEventListener("change", async () => {
    const id = $("macro").value;
    if (!id) return;
    try {
      const result = await api("POST", "/tickets/" + ticketId + "/macros/" + id + "/apply", {});
      body.value = (body.value ? body.value + "\n\n" : "") + result.body;
      root.querySelector('input[name="kind"][value="' + result.kind + '"]').checked = true;
      if (result.set_status) $("submit-status").value = result.set_status;
      if (result.add_tags.length) {
        const tags = new Set($("tags").value.split(",").map((s) => s.trim()).filter(Boolean));
        result.add_tags.forEach((tag) => tags.add(tag));
        $("tags").value = Array.from(tags).join(", ");
      }
      body.focus();
    } catch (error) { $("composer-error").textContent = error.message; }
    $("macro").value = "";
  });

  /* Collision detection: who else is here, who is typing. */
  function renderViewers(people) {
    const others = people.filter((p) => p.id !== me);
    const box = $("viewers");
    box.hidden = others.length === 0;
    box.replaceChildren(el("span", "muted", t("viewing") + " "));
    others.forEach((person) => {
      const chip = el("span", "tk-viewer" + (person.typing ? " tk-typing" : ""), person.name + (person.typing ? " · " + t("typing") : ""));
      box.appendChild(chip);
    });
  }
  let typingNow = false;
  let typingTimer = null;
  function sendTyping(value) {
    if (!socket || !socket.connected || typingNow === value) return;
    typingNow = value;
    socket.emit("typing", { ticket_id: ticketId, typing: value });
  }
  body.addEventListener("input", () => {
    sendTyping(true);
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => sendTyping(false), 4000);
  });

  socket = connect($("conn"), (sock) => {
    sock.emit("view_ticket", { ticket_id: ticketId }, (answer) => { if (answer && answer.viewers) renderViewers(answer.viewers); });
  });
  socket.on("ticket_viewers", (event) => { if (event.ticket_id === ticketId) renderViewers(event.viewers); });
  socket.on("ticket_updated", (event) => {
    if (event.ticket_id !== ticketId) return;
    if (event.version > version && body.value.trim()) showStale(true); /* keep the draft; offer a reload */
    else load();
  });
  window.addEventListener("beforeunload", () => { if (socket.connected) socket.emit("leave_ticket", { ticket_id: ticketId }); });
  setInterval(() => { if (socket.connected) socket.emit("view_ticket", { ticket_id: ticketId }); }, 60000);
  setInterval(renderSla, 1000);
  load();
  loadMacros();
})();
