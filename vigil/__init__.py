"""Vigil: event-driven video analytics core for faces, persons and vehicles."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "analyze_image", "analyze_images"]


def __getattr__(name: str):
    # Lazy: `import vigil` stays cheap for CLI help and Celery imports.
    if name in ("analyze_image", "analyze_images"):
        from vigil import api

        return getattr(api, name)
    raise AttributeError(name)
