"""Training stages (``stage=...`` on the train command line); each turns a TrainConfig into artifacts."""
