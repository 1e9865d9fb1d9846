/* The ticket list: mine / my team's / unassigned / all, filters, search, keyset "load more", live refresh. */
(function () {
  "use strict";
  const { api, t, connect } = window.Tsunagu;
  const { el, pill, clock } = window.TsunaguTickets;
  const form = document.getElementById("filters");
  const rows = document.getElementById("rows");
  const more = document.getElementById("more");
  const empty = document.getElementById("empty");
  const view = form.dataset.view;
  let cursor = null;

  function query() {
    const params = new URLSearchParams();
    const data = new FormData(form);
    const status = data.get("status");
    if (status === "") params.set("status", "new,open,pending,on_hold");
    else if (status !== "*") params.set("status", status);
    for (const key of ["rank", "channel", "q"]) if (data.get(key)) params.set(key, data.get(key).trim());
    if (view === "mine") params.set("assignee", "me");
    if (view === "team") params.set("team", "mine");
    if (view === "unassigned") params.set("assignee", "none");
    params.set("limit", "50");
    return params;
  }

  function row(ticket) {
    const tr = el("tr");
    tr.dataset.ticketId = ticket.id;
    tr.appendChild(el("td", "muted", "#" + ticket.id));
    const subject = el("td");
    const link = el("a", "tk-subject", ticket.subject);
    link.href = "/tickets/" + ticket.id;
    subject.appendChild(link);
    if (ticket.tags.length) subject.appendChild(el("span", "tk-tags", ticket.tags.join(", ")));
    tr.appendChild(subject);
    const customer = el("td");
    customer.appendChild(el("span", "", ticket.customer ? ticket.customer.name : "#" + ticket.customer_id));
    customer.appendChild(document.createTextNode(" "));
    customer.appendChild(pill("rank", ticket.rank));
    tr.appendChild(customer);
    const status = el("td"); status.appendChild(pill("status", ticket.status)); tr.appendChild(status);
    const priority = el("td"); priority.appendChild(pill("priority", ticket.priority)); tr.appendChild(priority);
    tr.appendChild(el("td", "", t(ticket.channel)));
    tr.appendChild(el("td", ticket.assignee_name ? "" : "muted", ticket.assignee_name || t("unassigned")));
    const sla = ticket.sla;
    const first = clock(sla.first_response_due_at, sla.first_responded_at, sla.first_response_breached, sla.paused, sla.running);
    const resolution = clock(sla.resolution_due_at, null, sla.resolution_breached, sla.paused, sla.running);
    const shown = sla.first_responded_at ? resolution : first;
    tr.appendChild(el("td", "tk-sla-" + shown.state, shown.text));
    return tr;
  }

  async function load(reset) {
    const params = query();
    if (!reset && cursor) params.set("cursor", cursor);
    try {
      const page = await api("GET", "/tickets?" + params.toString());
      if (reset) rows.replaceChildren();
      page.items.forEach((ticket) => rows.appendChild(row(ticket)));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      empty.hidden = rows.children.length > 0;
    } catch (error) {
      empty.hidden = false;
      empty.textContent = error.message;
    }
  }

  form.addEventListener("submit", (event) => { event.preventDefault(); load(true); });
  form.querySelectorAll("select").forEach((select) => select.addEventListener("change", () => load(true)));
  more.addEventListener("click", () => load(false));
  let pending = null;
  function soon() { clearTimeout(pending); pending = setTimeout(() => load(true), 400); }
  let connectedOnce = false;
  load(true);
  /* After a reconnect, refetch what may have changed meanwhile. */
  const socket = connect(document.getElementById("conn"), () => { if (connectedOnce) load(true); connectedOnce = true; });
  socket.on("ticket_assigned", soon);
  socket.on("ticket_updated", soon);
  setInterval(() => load(true), 60000);
})();
