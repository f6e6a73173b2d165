"""The library's Image API: `analyze_image` for one picture, `analyze_images` for a batch.

>>> from vigil import analyze_image
>>> result = analyze_image("photo.jpg", AnalyzeOptions(types={"face"}, features=True))

The public entry point for Python users; the engine is `vigil.analysis.pictures`, which
the rest of the package imports directly (lower layers never import this module).
"""

from vigil.analysis.pictures import (
    ImageSource,
    analyze_image,
    analyze_images,
    default_analyzer,
    source_label,
)

__all__ = ["ImageSource", "analyze_image", "analyze_images", "default_analyzer", "source_label"]
