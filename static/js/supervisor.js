/* Supervisor board: operators and their presence, updated live. */
(function () {
  "use strict";
  const { t, api, connect, since } = window.Tsunagu;
  const body = document.querySelector("#operators tbody");
  const rows = new Map();

  function render(op) {
    let row = rows.get(op.id);
    if (!row) {
      row = document.createElement("tr");
      row.dataset.userId = op.id;
      row.dataset.username = op.username;
      row.innerHTML = "<td class='name'></td><td class='tier'></td><td class='skills'></td>" +
        "<td><span class='presence-pill'></span></td><td class='since'></td>";
      body.appendChild(row);
      rows.set(op.id, row);
    }
    if (op.name !== undefined) row.querySelector(".name").textContent = op.name;
    if (op.tier !== undefined) row.querySelector(".tier").textContent = op.tier;
    if (op.skills !== undefined) row.querySelector(".skills").textContent = op.skills.join(", ");
    const pill = row.querySelector(".presence-pill");
    pill.textContent = t(op.presence);
    pill.className = "presence-pill presence-" + op.presence;
    row.dataset.presence = op.presence;
    row.dataset.since = op.presence_since || "";
    row.querySelector(".since").textContent = since(op.presence_since);
  }

  async function load() {
    const data = await api("GET", "/operators");
    data.items.forEach(render);
  }

  const socket = connect(document.getElementById("conn"), load);
  socket.on("operator_presence", (event) => {
    if (!rows.has(event.user_id)) { load(); return; }
    render({ id: event.user_id, name: event.name, presence: event.presence, presence_since: event.presence_since });
  });
  setInterval(() => rows.forEach((row) => { row.querySelector(".since").textContent = since(row.dataset.since); }), 1000);
})();
