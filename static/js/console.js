/* Operator console: presence switch (click or Alt+1..4), live over Socket.IO. */
(function () {
  "use strict";
  const { t, connect } = window.Tsunagu;
  const group = document.querySelector(".presence-switch");
  const label = document.getElementById("presence-now");
  let socket = null;

  function show(presence) {
    group.dataset.current = presence;
    label.textContent = t(presence);
    group.querySelectorAll(".presence-btn").forEach((button) => {
      button.setAttribute("aria-checked", String(button.dataset.presence === presence));
    });
  }

  function choose(presence) {
    if (!socket || !socket.connected) return;
    socket.emit("presence", { presence }, (answer) => {
      if (answer && answer.presence) show(answer.presence);
    });
  }

  group.addEventListener("click", (event) => {
    const button = event.target.closest(".presence-btn");
    if (button) choose(button.dataset.presence);
  });

  document.addEventListener("keydown", (event) => {
    if (!event.altKey) return;
    const order = ["available", "busy", "away", "offline"];
    const index = Number(event.key) - 1;
    if (index >= 0 && index < order.length) { event.preventDefault(); choose(order[index]); }
  });

  socket = connect(document.getElementById("conn"), () => {
    window.Tsunagu.api("GET", "/me").catch(() => {});
  });
  /* Another tab (or a supervisor) changed my presence. */
  socket.on("operator_presence", (event) => show(event.presence));
})();
