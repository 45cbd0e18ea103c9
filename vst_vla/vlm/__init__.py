"""The vision-language backbone: Qwen2.5-VL built tiny from a config or loaded from a local directory."""
