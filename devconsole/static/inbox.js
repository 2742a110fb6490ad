"use strict";
(async () => {
  const list = document.getElementById("inbox");
  let max = 200;
  try {
    const info = await (await fetch("/dev/api/info")).json();
    max = info.inboxSize;
    document.getElementById("limit").textContent = "The inbox keeps the last " + max + " messages in memory.";
  } catch (e) { /* the feed still works */ }
  watchInbox((m) => {
    document.getElementById("empty").hidden = true;
    list.prepend(messageCard(m));
    while (list.children.length > max) list.lastElementChild.remove();
  });
})();
