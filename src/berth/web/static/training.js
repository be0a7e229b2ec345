// The training page: "Serve this one" asks the API to serve a checkpoint as a model, then
// links to the playground with it.
"use strict";

(() => {
  for (const button of document.querySelectorAll("button.serve-checkpoint")) {
    const note = button.parentElement.querySelector(".serve-note");
    button.addEventListener("click", async () => {
      button.disabled = true;
      note.textContent = "Serving…";
      const job = encodeURIComponent(button.dataset.job);
      const checkpoint = encodeURIComponent(button.dataset.checkpoint);
      try {
        const served = await berth.json(
          `/v1/fine_tuning/jobs/${job}/checkpoints/${checkpoint}/serve`, { method: "POST" });
        const name = served.fine_tuned_model_checkpoint;
        note.replaceChildren(berth.el("span", "Served as "),
          berth.el("a", name, { href: "/playground/chat" }));
      } catch (error) {
        note.textContent = `Not served: ${error.message}`;
      } finally {
        button.disabled = false;
      }
    });
  }
})();
