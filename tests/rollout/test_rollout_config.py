"""eval.num_workers and the image ablations: parsed from the eval preset, validated, with their defaults."""


import pytest
from omegaconf import OmegaConf

from vst_vla.config.parse import ConfigError, dataclass_from_dict
from vst_vla.config.schema import RolloutConfig
from vst_vla.config.store import compose
from vst_vla.eval import EvalCommandConfig


def _eval_config(overrides: list[str]) -> EvalCommandConfig:
    cfg = OmegaConf.to_container(compose("eval", overrides), resolve=True)
    cfg.pop("hydra", None)
    return dataclass_from_dict(EvalCommandConfig, cfg)


def test_num_workers_defaults_to_one_and_parses() -> None:
    assert RolloutConfig().num_workers == 1
    assert _eval_config(["policy_path=/ckpt"]).eval.num_workers == 1
    assert _eval_config(["policy_path=/ckpt", "eval.num_workers=4"]).eval.num_workers == 4


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_bad_num_workers_is_refused(bad) -> None:
    with pytest.raises(ValueError, match="num_workers must be an integer >= 1"):
        RolloutConfig(num_workers=bad)
    with pytest.raises(ConfigError, match="num_workers"):
        dataclass_from_dict(RolloutConfig, {"num_workers": bad})


def test_image_ablation_parses_and_unknown_names_are_refused() -> None:
    assert RolloutConfig().image_ablation == "none" and RolloutConfig().ablations == ()
    assert _eval_config(["policy_path=/ckpt", "eval.image_ablation=shuffle"]).eval.image_ablation == "shuffle"
    with pytest.raises(ValueError, match="eval.image_ablation must be one of"):
        RolloutConfig(image_ablation="grey")
    with pytest.raises(ValueError, match="eval.ablations"):
        RolloutConfig(ablations=("blank", "none"))
    with pytest.raises(ValueError, match="repeats"):
        RolloutConfig(image_ablation="blank", ablations=("blank",))
    # The list is the training stage's; the eval command runs one ablation per call.
    with pytest.raises(ConfigError, match="eval.ablations belongs to the training stage"):
        _eval_config(["policy_path=/ckpt", "+eval.ablations=[blank]"])
