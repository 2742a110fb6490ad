"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const state = {sessionJwt: "", refreshJwt: ""};
  const placeholders = {email: "you@example.com", sms: "+14155550123", voice: "+14155550123", whatsapp: "+14155550123"};

  fetch("/dev/api/info").then((r) => r.json()).then((info) => {
    for (const p of info.projects) $("project").append(el("option", {value: p, text: p}));
  });
  $("channel").addEventListener("change", () => { $("loginId").placeholder = placeholders[$("channel").value]; });

  // decode reads a JWT's claims (no verification: display only).
  function decode(jwt) {
    try {
      const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const json = decodeURIComponent(Array.from(atob(part), (c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join(""));
      const claims = JSON.parse(json);
      for (const k of ["exp", "iat", "nbf"]) {
        if (typeof claims[k] === "number") claims[k] = claims[k] + " (" + new Date(claims[k] * 1000).toISOString() + ")";
      }
      return JSON.stringify(claims, null, 2);
    } catch (e) {
      return "(not a JWT)";
    }
  }

  function showTokens(body) {
    if (body.sessionJwt) state.sessionJwt = body.sessionJwt;
    if (body.refreshJwt) state.refreshJwt = body.refreshJwt;
    $("sessionClaims").textContent = state.sessionJwt ? decode(state.sessionJwt) : "(none: cookie mode or logged out)";
    $("refreshClaims").textContent = state.refreshJwt ? decode(state.refreshJwt) : "(none: cookie mode or logged out)";
    for (const id of ["me", "refresh", "logout"]) $(id).disabled = !state.refreshJwt;
  }

  // call makes one REST call and shows the response, errors in Descope's
  // shape with the Retry-After header when there is one.
  async function call(method, path, body, withRefresh) {
    const auth = "Bearer " + $("project").value + (withRefresh && state.refreshJwt ? ":" + state.refreshJwt : "");
    const init = {method, headers: {Authorization: auth}, credentials: "same-origin"};
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
    try { json = JSON.parse(text); } catch (e) { /* show the text */ }
    const ra = res.headers.get("Retry-After");
    $("status").textContent = method + " " + path + " → " + res.status + " " + res.statusText + (ra ? " · Retry-After: " + ra + "s" : "");
    $("status").className = "status " + (res.ok ? "ok" : "err");
    $("result").textContent = json ? JSON.stringify(json, null, 2) : text;
    return {ok: res.ok, status: res.status, body: json || {}};
  }

  $("startForm").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const ch = $("channel").value, op = $("op").value, loginId = $("loginId").value.trim();
    const body = {loginId};
    if (op === "signup") body.user = ch === "email" ? {email: loginId} : {phone: loginId};
    await call("POST", "/v1/auth/otp/" + op + "/" + ch, body);
    $("code").focus();
  });
  $("verifyForm").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const r = await call("POST", "/v1/auth/otp/verify/" + $("channel").value, {loginId: $("loginId").value.trim(), code: $("code").value.trim()});
    if (r.ok) showTokens(r.body);
  });
  $("me").addEventListener("click", () => call("GET", "/v1/auth/me", undefined, true));
  $("refresh").addEventListener("click", async () => {
    const r = await call("POST", "/v1/auth/refresh", {}, true);
    if (r.ok) showTokens(r.body);
  });
  $("logout").addEventListener("click", async () => {
    const r = await call("POST", "/v1/auth/logout", {}, true);
    if (r.ok) { state.sessionJwt = state.refreshJwt = ""; showTokens({}); }
  });

  const list = $("inbox");
  watchInbox((m) => {
    list.prepend(messageCard(m, (msg) => { $("code").value = msg.code; $("code").focus(); }));
    while (list.children.length > 20) list.lastElementChild.remove();
  });
})();
