// The jobs list: the first page refreshes from the API every two seconds.
"use strict";

(() => {
  const rows = document.getElementById("job-rows");
  if (!rows || !rows.dataset.live) return;

  function row(job) {
    const tr = document.createElement("tr");
    const link = berth.el("a", job.id, { href: `/jobs/${encodeURIComponent(job.id)}` });
    const first = document.createElement("td");
    first.append(link);
    const status = berth.el("span", job.status, { class: `status status-${job.status}` });
    const statusCell = document.createElement("td");
    statusCell.append(status);
    const progress = job.progress == null ? "—" : `${Math.round(job.progress * 100)}%`;
    tr.append(first, berth.el("td", job.kind), berth.el("td", job.model || "—"), statusCell,
      berth.el("td", progress), berth.el("td", berth.when(job.created_at)));
    return tr;
  }

  berth.every(2000, async () => {
    const page = await berth.json(rows.dataset.live);
    if (!page.data.length) return;
    rows.replaceChildren(...page.data.map(row));
  });
})();
