/* /customers: upload an import file, then follow its progress live (Socket.IO
   `import_progress` to my room) with GET /jobs/{id} polling as a fallback. */
(function () {
  "use strict";
  const { t, api, csrf } = window.Tsunagu;
  const form = document.getElementById("import-form");
  if (!form) return;
  const box = document.getElementById("import-status");
  const bar = document.getElementById("import-progress");
  const label = document.getElementById("import-text");
  const errorsList = document.getElementById("import-errors");
  let current = null;
  let socket = null;
  let pollTimer = null;

  function counts(data) {
    const parts = [data.rows + " " + t("rows")];
    ["created", "updated", "unchanged", "imported", "skipped"].forEach((key) => {
      if (data[key] !== undefined) parts.push(data[key] + " " + t(key));
    });
    if (data.error_count !== undefined) parts.push(data.error_count + " " + t("errors"));
    return parts.join(" · ");
  }

  function showErrors(errors) {
    errorsList.replaceChildren();
    (errors || []).slice(0, 200).forEach((error) => {
      const li = document.createElement("li");
      li.textContent = t("line") + " " + error.line + ": " + error.message;
      errorsList.appendChild(li);
    });
  }

  function finish(result, failed) {
    clearInterval(pollTimer);
    bar.value = 1;
    if (failed) {
      label.textContent = t("import_failed") + (failed === true ? "" : ": " + failed);
      box.classList.add("failed");
      return;
    }
    label.textContent = t("import_done") + " — " + counts(result);
    showErrors(result.errors);
  }

  function update(event) {
    if (!current || event.job_id !== current) return;
    bar.value = event.progress || 0;
    if (event.error) { finish(null, event.error); return; }
    label.textContent = (event.done ? t("import_done") : t("import_started")) + " " + Math.round((event.progress || 0) * 100) + "% — " + counts(event);
    if (event.done) poll();
  }

  async function poll() {
    if (!current) return;
    try {
      const job = await api("GET", "/jobs/" + current);
      if (job.status === "finished") finish(job.result, false);
      else if (job.status === "failed") finish(null, job.error || true);
      else if (typeof job.progress === "number" && job.progress > bar.value) bar.value = job.progress;
    } catch (error) { /* keep polling */ }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    box.hidden = false;
    box.classList.remove("failed");
    bar.value = 0;
    errorsList.replaceChildren();
    label.textContent = t("import_started");
    try {
      const response = await fetch("/api/v1/imports", {
        method: "POST", body: data, credentials: "same-origin",
        headers: { "X-CSRF-Token": csrf, "Accept": "application/json" },
      });
      const body = await response.json();
      if (!response.ok) { finish(null, (body.error && body.error.message) || response.statusText); return; }
      current = body.job_id;
      clearInterval(pollTimer);
      pollTimer = setInterval(poll, 1500);
    } catch (error) {
      finish(null, error.message);
    }
  });

  if (window.io) {
    socket = window.Tsunagu.connect(document.getElementById("conn"));
    socket.on("import_progress", update);
  }
})();
