"""Reinforcement-learning stage of VST (VST-R): rule-checkable rewards and GRPO with DAPO's tricks."""
