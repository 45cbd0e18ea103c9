"""Image ablations of QA samples: which images each sample gets, and the pixels the VLM's vision tower receives."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from vst_vla.sft.chat import DEFAULT_SYSTEM_PROMPT, decode_images
from vst_vla.sft.model import SpatialVLM
from vst_vla.spatial.ablation import GREY_LEVEL, ablate, blank_images, check_ablations, image_sizes, shuffle_donors
from vst_vla.spatial.image_gain import score_with_ablations
from vst_vla.spatial.schema import SpatialSample, Turn
from vst_vla.stages.sft import answer_held_out
from vst_vla.vlm.backbone import BackboneConfig


def png(seed: int, size: tuple[int, int] = (56, 56)) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def make(i: int, scene: int, n_images: int = 1, size: tuple[int, int] = (56, 56)) -> SpatialSample:
    """Sample ``i`` about scene ``scene``: its images are drawn from (scene, i), so two samples never share bytes."""
    question = "".join(f"Image {k + 1}: <image>\n" for k in range(n_images)) + "Which cube is closer?\nA. red\nB. blue"
    return SpatialSample(f"q{i}", "test", "single_image" if n_images == 1 else "multi_image",
                         tuple(png(1000 * scene + 10 * i + k, size) for k in range(n_images)),
                         (Turn("human", question), Turn("gpt", "A")),
                         {"answer_kind": "choice", "ground_truth": "A", "skill": "closer", "template": 0,
                          "scene": {"seed": scene}})


def test_blank_is_uniform_grey_of_the_same_size() -> None:
    sample = make(0, scene=0, n_images=2, size=(40, 24))
    blank = blank_images(sample)
    assert image_sizes(blank) == ((40, 24), (40, 24)) and blank.conversations == sample.conversations
    for image in decode_images(blank):
        assert (np.asarray(image) == GREY_LEVEL).all()


def test_shuffle_pairs_other_scenes_with_the_same_image_count_and_sizes() -> None:
    samples = [make(0, scene=0), make(1, scene=0), make(2, scene=1), make(3, scene=1),  # two scenes, 56 px
               make(4, scene=2, size=(40, 40)), make(5, scene=3, size=(40, 40)),  # two scenes, 40 px
               make(6, scene=4, size=(48, 48)), make(7, scene=5, size=(64, 64)),  # one scene each of 48 and 64 px
               make(8, scene=6, n_images=2), make(9, scene=7, n_images=2),  # the two-image questions
               make(10, scene=8, n_images=3)]  # the only three-image question
    donors = shuffle_donors(samples, seed=0)
    # Two scenes of one size can only swap; within the donor scene, a sample takes its same-position sample.
    assert donors[:8] == [2, 3, 0, 1, 5, 4, 7, 6]
    assert donors[8:] == [9, 8, None]
    assert shuffle_donors(samples, seed=0) == donors  # seeded

    shuffled = ablate(samples, "shuffle", seed=0)
    for sample, new, donor in zip(samples[:10], shuffled[:10], donors[:10], strict=True):
        assert new.images == samples[donor].images and new.question == sample.question
    assert all((np.asarray(im) == GREY_LEVEL).all() for im in decode_images(shuffled[10]))  # no donor: blanked


def test_shuffle_is_a_derangement_of_scenes() -> None:
    samples = [make(i, scene=i % 5) for i in range(15)]
    for seed in range(5):
        donors = shuffle_donors(samples, seed)
        scene = [s.meta_info["scene"]["seed"] for s in samples]
        assert all(d is not None and scene[d] != scene[i] for i, d in enumerate(donors))
        # Scenes map to scenes one-to-one (a permutation of the five scenes).
        assert len({(scene[i], scene[d]) for i, d in enumerate(donors)}) == 5
        assert sorted({scene[d] for d in donors}) == [0, 1, 2, 3, 4]


def test_unknown_ablation_names_are_refused() -> None:
    assert check_ablations(["shuffle", "blank"], "x") == ("shuffle", "blank")
    with pytest.raises(ValueError, match="eval.ablations"):
        check_ablations(["grey"], "eval.ablations")
    with pytest.raises(ValueError, match="string"):
        check_ablations("blank", "x")


def test_the_vision_tower_receives_grey_and_swapped_pixels() -> None:
    """Through the real evaluation path (processor → generate): capture the patches fed to the vision tower."""
    torch.manual_seed(0)
    vlm = SpatialVLM.build(BackboneConfig(image_max_tokens=16))
    samples = [make(i, scene=i) for i in range(3)]
    fed: list[torch.Tensor] = []
    visual = vlm.backbone.model.visual
    handle = visual.register_forward_pre_hook(
        lambda module, args, kwargs: fed.append((args[0] if args else kwargs["hidden_states"]).detach().clone()),
        with_kwargs=True)
    try:
        scored = score_with_ablations(lambda s: answer_held_out(vlm, s, DEFAULT_SYSTEM_PROMPT, 1, 8)[1], samples,
                                      ["blank", "shuffle"])
    finally:
        handle.remove()
    assert len(fed) == 3  # one prefill per condition (the three questions fit one batch)
    real, blank, shuffled = (t.reshape(len(samples), -1, t.shape[-1]) for t in fed)  # (question, patch, values)

    processor = vlm.processor.image_processor
    grey = (GREY_LEVEL / 255 - torch.tensor(processor.image_mean)) / torch.tensor(processor.image_std)
    channels = blank.reshape(len(samples), blank.shape[1], 3, -1)  # patch values are channel-major
    assert torch.allclose(channels, grey.view(1, 1, 3, 1).expand_as(channels), atol=1e-5)
    assert not torch.allclose(real, blank)

    donors = shuffle_donors(samples)
    assert sorted(donors) == [0, 1, 2] and all(d != i for i, d in enumerate(donors))
    assert torch.equal(shuffled, real[donors])
    assert set(scored) == {"after", "ablations", "image_gain"} and set(scored["ablations"]) == {"blank", "shuffle"}
