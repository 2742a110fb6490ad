"use strict";
(async () => {
  const list = document.getElementById("inbox");
  let max = 200;
  try {
    const info = await (await fetch("/dev/api/info")).json();
    max = info.inboxSize;
    document.getElementById("limit").textContent = "The inbox keeps the last " + max + " messages in memory.";
  } catch (e) { /* the feed still works */ }
  // Blocked sends and delivery statuses, when there are any (polled).
  const fill = (id, rows) => {
    const tbody = document.getElementById(id).tBodies[0];
    tbody.replaceChildren(...rows);
    document.getElementById(id + "Card").hidden = rows.length === 0;
  };
  async function activity() {
    try {
      const a = await (await fetch("/dev/api/activity")).json();
      fill("blocked", a.blocked.map((b) => el("tr", {"data-login": b.loginId},
        el("td", {text: fmtTime(b.time)}), el("td", {}, el("span", {class: "badge " + b.channel, text: b.channel})),
        el("td", {text: b.method}), el("td", {text: b.loginId}),
        el("td", {text: (b.errorCode || b.grpcCode) + (b.retryAfter ? " · retry after " + b.retryAfter + "s" : "")}),
        el("td", {text: b.message}))));
      fill("deliveries", a.deliveries.map((d) => el("tr", {"data-job": d.jobId},
        el("td", {text: fmtTime(d.time)}), el("td", {}, el("span", {class: "badge " + d.channel, text: d.channel})),
        el("td", {text: d.to}), el("td", {text: String(d.attempt)}),
        el("td", {class: "outcome-" + (d.status || d.outcome), text: d.status ? d.status + " (" + d.provider + ")" : d.outcome}),
        el("td", {text: d.status ? (d.errorCode ? "error code " + d.errorCode : "") : (d.error || "")}))));
    } catch (e) { /* try again at the next tick */ }
  }
  activity();
  setInterval(activity, 2000);
  watchInbox((m) => {
    document.getElementById("empty").hidden = true;
    list.prepend(messageCard(m));
    while (list.children.length > max) list.lastElementChild.remove();
  });
})();
