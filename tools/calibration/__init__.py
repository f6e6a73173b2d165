"""Face-threshold calibration: writes models/weights/face_resnet128.thresholds.json.

Run by hand from the repository root, `python -m tools.calibration --out ...` (see
`__main__`). Not installed: the product only reads the thresholds file it writes.
    augment  degraded views of a face portrait
    data     the faces measured (photos, video frames, scikit-image faces) and their views
    stats    genuine and impostor distances, thresholds at stated FARs
    report   the thresholds file and the model card's Thresholds section
    plot     the histogram PNG
"""
