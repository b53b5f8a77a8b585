"""The web app: server-rendered pages (Jinja2, htmx, Pico CSS) and, later, the JSON API."""
