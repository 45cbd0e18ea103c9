"""Action heads: how a VLA turns the backbone's state into actions (registered in ``vla.configuration.HEADS``)."""
