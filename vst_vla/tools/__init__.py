"""Developer tools that exercise the project's commands from outside (``python -m vst_vla.tools.<name>``)."""
