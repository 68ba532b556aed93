"""More HTTP routes, one module per area (query API, deletes, …).

Each module exposes `register(app: fastapi.FastAPI) -> None`; `loglake.server.create_app`
calls it once the app's state holds `lake`, `settings`, `metrics` and `ingester`, which
handlers read from `request.app.state`.
"""
