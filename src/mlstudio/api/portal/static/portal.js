// mlstudio portal: live run state (polling) and the log view. No library, no build.
"use strict";

function setState(el, state) {
  el.className = el.className.replace(/\bst-[a-z]+\b/g, "").trim() + " st-" + state;
}

function pollRun(root) {
  const url = root.dataset.poll;
  const tick = async () => {
    let data;
    try {
      const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
      if (!response.ok) return setTimeout(tick, 3000);
      data = await response.json();
    } catch (_error) {
      return setTimeout(tick, 3000);
    }
    const badge = document.getElementById("run-state");
    badge.textContent = data.state;
    setState(badge, data.state);
    for (const row of document.querySelectorAll("[data-task]")) {
      const state = data.tasks[row.dataset.task];
      const cell = row.querySelector("[data-task-state]");
      if (state && cell) { cell.textContent = state; setState(cell, state); }
    }
    for (const node of document.querySelectorAll("[data-node]")) {
      const info = data.nodes[node.dataset.node];
      if (info) setState(node, info.state);
    }
    for (const bar of document.querySelectorAll("[data-bar]")) {
      const state = data.tasks[bar.dataset.bar];
      if (state) setState(bar, state);
    }
    if (data.active) setTimeout(tick, 1000);
    else for (const el of document.querySelectorAll(".when-active")) el.remove();
  };
  setTimeout(tick, 1000);
}

function logView(view) {
  const pre = document.getElementById("log");
  const earlier = document.getElementById("load-earlier");
  let start = Number(view.dataset.start);
  let total = Number(view.dataset.total);
  const show = () => {
    document.getElementById("log-from").textContent = total ? start + 1 : 0;
    document.getElementById("log-to").textContent = total;
    document.getElementById("log-total").textContent = total;
    earlier.hidden = start === 0;
  };
  earlier.addEventListener("click", async () => {
    const response = await fetch(view.dataset.logUrl + "&before=" + start, { credentials: "same-origin" });
    const data = await response.json();
    if (data.text) pre.textContent = data.text + "\n" + pre.textContent;
    start = data.start;
    show();
  });
  const root = document.getElementById("run");
  if (!root.dataset.poll) return;
  const follow = async () => {
    const response = await fetch(view.dataset.logUrl + "&after=" + total, { credentials: "same-origin" });
    if (response.ok) {
      const data = await response.json();
      if (data.text) pre.textContent += (pre.textContent ? "\n" : "") + data.text;
      total = data.end;
      show();
    }
    if (document.getElementById("run-state").textContent.match(/queued|running|cancelling/)) {
      setTimeout(follow, 1000);
    }
  };
  setTimeout(follow, 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("run");
  if (root && root.dataset.poll) pollRun(root);
  const view = document.getElementById("log-view");
  if (view) logView(view);
});
