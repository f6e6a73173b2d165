"""Developer tools, run from the repository root; not part of the installed `vigil` package.

    python -m tools.calibration --help      # face-threshold calibration
    python tools/convert/verify.py --help   # ONNX conversions (tools/convert/README.md)
    python -m tools.unused_modules          # installed modules the product never uses
"""
