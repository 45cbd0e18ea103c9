"""Spatial perception: 3D boxes, spatial QA generation, answer formats and metrics (VST-P, Yang et al. 2025)."""
