"""The web UI: server-rendered pages over the same Hub as the API."""
