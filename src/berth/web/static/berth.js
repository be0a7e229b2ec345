// Shared helpers for Berth's pages. Everything a server or a person wrote goes into the page
// with textContent, never as HTML.
"use strict";

const berth = {
  csrf() {
    return document.querySelector('meta[name="csrf-token"]').content;
  },

  // fetch on this site, with the session's CSRF token; errors become Error(message).
  async call(path, options = {}) {
    const headers = new Headers(options.headers || {});
    headers.set("X-CSRF-Token", berth.csrf());
    const response = await fetch(path, { ...options, headers, credentials: "same-origin" });
    if (!response.ok) {
      let message = `${response.status} ${response.statusText}`;
      try {
        const body = await response.json();
        if (body.error && body.error.message) message = body.error.message;
      } catch (ignored) { /* not JSON: keep the status line */ }
      throw new Error(message);
    }
    return response;
  },

  async json(path, options = {}) {
    return (await berth.call(path, options)).json();
  },

  // A new element with text (and attributes), safe for any text.
  el(tag, text = "", attrs = {}) {
    const node = document.createElement(tag);
    node.textContent = text;
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    return node;
  },

  when(seconds) {
    if (seconds == null) return "—";
    return new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  },

  size(bytes) {
    if (bytes == null) return "—";
    const units = ["B", "kB", "MB", "GB", "TB"];
    let amount = bytes;
    let unit = 0;
    while (Math.abs(amount) >= 1000 && unit < units.length - 1) {
      amount /= 1000;
      unit += 1;
    }
    return unit === 0 ? `${amount} B` : `${amount.toFixed(1)} ${units[unit]}`;
  },

  // Follow a job's event stream (the API's SSE) from event `after`; onEvent(type, data).
  follow(jobId, after, onEvent) {
    const source = new EventSource(`/v1/jobs/${encodeURIComponent(jobId)}/events?after=${after}`);
    const types = ["queued", "started", "progress", "artifact", "retrying", "requeued",
      "cancel_requested", "succeeded", "failed", "cancelled"];
    for (const type of types) {
      source.addEventListener(type, (message) => {
        const data = JSON.parse(message.data);
        onEvent(type, data);
        if (["succeeded", "failed", "cancelled"].includes(type)) source.close();
      });
    }
    return source;
  },

  // Call `task` now and every `ms` milliseconds while the page is visible.
  every(ms, task) {
    const tick = async () => {
      if (!document.hidden) {
        try { await task(); } catch (error) { console.warn(error); }
      }
      setTimeout(tick, ms);
    };
    setTimeout(tick, ms);
  },
};
