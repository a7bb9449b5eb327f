// Hubwire dashboard: the parts of a page that follow a Server-Sent Events stream (hubwire/dashboard/live.py).
// <div data-live="/url">: "swap" events carry elements that replace those with the same id; "prepend"
// events carry a <tbody id=...> whose rows go on top of that tbody (keeping data-live-keep rows);
// "end" closes the stream. The page works without this script: it shows the state it was loaded in.
"use strict";

function parse(html) {
  const template = document.createElement("template");
  template.innerHTML = html;
  return template.content;
}

function follow(container) {
  const source = new EventSource(container.dataset.live);
  source.addEventListener("swap", (message) => {
    for (const fresh of Array.from(parse(message.data).children)) {
      const old = fresh.id && document.getElementById(fresh.id);
      if (old) old.replaceWith(fresh);
    }
  });
  source.addEventListener("prepend", (message) => {
    for (const fresh of Array.from(parse(message.data).children)) {
      const target = fresh.id && document.getElementById(fresh.id);
      if (!target) continue;
      for (const empty of target.querySelectorAll(".empty")) empty.remove();
      target.prepend(...Array.from(fresh.children));
      const keep = Number(target.dataset.liveKeep || 0);
      while (keep && target.children.length > keep) target.lastElementChild.remove();
    }
  });
  source.addEventListener("end", () => {
    source.close();
    container.dataset.liveEnded = "true";
  });
}

document.addEventListener("DOMContentLoaded", () => {
  if (!("EventSource" in window)) return;
  for (const container of document.querySelectorAll("[data-live]")) follow(container);
});
