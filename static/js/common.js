/* Shared browser helpers: translated strings, CSRF-aware fetch, the console socket. */
(function () {
  "use strict";
  /* Base strings from base.html plus any page's own <script type="application/json" class="i18n-page">. */
  const strings = JSON.parse(document.getElementById("i18n").textContent || "{}");
  document.querySelectorAll("script.i18n-page").forEach((el) => Object.assign(strings, JSON.parse(el.textContent || "{}")));
  const csrf = document.querySelector('meta[name="csrf-token"]').content;

  function t(key) { return strings[key] || key; }

  async function api(method, path, body) {
    const options = { method, headers: { "Accept": "application/json" }, credentials: "same-origin" };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    if (method !== "GET") options.headers["X-CSRF-Token"] = csrf;
    const response = await fetch("/api/v1" + path, options);
    const data = response.status === 204 ? null : await response.json().catch(() => null);
    if (!response.ok) {
      const error = new Error((data && data.error && data.error.message) || response.statusText);
      error.status = response.status;
      error.body = data;
      throw error;
    }
    return data;
  }

  /* One websocket to /console; `conn` is the element showing the connection state.
     onConnect runs on every (re)connect so the page can refetch state it may have missed. */
  function connect(conn, onConnect) {
    const socket = io("/console", { transports: ["websocket"], withCredentials: true });
    socket.on("connect", () => {
      if (conn) { conn.textContent = t("connected"); conn.className = "conn conn-on"; }
      if (onConnect) onConnect(socket);
    });
    socket.on("disconnect", () => {
      if (conn) { conn.textContent = t("disconnected"); conn.className = "conn conn-off"; }
    });
    return socket;
  }

  function since(iso) {
    if (!iso) return "";
    const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (seconds < 60) return seconds + "s";
    if (seconds < 3600) return Math.floor(seconds / 60) + "m " + (seconds % 60) + "s";
    return Math.floor(seconds / 3600) + "h " + Math.floor((seconds % 3600) / 60) + "m";
  }

  window.Tsunagu = { t, api, connect, since, csrf };
})();
