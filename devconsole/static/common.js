// Shared helpers of the development console. Every value from the server
// (addresses, subjects, bodies, error texts) is attacker-controllable, so
// it is only ever inserted with textContent, never as HTML.
"use strict";

// el builds an element; string children become text nodes.
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c == null) continue;
    e.append(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return e;
}

function fmtTime(s) {
  const d = new Date(s);
  return isNaN(d) ? String(s) : d.toLocaleTimeString();
}

// messageCard renders one inbox message. onCode, when given, is called
// with the message when its code is clicked.
function messageCard(m, onCode) {
  const codeBtn = el("button", {class: "code", type: "button", title: "use this code", "data-code": m.code, text: m.code});
  codeBtn.addEventListener("click", () => {
    if (onCode) onCode(m);
    else if (navigator.clipboard) navigator.clipboard.writeText(m.code).catch(() => {});
  });
  const head = el("div", {class: "head"},
    el("span", {class: "badge " + m.channel, text: m.channel}),
    el("span", {class: "to", text: m.to}),
    el("span", {class: "meta", text: (m.locale || "") + " · " + fmtTime(m.time) + " · attempt " + m.attempt}),
    codeBtn);
  const card = el("article", {class: "msg", "data-id": String(m.id), "data-channel": m.channel}, head);
  if (m.channel === "email") {
    card.append(el("div", {class: "subject", text: m.subject || "(no subject)"}));
    if (m.hasHtml) {
      // sandbox="" : no scripts, no same-origin, no forms, no popups; the
      // response also carries a CSP sandbox.
      card.append(el("iframe", {class: "html", sandbox: "", referrerpolicy: "no-referrer",
        src: "/dev/api/html?id=" + encodeURIComponent(m.id), title: "HTML part"}));
    }
    card.append(el("details", {}, el("summary", {text: "Text part"}), el("pre", {class: "text", text: m.text})));
  } else if (m.channel === "voice") {
    card.append(el("div", {class: "label", text: "Voice script"}), el("pre", {class: "text", text: m.text}));
  } else {
    card.append(el("pre", {class: "text", text: m.text}),
      el("div", {class: "segments", text: m.segments + " SMS segment" + (m.segments === 1 ? "" : "s") + " · " + m.encoding + " · " + m.text.length + " characters"}));
  }
  if (m.truncated) card.append(el("div", {class: "warn", text: "Parts were cut at the inbox's size limit."}));
  return card;
}

// watchInbox calls onMessage with each message (oldest first), live.
function watchInbox(onMessage) {
  const es = new EventSource("/dev/api/events");
  es.onmessage = (ev) => {
    try { onMessage(JSON.parse(ev.data)); } catch (e) { console.error(e); }
  };
  return es;
}
