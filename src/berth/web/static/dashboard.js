// The dashboard: queue figures and failures refresh every two seconds; devices too, whole.
"use strict";

(() => {
  const devices = document.getElementById("devices");
  const failures = document.getElementById("failures");

  function deviceCard(device, index) {
    const box = berth.el("div", "", { class: "device" });
    const id = `mem-live-${index}`;
    const label = berth.el("label", `Memory: ${berth.size(device.held)} of ${berth.size(device.budget)}`, { for: id });
    const bar = berth.el("progress", "", { id, max: String(device.budget || 1), value: String(device.held) });
    const table = document.createElement("table");
    const head = document.createElement("tr");
    for (const name of ["Model", "Memory", "Idle", "Pinned"]) head.append(berth.el("th", name, { scope: "col" }));
    const thead = document.createElement("thead");
    thead.append(head);
    const body = document.createElement("tbody");
    for (const m of device.models) {
      const tr = document.createElement("tr");
      const idle = m.idle_seconds == null ? "—" : `${m.idle_seconds.toFixed(1)} s`;
      const name = berth.el("td", m.alias);
      if (m.adapters && m.adapters.length) name.append(berth.el("p", `adapters: ${m.adapters.join(", ")}`, { class: "help" }));
      tr.append(name, berth.el("td", berth.size(m.memory_bytes)),
        berth.el("td", idle), berth.el("td", m.pinned ? "yes" : "no"));
      body.append(tr);
    }
    table.append(thead, body);
    box.append(berth.el("h3", device.device), label, bar, table);
    return box;
  }

  function failureRow(f) {
    const tr = document.createElement("tr");
    const cell = document.createElement("td");
    cell.append(berth.el("a", f.id, { href: `/jobs/${encodeURIComponent(f.id)}` }));
    tr.append(cell, berth.el("td", f.kind), berth.el("td", f.model || "—"),
      berth.el("td", berth.when(f.finished_at)), berth.el("td", f.error || ""));
    return tr;
  }

  berth.every(2000, async () => {
    const data = await berth.json("/ui/api/dashboard");
    for (const [status, count] of Object.entries(data.queue)) {
      const cell = document.querySelector(`dd[data-status="${status}"]`);
      if (cell) cell.textContent = String(count);
    }
    document.getElementById("rate").textContent = String(data.jobs_per_minute);
    if (data.devices.length) devices.replaceChildren(...data.devices.map(deviceCard));
    if (data.failures.length) failures.replaceChildren(...data.failures.map(failureRow));
  });
})();
