"""Sample media bundled with the package, for the demo."""

from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parent
SAMPLE_IMAGES = ("grace_hopper.jpg", "messi5.jpg", "car_with_synth_plate.png")
SAMPLE_VIDEO = SAMPLES_DIR / "vtest.avi"
