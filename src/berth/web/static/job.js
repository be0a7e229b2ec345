// The job page: progress bar and event log follow the job's event stream; when the job ends
// the page reloads to show its result, error and artifacts.
"use strict";

(() => {
  const root = document.getElementById("job");
  if (!root || root.dataset.terminal === "yes") return;
  const bar = document.getElementById("job-progress");
  const percent = document.getElementById("job-percent");
  const message = document.getElementById("job-message");
  const status = document.getElementById("job-status");
  const log = document.getElementById("job-events");
  const ends = { succeeded: "succeeded", failed: "failed", cancelled: "cancelled" };

  berth.follow(root.dataset.id, root.dataset.after, (type, event) => {
    const details = Object.keys(event.data).length ? ` · ${JSON.stringify(event.data)}` : "";
    log.append(berth.el("li", `${berth.when(event.at)} · ${type}${details}`));
    if (type === "started") status.textContent = "running";
    if (type === "progress" && event.data.fraction != null) {
      bar.value = event.data.fraction;
      percent.textContent = `${Math.round(event.data.fraction * 100)}%`;
    }
    if (type === "progress" && event.data.message) message.textContent = event.data.message;
    if (type === "cancel_requested") status.textContent = "cancelling";
    if (type in ends) {
      status.textContent = ends[type];
      status.className = `status status-${type}`;
      if (type === "succeeded") {
        bar.value = 1;
        percent.textContent = "100%";
      }
      setTimeout(() => window.location.reload(), 300);
    }
  });
})();
