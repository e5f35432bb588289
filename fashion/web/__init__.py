"""A local web page and JSON API over :class:`fashion.recommend.engine.Engine` (FastAPI + uvicorn).

``create_app(engine, config)`` builds the application; ``serve(checkpoint, catalog, config)``
opens the engine once and runs it on 127.0.0.1 (``python recommend.py --serve``).
"""

from typing import Any

__all__ = ["create_app", "serve"]


def __getattr__(name: str) -> Any:
    # Imported on first use: fashion.web.address (checked before anything slow) stays light.
    if name in __all__:
        from fashion.web import app

        return getattr(app, name)
    raise AttributeError(f"module 'fashion.web' has no attribute {name!r}")
