"""A local web page and JSON API over :class:`fashion.recommend.engine.Engine` (FastAPI + uvicorn).

``create_app(engine, config)`` builds the application; ``serve(checkpoint, catalog, config)``
opens the engine once and runs it on 127.0.0.1 (``python recommend.py --serve``).
"""

from fashion.web.app import create_app, serve

__all__ = ["create_app", "serve"]
