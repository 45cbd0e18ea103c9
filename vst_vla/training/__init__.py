"""The one training loop shared by every stage, policy and head."""
