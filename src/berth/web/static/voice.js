// The voice page: a realtime session over a WebSocket (/v1/realtime), the microphone as
// pcm16 at 24 kHz, the assistant's audio played as it streams. The page's own session
// cookie authenticates the WebSocket (same origin).
"use strict";

(() => {
  const form = document.getElementById("voice");
  if (!form) return;
  const RATE = 24000;
  const log = document.getElementById("voice-log");
  const status = document.getElementById("voice-status");
  const errorBox = document.getElementById("voice-error");
  const connectButton = document.getElementById("voice-connect");
  const talkButton = document.getElementById("voice-talk");
  const sendButton = document.getElementById("voice-send");
  let socket = null;
  let audio = null;          // the AudioContext, at 24 kHz
  let microphone = null;     // its source node and processor
  let talking = false;       // push to talk: the button is held
  let playhead = 0;          // when the next audio chunk starts, in the context's clock
  let playing = [];          // sources scheduled, so a barge-in can stop them
  let replyStarted = 0;      // the context time the current reply's audio began
  let reply = null;          // the <li> of the assistant's reply being spoken
  let replyItem = null;
  let heardMs = 0;

  function setStatus(text, state) {
    status.textContent = text;
    status.dataset.state = state;
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }

  function mode() {
    return form.elements.mode.value;
  }

  function send(event) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(event));
  }

  function line(role, text) {
    const item = berth.el("li", text, { class: role });
    log.append(item);
    return item;
  }

  function toBase64(int16) {
    const bytes = new Uint8Array(int16.buffer);
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(binary);
  }

  function fromBase64(text) {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
    return new Int16Array(bytes.buffer);
  }

  function play(delta) {
    const samples = fromBase64(delta);
    const buffer = audio.createBuffer(1, samples.length, RATE);
    const channel = buffer.getChannelData(0);
    for (let i = 0; i < samples.length; i += 1) channel[i] = samples[i] / 32768;
    const source = audio.createBufferSource();
    source.buffer = buffer;
    source.connect(audio.destination);
    const now = audio.currentTime;
    if (playhead < now) playhead = now;
    if (!playing.length) replyStarted = playhead;
    source.start(playhead);
    playhead += buffer.duration;
    playing.push(source);
    source.onended = () => { playing = playing.filter((s) => s !== source); };
    heardMs += Math.round(buffer.duration * 1000);
    log.dataset.audioMs = String(heardMs);
  }

  function stopPlaying() {
    // barge-in: silence what is queued and tell the server how much was heard
    if (!playing.length) return;
    const heard = Math.max(0, Math.round((audio.currentTime - replyStarted) * 1000));
    playing.forEach((source) => source.stop());
    playing = [];
    playhead = audio.currentTime;
    if (replyItem) {
      send({ type: "conversation.item.truncate", item_id: replyItem, content_index: 0, audio_end_ms: heard });
    }
  }

  const handlers = {
    "session.created": () => setStatus("Connected. Speak, or type below.", "connected"),
    "input_audio_buffer.speech_started": () => {
      stopPlaying();
      setStatus("Listening...", "listening");
    },
    "input_audio_buffer.speech_stopped": () => setStatus("Thinking...", "thinking"),
    "conversation.item.input_audio_transcription.completed": (event) => {
      line("user", event.transcript || "(nothing heard)");
    },
    "response.created": () => { reply = null; },
    "response.output_item.added": (event) => {
      replyItem = event.item.id;
      reply = line("assistant", "");
      reply.setAttribute("aria-busy", "true");
    },
    "response.output_audio_transcript.delta": (event) => { if (reply) reply.textContent += event.delta; },
    "response.output_text.delta": (event) => { if (reply) reply.textContent += event.delta; },
    "response.output_audio.delta": (event) => play(event.delta),
    "response.done": (event) => {
      if (reply) {
        reply.setAttribute("aria-busy", "false");
        reply.dataset.status = event.response.status;
      }
      setStatus(event.response.status === "cancelled" ? "Interrupted." : "Your turn.", "ready");
    },
    error: (event) => showError(event.error.message),
  };

  async function startMicrophone() {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1 } });
    const source = audio.createMediaStreamSource(stream);
    const processor = audio.createScriptProcessor(2048, 1, 1);
    processor.onaudioprocess = (event) => {
      if (mode() === "push" && !talking) return;
      const input = event.inputBuffer.getChannelData(0);
      const pcm = new Int16Array(input.length);
      for (let i = 0; i < input.length; i += 1) {
        pcm[i] = Math.max(-32768, Math.min(32767, Math.round(input[i] * 32767)));
      }
      send({ type: "input_audio_buffer.append", audio: toBase64(pcm) });
    };
    source.connect(processor);
    processor.connect(audio.destination);
    microphone = { stream, source, processor };
  }

  function configure() {
    const turns = mode() === "push" ? null : { type: "server_vad", silence_duration_ms: 600 };
    send({ type: "session.update", session: { type: "realtime", audio: { input: { turn_detection: turns } } } });
  }

  async function connect() {
    showError("");
    audio = new AudioContext({ sampleRate: RATE });
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const model = encodeURIComponent(form.elements.model.value);
    socket = new WebSocket(`${scheme}://${location.host}/v1/realtime?model=${model}`);
    socket.onmessage = (message) => {
      const event = JSON.parse(message.data);
      const handler = handlers[event.type];
      if (handler) handler(event);
    };
    socket.onclose = () => {
      setStatus("Not connected.", "idle");
      connectButton.textContent = "Start";
      talkButton.disabled = true;
      sendButton.disabled = true;
      if (microphone) microphone.stream.getTracks().forEach((track) => track.stop());
      microphone = null;
      socket = null;
    };
    socket.onerror = () => showError("The realtime connection failed: see the server's log.");
    await new Promise((resolve, reject) => {
      socket.addEventListener("open", resolve, { once: true });
      socket.addEventListener("close", () => reject(new Error("The server refused the session.")), { once: true });
    });
    configure();
    connectButton.textContent = "Stop";
    sendButton.disabled = false;
    talkButton.disabled = mode() !== "push";
    try {
      await startMicrophone();
    } catch (error) {
      showError(`No microphone (${error.message}): type instead.`);
    }
  }

  connectButton.addEventListener("click", async () => {
    if (socket) {
      socket.close();
      return;
    }
    try {
      await connect();
    } catch (error) {
      showError(error.message);
    }
  });

  form.addEventListener("change", (event) => {
    if (event.target.name !== "mode" || !socket) return;
    configure();
    talkButton.disabled = mode() !== "push";
  });

  function press(down) {
    if (mode() !== "push" || !socket) return;
    talking = down;
    talkButton.setAttribute("aria-pressed", String(down));
    if (down) {
      stopPlaying();
      send({ type: "input_audio_buffer.clear" });
      setStatus("Listening...", "listening");
    } else {
      send({ type: "input_audio_buffer.commit" });
      send({ type: "response.create" });
      setStatus("Thinking...", "thinking");
    }
  }
  talkButton.addEventListener("pointerdown", () => press(true));
  talkButton.addEventListener("pointerup", () => press(false));
  talkButton.addEventListener("keydown", (event) => { if (event.key === " " && !event.repeat) press(true); });
  talkButton.addEventListener("keyup", (event) => { if (event.key === " ") press(false); });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = form.elements.text.value.trim();
    if (!text || !socket) return;
    stopPlaying();
    line("user", text);
    send({ type: "conversation.item.create", item: { type: "message", role: "user", content: [{ type: "input_text", text }] } });
    send({ type: "response.create" });
    form.elements.text.value = "";
  });
})();
