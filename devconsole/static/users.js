"use strict";
// The Users page: the management API (/v1/mgmt, /v2/mgmt) called from the
// browser with a management key the developer types. Every value from the
// server is inserted with textContent (common.js el), never as HTML.
(() => {
  const $ = (id) => document.getElementById(id);
  const store = window.sessionStorage;
  let current = null; // the open user

  fetch("/dev/api/info").then((r) => r.json()).then((info) => {
    for (const p of info.projects) $("project").append(el("option", {value: p, text: p}));
    const saved = store.getItem("otpd.mgmt.project");
    if (saved && info.projects.includes(saved)) $("project").value = saved;
  });
  $("mgmtKey").value = store.getItem("otpd.mgmt.key") || "";

  $("keyForm").addEventListener("submit", (ev) => {
    ev.preventDefault();
    store.setItem("otpd.mgmt.key", $("mgmtKey").value.trim());
    store.setItem("otpd.mgmt.project", $("project").value);
    search();
  });
  $("forgetKey").addEventListener("click", () => {
    store.removeItem("otpd.mgmt.key");
    $("mgmtKey").value = "";
  });

  // call makes one management call and shows the response (errors in
  // Descope's shape). It returns {ok, status, body}.
  async function call(method, path, body) {
    const key = $("mgmtKey").value.trim();
    const init = {method, headers: {Authorization: "Bearer " + $("project").value + ":" + key}, credentials: "omit"};
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    $("status").textContent = method + " " + path + " …";
    $("status").className = "status";
    $("result").textContent = "";
    let res, text;
    try {
      res = await fetch(path, init);
      text = await res.text();
    } catch (e) {
      $("status").textContent = method + " " + path + " → network error";
      $("status").className = "status err";
      $("result").textContent = String(e);
      return {ok: false};
    }
    let json = null;
    try { json = JSON.parse(text); } catch (e) { /* shown as text */ }
    const ra = res.headers.get("Retry-After");
    $("status").textContent = method + " " + path + " → " + res.status + " " + res.statusText + (ra ? " · Retry-After: " + ra + "s" : "");
    $("status").className = "status " + (res.ok ? "ok" : "err");
    $("result").textContent = json ? JSON.stringify(json, null, 2) : text;
    if (res.status === 401) {
      $("result").textContent += "\n\nThe management key was refused: check the project and the key (otpd must be started with OTPD_MANAGEMENT_KEYS).";
    }
    return {ok: res.ok, status: res.status, body: json};
  }

  const contact = (addr, verified) => addr ? addr + (verified ? " ✓" : " (unverified)") : "";
  const when = (secs) => secs ? new Date(secs * 1000).toLocaleString() : "";

  async function search() {
    const req = {limit: 50, page: 0, withTestUser: true, testUsersOnly: $("testOnly").checked};
    const value = $("searchText").value.trim();
    if (value) req[$("searchBy").value] = [value];
    if ($("searchStatus").value) req.statuses = [$("searchStatus").value];
    const r = await call("POST", "/v2/mgmt/user/search", req);
    const tbody = $("results").tBodies[0];
    tbody.replaceChildren();
    if (!r.ok) { $("searchTotal").textContent = ""; return; }
    const users = r.body.users || [];
    $("searchTotal").textContent = (r.body.total || 0) + " user(s)" + (users.length < (r.body.total || 0) ? ", first " + users.length + " shown" : "");
    for (const u of users) {
      const open = el("button", {type: "button", class: "secondary", text: "Open", "data-user": u.userId});
      open.addEventListener("click", () => openUser(u.userId));
      tbody.append(el("tr", {"data-user": u.userId},
        el("td", {text: (u.loginIds || []).join(", ")}, u.test ? el("span", {class: "badge", text: "test"}) : null),
        el("td", {text: u.name || ""}),
        el("td", {text: contact(u.email, u.verifiedEmail)}),
        el("td", {text: contact(u.phone, u.verifiedPhone)}),
        el("td", {class: "st-" + u.status, text: u.status || ""}),
        el("td", {}, open)));
    }
  }

  async function openUser(userId) {
    const r = await call("GET", "/v1/mgmt/user?userId=" + encodeURIComponent(userId));
    if (!r.ok) return;
    showUser(r.body.user);
    const h = await call("POST", "/v1/mgmt/user/history", [userId]);
    const tbody = $("history").tBodies[0];
    tbody.replaceChildren();
    const entries = (h.ok && Array.isArray(h.body)) ? h.body : [];
    $("noHistory").hidden = entries.length > 0;
    for (const e of entries) {
      tbody.append(el("tr", {}, el("td", {text: when(e.loginTime)}), el("td", {text: e.channel || ""}),
        el("td", {text: e.ip || ""}), el("td", {text: e.userAgent || ""})));
    }
  }

  function showUser(u) {
    current = u;
    $("userCard").hidden = false;
    $("userTitle").textContent = (u.loginIds || [])[0] || u.userId;
    const dl = $("userFields");
    dl.replaceChildren();
    const row = (k, v) => { dl.append(el("dt", {text: k}), el("dd", {"data-field": k, text: v})); };
    row("User id", u.userId);
    row("Login ids", (u.loginIds || []).join(", "));
    row("Name", u.name || "");
    row("Email", contact(u.email, u.verifiedEmail));
    row("Phone", contact(u.phone, u.verifiedPhone));
    row("Status", u.status || "");
    row("Test user", u.test ? "yes" : "no");
    row("Created", when(u.createdTime));
    $("toggleStatus").textContent = u.status === "disabled" ? "Enable" : "Disable";
    $("genBox").hidden = !u.test;
    $("genCode").textContent = "";
  }

  const ref = () => ({loginId: (current.loginIds || [])[0] || "", userId: current.userId});

  $("toggleStatus").addEventListener("click", async () => {
    if (!current) return;
    const status = current.status === "disabled" ? "enabled" : "disabled";
    const r = await call("POST", "/v1/mgmt/user/update/status", {userId: current.userId, status});
    if (r.ok && r.body.user) showUser(r.body.user);
    search();
  });
  $("logoutUser").addEventListener("click", async () => {
    if (current) await call("POST", "/v1/mgmt/user/logout", {userId: current.userId});
  });
  $("deleteUser").addEventListener("click", async () => {
    if (!current || !window.confirm("Delete " + $("userTitle").textContent + "? This cannot be undone.")) return;
    const r = await call("POST", "/v1/mgmt/user/delete", {userId: current.userId});
    if (r.ok) {
      current = null;
      $("userCard").hidden = true;
      search();
    }
  });
  $("generate").addEventListener("click", async () => {
    if (!current) return;
    const r = await call("POST", "/v1/mgmt/tests/generate/otp", {loginId: ref().loginId, deliveryMethod: $("genMethod").value});
    $("genCode").textContent = r.ok ? r.body.code : "";
  });
  $("searchForm").addEventListener("submit", (ev) => { ev.preventDefault(); search(); });
  $("createForm").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const u = {loginId: $("newLoginId").value.trim()};
    for (const [k, id] of [["email", "newEmail"], ["phone", "newPhone"], ["displayName", "newName"]]) {
      const v = $(id).value.trim();
      if (v) u[k] = v;
    }
    const r = await call("POST", "/v1/mgmt/user/create/test", u);
    if (r.ok && r.body.user) {
      showUser(r.body.user);
      $("history").tBodies[0].replaceChildren();
      $("noHistory").hidden = false;
      search();
    }
  });
  if ($("mgmtKey").value) search();
})();
