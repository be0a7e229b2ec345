"""The HTTP layer the API and the web UI both stand on: the services a request reaches
(:mod:`runtime`), who is calling (:mod:`auth`, :mod:`session`), errors as responses
(:mod:`problems`), and the middleware (:mod:`limits`, :mod:`observe`)."""
