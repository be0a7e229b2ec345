"""Realtime sessions: OpenAI's Realtime event protocol over a WebSocket, on the pool's models.

``codecs`` turns the wire's audio (pcm16 at 24 kHz, G.711 at 8 kHz) into the 16 kHz samples
the speech models read and back; ``config`` is a session's settings and how an update changes
them; ``turns`` finds where the user starts and stops speaking (server VAD); ``session`` runs
one conversation: its items, its audio buffer and its responses (speech to text, the chat
model, text to speech sentence by sentence, barge-in); ``retrieval`` is the port through
which a response retrieves (file search, conversation memory) and remembers. The WebSocket
itself is in ``api/routers/realtime.py`` and the rules (keys, models) in
``services/realtime.py``.
"""
