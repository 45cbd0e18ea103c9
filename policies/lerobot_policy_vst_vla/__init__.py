"""LeRobot policy plugin for vst-vla (type "vst_vla"): a thin adapter over vst_vla.vla."""
