/* /admin: users, teams, tokens, the CTI blocklist and the routing policy form. */
(function () {
  "use strict";
  const { api, t } = window.Tsunagu;

  /* --- routing policy: "3@0, 2@30, 1@90 lowest" <-> [{min_tier, after_s, prefer}] --- */
  function stepsToText(steps) {
    return steps.map((s) => s.min_tier + "@" + s.after_s + (s.prefer ? " " + s.prefer : "")).join(", ");
  }
  function textToSteps(text) {
    if (!text.trim()) return [];
    return text.split(",").map((part) => {
      const match = part.trim().match(/^([123])\s*@\s*(\d+)\s*(lowest|highest)?$/);
      if (!match) throw new Error(part.trim());
      const step = { min_tier: Number(match[1]), after_s: Number(match[2]) };
      if (match[3]) step.prefer = match[3];
      return step;
    });
  }

  const policyForm = document.getElementById("policy-form");
  let policyVersion = null;

  async function loadPolicy() {
    const policy = await api("GET", "/routing/policy");
    policyVersion = policy.version;
    policyForm.offer_timeout_s.value = policy.offer_timeout_s;
    policyForm.wrap_up_s.value = policy.wrap_up_s;
    policyForm.reject_cooldown_s.value = policy.reject_cooldown_s;
    Object.entries(policy.capacity).forEach(([ch, n]) => { policyForm.elements["capacity." + ch].value = n; });
    Object.entries(policy.ranks).forEach(([rank, channels]) => {
      Object.entries(channels).forEach(([ch, steps]) => {
        const input = policyForm.elements["steps." + rank + "." + ch];
        if (input) input.value = stepsToText(steps);
      });
    });
  }

  policyForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = policyForm.querySelector(".form-error");
    error.textContent = "";
    const body = { version: policyVersion, offer_timeout_s: Number(policyForm.offer_timeout_s.value),
                   wrap_up_s: Number(policyForm.wrap_up_s.value), reject_cooldown_s: Number(policyForm.reject_cooldown_s.value),
                   capacity: {}, ranks: {} };
    let bad = false;
    Array.from(policyForm.elements).forEach((el) => {
      if (el.name && el.name.startsWith("capacity.")) body.capacity[el.name.slice(9)] = Number(el.value);
      if (el.name && el.name.startsWith("steps.")) {
        const [, rank, ch] = el.name.split(".");
        body.ranks[rank] = body.ranks[rank] || {};
        try { body.ranks[rank][ch] = textToSteps(el.value); el.classList.remove("invalid"); }
        catch (e) { el.classList.add("invalid"); bad = true; }
      }
    });
    if (bad) { error.textContent = "⚠"; return; }
    try {
      const saved = await api("PUT", "/routing/policy", body);
      policyVersion = saved.version;
      const flag = document.getElementById("policy-saved");
      flag.hidden = false; setTimeout(() => { flag.hidden = true; }, 2000);
    } catch (e) {
      const fields = e.body && e.body.error && e.body.error.fields;
      error.textContent = e.message + (fields ? " — " + Object.entries(fields).map(([k, v]) => k + ": " + v.join("; ")).join(" / ") : "");
    }
  });
  loadPolicy();

  /* --- users (admins) --- */
  const usersTable = document.querySelector("#users tbody");
  if (usersTable) {
    const cell = (text) => { const td = document.createElement("td"); td.textContent = text; return td; };
    async function loadUsers() {
      const data = await api("GET", "/users?limit=200");
      usersTable.textContent = "";
      data.items.forEach((user) => {
        const row = document.createElement("tr");
        row.dataset.username = user.username;
        row.appendChild(cell(user.username));
        row.appendChild(cell(user.name));
        row.appendChild(cell(user.roles.join(", ")));
        const tier = document.createElement("input");
        tier.type = "number"; tier.min = 1; tier.max = 3; tier.value = user.tier; tier.className = "small";
        const tierCell = document.createElement("td"); tierCell.appendChild(tier); row.appendChild(tierCell);
        const skills = document.createElement("input");
        skills.value = user.skills.join(","); skills.className = "skills";
        const skillCell = document.createElement("td"); skillCell.appendChild(skills); row.appendChild(skillCell);
        row.appendChild(cell(user.extension || ""));
        const active = document.createElement("input");
        active.type = "checkbox"; active.checked = user.active;
        const activeCell = document.createElement("td"); activeCell.appendChild(active); row.appendChild(activeCell);
        const save = document.createElement("button");
        save.textContent = "✓"; save.title = "Save";
        save.addEventListener("click", async () => {
          try {
            await api("PATCH", "/users/" + user.id, { tier: Number(tier.value), active: active.checked,
              skills: skills.value.split(",").map((s) => s.trim()).filter(Boolean) });
            save.textContent = "✔";
          } catch (e) { alert(e.message); }
        });
        const saveCell = document.createElement("td"); saveCell.appendChild(save); row.appendChild(saveCell);
        usersTable.appendChild(row);
      });
    }
    const userForm = document.getElementById("user-form");
    userForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const error = userForm.querySelector(".form-error");
      error.textContent = "";
      try {
        await api("POST", "/users", {
          username: userForm.username.value, name: userForm.name.value, password: userForm.password.value,
          roles: Array.from(userForm.roles.selectedOptions).map((o) => o.value), tier: Number(userForm.tier.value),
          skills: userForm.skills.value.split(",").map((s) => s.trim()).filter(Boolean),
          extension: userForm.extension.value || null });
        userForm.reset();
        loadUsers();
        loadTeams();
      } catch (e) { error.textContent = e.message; }
    });
    loadUsers();

    /* --- teams: name, description, members (checkboxes over the users); optimistic version --- */
    const teamsTable = document.querySelector("#teams tbody");
    const teamForm = document.getElementById("team-form");
    let people = [];

    function memberPicks(container, chosen) {
      container.textContent = "";
      if (!people.length) {
        const none = document.createElement("span");
        none.className = "muted"; none.textContent = t("team_no_users");
        container.appendChild(none);
      }
      people.forEach((user) => {
        const label = document.createElement("label");
        label.className = "member-pick";
        const box = document.createElement("input");
        box.type = "checkbox"; box.value = user.id; box.checked = chosen.has(user.id);
        box.dataset.username = user.username;
        label.appendChild(box);
        label.appendChild(document.createTextNode(" " + user.name + " (" + user.username + ")"));
        container.appendChild(label);
      });
    }
    const pickedIds = (container) =>
      Array.from(container.querySelectorAll("input[type=checkbox]:checked")).map((box) => Number(box.value));

    function teamRow(team) {
      const row = document.createElement("tr");
      row.dataset.team = team.name;
      const name = document.createElement("input");
      name.name = "name"; name.value = team.name; name.maxLength = 80; name.required = true;
      const nameCell = document.createElement("td"); nameCell.appendChild(name); row.appendChild(nameCell);
      const description = document.createElement("input");
      description.name = "description"; description.value = team.description; description.maxLength = 500;
      const descriptionCell = document.createElement("td"); descriptionCell.appendChild(description); row.appendChild(descriptionCell);
      const picks = document.createElement("div");
      picks.className = "member-picks";
      memberPicks(picks, new Set(team.member_ids));
      const picksCell = document.createElement("td"); picksCell.appendChild(picks); row.appendChild(picksCell);
      const save = document.createElement("button");
      save.type = "button"; save.className = "save-team"; save.textContent = t("team_save");
      const remove = document.createElement("button");
      remove.type = "button"; remove.className = "delete-team"; remove.textContent = t("team_delete");
      const status = document.createElement("p");
      status.className = "form-error"; status.setAttribute("role", "alert");
      save.addEventListener("click", async () => {
        status.textContent = "";
        try {
          await api("PATCH", "/teams/" + team.id, { version: team.version, name: name.value,
            description: description.value, member_ids: pickedIds(picks) });
          await loadTeams();
        } catch (e) { failed(e, status); }
      });
      remove.addEventListener("click", async () => {
        if (!window.confirm(t("team_confirm_delete"))) return;
        try {
          await api("DELETE", "/teams/" + team.id);
          await loadTeams();
        } catch (e) { failed(e, status); }
      });
      const actions = document.createElement("td");
      actions.className = "team-actions";
      [save, remove, status].forEach((el) => actions.appendChild(el));
      row.appendChild(actions);
      return row;
    }

    async function failed(error, where) {
      if (error.status === 409 && error.body && error.body.error && error.body.error.version !== undefined) {
        await loadTeams();  /* someone else saved first: show theirs, keep nothing stale */
        alert(t("team_stale"));
      } else {
        where.textContent = error.message;
      }
    }

    async function loadTeams() {
      const [users, teams] = await Promise.all([api("GET", "/users?limit=200"), api("GET", "/teams?limit=200")]);
      /* Editors work on the knowledge base only: a team of theirs would see no tickets. */
      people = users.items.filter((u) => u.active && u.roles.some((role) => role !== "editor"))
        .sort((a, b) => a.username.localeCompare(b.username));
      teamsTable.textContent = "";
      teams.items.sort((a, b) => a.name.localeCompare(b.name)).forEach((team) => teamsTable.appendChild(teamRow(team)));
      document.getElementById("no-teams").hidden = teams.items.length > 0;
      memberPicks(teamForm.querySelector(".member-picks"), new Set(pickedIds(teamForm.querySelector(".member-picks"))));
    }

    teamForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const error = teamForm.querySelector(".form-error");
      error.textContent = "";
      try {
        await api("POST", "/teams", { name: teamForm.name.value, description: teamForm.description.value,
          member_ids: pickedIds(teamForm.querySelector(".member-picks")) });
        teamForm.reset();
        memberPicks(teamForm.querySelector(".member-picks"), new Set());
        await loadTeams();
      } catch (e) { error.textContent = e.message; }
    });
    loadTeams();

    /* --- tokens --- */
    const tokensTable = document.querySelector("#tokens tbody");
    async function loadTokens() {
      const data = await api("GET", "/tokens?limit=200");
      tokensTable.textContent = "";
      data.items.filter((t) => !t.revoked_at).forEach((token) => {
        const row = document.createElement("tr");
        [token.name, token.scope, token.prefix + "…", (token.created_at || "").slice(0, 16), (token.last_used_at || "—").slice(0, 16)]
          .forEach((text) => row.appendChild(cell(text)));
        const revoke = document.createElement("button");
        revoke.textContent = "✕"; revoke.title = "Revoke";
        revoke.addEventListener("click", async () => { await api("DELETE", "/tokens/" + token.id); loadTokens(); });
        const revokeCell = document.createElement("td"); revokeCell.appendChild(revoke); row.appendChild(revokeCell);
        tokensTable.appendChild(row);
      });
    }
    document.getElementById("token-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const form = event.target;
      const created = await api("POST", "/tokens", { name: form.name.value, scope: form.scope.value });
      const once = document.getElementById("token-once");
      once.hidden = false; once.querySelector("code").textContent = created.token;
      form.reset();
      loadTokens();
    });
    loadTokens();

    /* --- CTI blocklist --- */
    const blockedTable = document.querySelector("#blocked tbody");
    async function loadBlocked() {
      const data = await api("GET", "/blocked-numbers");
      blockedTable.textContent = "";
      data.items.forEach((row) => {
        const tr = document.createElement("tr");
        tr.dataset.number = row.number;
        [row.display, row.note, (row.created_at || "").slice(0, 16)].forEach((text) => tr.appendChild(cell(text)));
        const remove = document.createElement("button");
        remove.textContent = "✕"; remove.title = "Unblock";
        remove.addEventListener("click", async () => { await api("DELETE", "/blocked-numbers/" + row.id); loadBlocked(); });
        const removeCell = document.createElement("td"); removeCell.appendChild(remove); tr.appendChild(removeCell);
        blockedTable.appendChild(tr);
      });
    }
    document.getElementById("blocked-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const form = event.target;
      const error = form.querySelector(".form-error");
      error.textContent = "";
      try {
        await api("POST", "/blocked-numbers", { number: form.number.value, note: form.note.value });
        form.reset();
        loadBlocked();
      } catch (e) { error.textContent = e.message; }
    });
    loadBlocked();
  }
})();
