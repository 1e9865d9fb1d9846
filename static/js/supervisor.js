/* Supervisor board: queues, KPIs, charts and operators, live over Socket.IO. */
(function () {
  "use strict";
  const { t, api, connect, since } = window.Tsunagu;
  const opBody = document.querySelector("#operators tbody");
  const qBody = document.querySelector("#queues tbody");
  const rows = new Map();
  const PRESENCES = ["available", "busy", "away", "wrap_up", "offline"];
  const CHANNELS = ["phone", "email", "web", "chat"];

  function duration(seconds) {
    if (!seconds) return "0s";
    if (seconds < 60) return seconds + "s";
    if (seconds < 3600) return Math.floor(seconds / 60) + "m " + (seconds % 60) + "s";
    return Math.floor(seconds / 3600) + "h " + Math.floor((seconds % 3600) / 60) + "m";
  }

  /* --- operators --- */
  function presenceSelect(op) {
    const select = document.createElement("select");
    select.className = "presence-select";
    select.setAttribute("aria-label", op.username);
    PRESENCES.forEach((p) => {
      const option = document.createElement("option");
      option.value = p; option.textContent = t(p);
      select.appendChild(option);
    });
    select.addEventListener("change", () => {
      api("PUT", "/operators/" + op.id + "/presence", { presence: select.value }).catch((e) => alert(e.message));
    });
    return select;
  }

  function renderOperator(op) {
    let row = rows.get(op.id);
    if (!row) {
      row = document.createElement("tr");
      row.dataset.userId = op.id;
      row.dataset.username = op.username;
      row.innerHTML = "<td class='name'></td><td class='tier'></td><td class='skills'></td>" +
        "<td><span class='presence-pill'></span></td><td class='since'></td><td class='load'></td><td class='control'></td>";
      row.querySelector(".control").appendChild(presenceSelect(op));
      opBody.appendChild(row);
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
    row.querySelector(".since").textContent = op.presence_since ? since(op.presence_since) : "—";
    row.querySelector("select").value = op.presence;
    if (op.load) {
      const cell = row.querySelector(".load");
      cell.textContent = "";
      const bar = document.createElement("span");
      bar.className = "load-bar";
      CHANNELS.forEach((ch) => {
        const cap = op.capacity[ch] || 0;
        if (!cap) return;
        const chip = document.createElement("span");
        chip.className = "load-chip" + (op.load[ch] >= cap ? " full" : "");
        chip.textContent = t(ch) + " " + op.load[ch] + "/" + cap;
        bar.appendChild(chip);
      });
      cell.appendChild(bar);
    }
  }

  async function loadOperators() {
    const data = await api("GET", "/operators");
    data.items.forEach(renderOperator);
  }

  /* --- queues, KPIs, charts --- */
  let waitingChart = null;
  let slChart = null;

  function renderQueues(stats) {
    const totals = stats.totals || {};
    document.getElementById("kpi-waiting").textContent = totals.waiting ?? 0;
    document.getElementById("kpi-oldest").textContent = duration(totals.oldest_wait_s || 0);
    document.getElementById("kpi-assigned").textContent = totals.assigned ?? 0;
    const risk = document.getElementById("kpi-risk");
    risk.textContent = totals.sla_at_risk ?? 0;
    risk.classList.toggle("hot", (totals.sla_at_risk || 0) > 0);
    const sl = stats.service_level;
    document.getElementById("kpi-sl").textContent = sl && sl.share !== null ? Math.round(sl.share * 100) + "%" : "—";
    qBody.textContent = "";
    const active = stats.items.filter((c) => c.waiting || c.assigned || c.sla_at_risk);
    document.getElementById("queues-empty").hidden = active.length > 0;
    active.forEach((cell) => {
      const row = document.createElement("tr");
      row.dataset.rank = cell.rank; row.dataset.channel = cell.channel;
      if (cell.sla_at_risk) row.className = "hot";
      row.innerHTML = "<td><span class='rank-badge'></span></td><td class='channel'></td><td class='num waiting'></td>" +
        "<td class='num oldest'></td><td class='num assigned'></td><td class='num risk'></td>";
      const badge = row.querySelector(".rank-badge");
      badge.textContent = t(cell.rank); badge.classList.add("rank-" + cell.rank);
      row.querySelector(".channel").textContent = t(cell.channel);
      row.querySelector(".waiting").textContent = cell.waiting;
      row.querySelector(".oldest").textContent = cell.waiting ? duration(cell.oldest_wait_s) : "—";
      row.querySelector(".assigned").textContent = cell.assigned;
      row.querySelector(".risk").textContent = cell.sla_at_risk;
      qBody.appendChild(row);
    });
    renderCharts(stats);
  }

  function renderCharts(stats) {
    if (!window.Chart) return;
    const history = stats.history || [];
    const labels = history.map((h) => new Date(h.t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
    if (!waitingChart) {
      waitingChart = new Chart(document.getElementById("chart-waiting"), {
        type: "line",
        data: { labels, datasets: [
          { label: t("waiting"), data: [], borderColor: "#c0392b", backgroundColor: "rgba(192,57,43,.12)", fill: true, tension: .3 },
          { label: t("in_progress"), data: [], borderColor: "#1f6f8b", tension: .3 } ] },
        options: { animation: false, maintainAspectRatio: false, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
      });
    }
    waitingChart.data.labels = labels;
    waitingChart.data.datasets[0].data = history.map((h) => h.waiting);
    waitingChart.data.datasets[1].data = history.map((h) => h.assigned);
    waitingChart.update();
    const sl = stats.service_level || { within_target: 0, answered: 0 };
    if (!slChart) {
      slChart = new Chart(document.getElementById("chart-sl"), {
        type: "bar",
        data: { labels: [t("within"), t("late")], datasets: [{ data: [0, 0], backgroundColor: ["#1a7f4b", "#b7791f"] }] },
        options: { indexAxis: "y", animation: false, maintainAspectRatio: false, plugins: { legend: { display: false } },
                   scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } },
      });
    }
    if (sl) {
      slChart.data.datasets[0].data = [sl.within_target || 0, (sl.answered || 0) - (sl.within_target || 0)];
      slChart.update();
    }
  }

  async function loadQueues() {
    renderQueues(await api("GET", "/queues"));
  }

  const socket = connect(document.getElementById("conn"), () => { loadOperators(); loadQueues(); });
  socket.on("operator_presence", (event) => {
    if (!rows.has(event.user_id)) { loadOperators(); return; }
    renderOperator({ id: event.user_id, name: event.name, presence: event.presence, presence_since: event.presence_since });
  });
  socket.on("queue_stats", (stats) => {
    renderQueues(stats);
    (stats.operators || []).forEach(renderOperator);
  });
  setInterval(() => rows.forEach((row) => {
    if (row.dataset.since) row.querySelector(".since").textContent = since(row.dataset.since);
  }), 1000);
})();
