// The playground: each tool calls its OpenAI-compatible endpoint. Replies are shown as text.
"use strict";

(() => {
  const form = document.getElementById("play");
  if (!form) return;
  const errorBox = document.getElementById("play-error");
  const output = document.getElementById("play-output");
  const history = [];

  function value(name) {
    return form.elements[name].value;
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }

  async function postJson(body) {
    return berth.call(form.dataset.endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  }

  // Read an OpenAI stream ("data: {...}" lines, then "data: [DONE]"), one delta at a time.
  async function streamChat(response, onDelta) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { done, value: chunk } = await reader.read();
      if (done) return;
      buffer += decoder.decode(chunk, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, end).trim();
        buffer = buffer.slice(end + 2);
        if (!frame.startsWith("data:")) continue;
        const payload = frame.slice(5).trim();
        if (payload === "[DONE]") return;
        const data = JSON.parse(payload);
        if (data.error) throw new Error(data.error.message);
        const delta = data.choices && data.choices[0] && data.choices[0].delta;
        if (delta && delta.content) onDelta(delta.content);
      }
    }
  }

  async function chat() {
    const log = document.getElementById("chat-log");
    const text = value("message");
    history.push({ role: "user", content: text });
    log.append(berth.el("li", text, { class: "user" }));
    const reply = berth.el("li", "", { class: "assistant", "aria-busy": "true" });
    log.append(reply);
    form.elements.message.value = "";
    const response = await postJson({ model: value("model"), messages: history, stream: true });
    await streamChat(response, (delta) => { reply.textContent += delta; });
    reply.setAttribute("aria-busy", "false");
    history.push({ role: "assistant", content: reply.textContent });
  }

  function cosine(a, b) {
    let dot = 0, na = 0, nb = 0;
    for (let i = 0; i < a.length; i += 1) {
      dot += a[i] * b[i];
      na += a[i] * a[i];
      nb += b[i] * b[i];
    }
    return dot / (Math.sqrt(na) * Math.sqrt(nb));
  }

  async function embed() {
    const response = await postJson({ model: value("model"), input: [value("a"), value("b")] });
    const body = await response.json();
    const [a, b] = body.data.map((item) => item.embedding);
    output.textContent = `Cosine similarity: ${cosine(a, b).toFixed(4)} (${a.length} dimensions)`;
  }

  async function image() {
    const body = await (await postJson({
      model: value("model"), prompt: value("prompt"), size: value("size"), response_format: "b64_json",
    })).json();
    const item = body.data[0];
    const picture = document.getElementById("play-image");
    picture.src = item.b64_json ? `data:image/png;base64,${item.b64_json}` : item.url;
    picture.hidden = false;
    output.textContent = item.revised_prompt || "";
  }

  async function speak() {
    const response = await postJson({ model: value("model"), input: value("input"), voice: value("voice"), response_format: "wav" });
    const audio = document.getElementById("play-audio");
    audio.src = URL.createObjectURL(await response.blob());
    audio.hidden = false;
    output.textContent = "";
  }

  async function upload() {
    const data = new FormData();
    data.append("file", form.elements.file.files[0]);
    data.append("model", value("model"));
    const body = await (await berth.call(form.dataset.endpoint, { method: "POST", body: data })).json();
    if (typeof body.text === "string") {
      output.textContent = body.text;
    } else if (Array.isArray(body.lines)) {
      output.textContent = body.lines.map((line) => line.text).join("\n");
    } else {
      output.textContent = JSON.stringify(body, null, 2);
    }
  }

  const tools = { chat, embed, image, speak, transcribe: upload, ocr: upload };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError("");
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await tools[form.dataset.tool]();
    } catch (error) {
      showError(error.message);
    } finally {
      button.disabled = false;
    }
  });
})();
