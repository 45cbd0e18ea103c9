"""The VLA: a spatially tuned VLM plus an action head, trained on LeRobot demonstrations (VST section on VLA)."""
