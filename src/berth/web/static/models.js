// The models page: each pull in flight follows its job's event stream; the page reloads when
// one ends, to show the model's new state.
"use strict";

(() => {
  for (const box of document.querySelectorAll(".pull[data-job]")) {
    const bar = box.querySelector("progress");
    const percent = box.querySelector(".pull-percent");
    berth.follow(box.dataset.job, box.dataset.after, (type, event) => {
      if (type === "progress" && event.data.fraction != null) {
        bar.value = event.data.fraction;
        percent.textContent = `${Math.round(event.data.fraction * 100)}%`;
      }
      if (["succeeded", "failed", "cancelled"].includes(type)) {
        const note = type === "succeeded" ? "Pull finished." : `Pull ${type}: see the job.`;
        setTimeout(() => { window.location.assign(`/models?note=${encodeURIComponent(note)}`); }, 300);
      }
    });
  }
})();
