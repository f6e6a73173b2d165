"""The two OpenCV wheels the project installs share one `cv2` package: prove they agree.

`opencv-python` is the project's chosen OpenCV; rapidocr (plate reading) requires
`opencv-python-headless`. Both wheels unpack into the same `cv2/` folder, so whichever
was installed last wins file by file. Pinning both to one version (pyproject.toml)
makes the two sets of files identical; this test fails if a resolver ever installs
two different versions, or if the `cv2` that imports is not that version.
"""

from __future__ import annotations

import importlib.metadata

import cv2
import numpy as np


def test_both_opencv_wheels_are_the_same_version_as_the_cv2_that_imports():
    gui = importlib.metadata.version("opencv-python")
    headless = importlib.metadata.version("opencv-python-headless")
    assert gui == headless, (gui, headless)
    assert gui.startswith(cv2.__version__ + "."), (gui, cv2.__version__)


def test_the_cv2_that_imports_encodes_and_decodes():
    image = np.zeros((16, 16, 3), np.uint8)
    image[4:12, 4:12] = (0, 0, 255)
    ok, data = cv2.imencode(".png", image)
    assert ok and np.array_equal(cv2.imdecode(data, cv2.IMREAD_COLOR), image)
