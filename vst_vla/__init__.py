"""vst-vla: Visual Spatial Tuning (Yang et al., 2025) for vision-language models and the robot policies built on them.

Importing the package sets ``MUJOCO_GL=egl`` unless the user chose a backend, so MuJoCo renders offscreen on a
headless machine (CPU through Mesa, or a GPU) without any set-up.
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])

__version__ = "0.1.0"
