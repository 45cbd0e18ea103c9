"""Image ablations of spatial QA samples: the same questions with blank images or with another scene's images.

A per-skill score says how often a model is right, not whether it looked. Scoring the same questions again with
the images taken away tells the two apart (the "blind" controls of VSI-Bench and of Cambrian's vision-centric
analysis): a skill the model answers as well without its images is answered from the text.

- ``blank``: every image becomes a uniform mid-grey image (RGB 128, 128, 128) of the same size, so the prompt,
  the number of vision tokens and the image positions stay exactly as they were; only the content is gone.
- ``shuffle``: every sample gets the images of a sample about *another scene* with the same number of images (so
  the prompt's placeholders still match, and a multi-view or video question still gets a coherent set of views
  of one scene). The pairing is a seeded derangement of the scenes, see :func:`shuffle_donors`.

These rewrite :class:`~vst_vla.spatial.schema.SpatialSample` s only; whatever answers them (the SFT / RL stages,
``python -m vst_vla.spatial.evaluate``) feeds the ablated images through its usual processor.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import logging
from collections import defaultdict
from collections.abc import Hashable, Sequence

import numpy as np
from PIL import Image

from vst_vla.spatial.schema import SpatialSample

logger = logging.getLogger(__name__)

BLANK = "blank"
SHUFFLE = "shuffle"
IMAGE_ABLATIONS = (BLANK, SHUFFLE)
GREY_LEVEL = 128
SHUFFLE_SEED = 0

ImageSizes = tuple[tuple[int, int], ...]


def image_sizes(sample: SpatialSample) -> ImageSizes:
    """``(width, height)`` of each of the sample's images (read from the headers, nothing is decoded)."""
    return tuple(Image.open(io.BytesIO(b)).size for b in sample.images)


@functools.lru_cache(maxsize=64)
def grey_png(size: tuple[int, int]) -> bytes:
    """A uniform mid-grey RGB PNG of ``size`` = (width, height); PNG is lossless, so every pixel decodes to 128."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (GREY_LEVEL,) * 3).save(buffer, format="PNG")
    return buffer.getvalue()


def blank_images(sample: SpatialSample) -> SpatialSample:
    """The sample with each image replaced by a mid-grey image of the same size (text and meta_info unchanged)."""
    return dataclasses.replace(sample, images=tuple(grey_png(size) for size in image_sizes(sample)))


def scene_key(sample: SpatialSample) -> Hashable:
    """What the sample's images show: ``meta_info["scene"]`` for engine samples (two questions about one scene,
    even from different viewpoints, share it), else the image bytes themselves."""
    scene = sample.meta_info.get("scene")
    if scene is not None:
        return "scene:" + json.dumps(scene, sort_keys=True)
    return "images:" + hashlib.sha1(b"".join(hashlib.sha1(b).digest() for b in sample.images)).hexdigest()


def _cycle(keys: Sequence[Hashable], rng: np.random.Generator) -> dict[Hashable, Hashable]:
    """A uniformly random single-cycle permutation (Sattolo) of ``len(keys) >= 2`` keys: no key maps to itself."""
    order = [keys[i] for i in rng.permutation(len(keys))]
    return {order[i]: order[(i + 1) % len(order)] for i in range(len(order))}


def shuffle_donors(samples: Sequence[SpatialSample], seed: int = SHUFFLE_SEED) -> list[int | None]:
    """For each sample, the index of the sample whose images it receives under ``shuffle`` (None: no donor).

    Samples are grouped by their number of images; within a group, the *scenes* (:func:`scene_key`) are paired
    by a seeded single-cycle derangement, so no question ever gets an image of its own scene (several questions
    are asked about each scene, and a same-scene image would leak the answer). Scenes whose images have the same
    sizes are deranged among themselves; scenes with a size found nowhere else in the group are deranged among
    each other (and a last lone one takes a random other scene's images), so sizes match wherever they can and
    otherwise the processor resizes a foreign image as it would any image. Within the donor scene, a sample takes
    the images of the donor's sample at the same position (cyclically), preferring one with its own sizes.

    None is returned for samples without images and for every sample of a group with a single scene: there is no
    foreign image of the right count, and :func:`shuffle_images` blanks those instead.
    """
    rng = np.random.default_rng(seed)
    sizes = [image_sizes(s) for s in samples]
    groups: dict[int, dict[Hashable, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, sample in enumerate(samples):
        if sample.images:
            groups[len(sample.images)][scene_key(sample)].append(i)
    donors: list[int | None] = [None] * len(samples)
    for count in sorted(groups):
        scenes = groups[count]
        if len(scenes) < 2:
            continue
        by_size: dict[ImageSizes, list[Hashable]] = defaultdict(list)
        for key, members in scenes.items():
            by_size[sizes[members[0]]].append(key)
        partner: dict[Hashable, Hashable] = {}
        lone: list[Hashable] = []
        for size in sorted(by_size):
            keys = by_size[size]
            if len(keys) >= 2:
                partner.update(_cycle(keys, rng))
            else:
                lone += keys
        if len(lone) >= 2:
            partner.update(_cycle(lone, rng))
        elif lone:
            others = [k for k in scenes if k != lone[0]]
            partner[lone[0]] = others[int(rng.integers(len(others)))]
        for key, members in scenes.items():
            donor_members = scenes[partner[key]]
            for position, i in enumerate(members):
                start = position % len(donor_members)
                ring = donor_members[start:] + donor_members[:start]
                donors[i] = next((j for j in ring if sizes[j] == sizes[i]), ring[0])
    return donors


def shuffle_images(samples: Sequence[SpatialSample], seed: int = SHUFFLE_SEED) -> list[SpatialSample]:
    """The samples with their images swapped as :func:`shuffle_donors` pairs them (donorless ones blanked)."""
    donors = shuffle_donors(samples, seed)
    blanked = sum(1 for s, d in zip(samples, donors, strict=True) if d is None and s.images)
    if blanked:
        logger.warning("shuffle: %d of %d samples have no other scene with as many images; they get blank images",
                       blanked, len(samples))
    return [s if not s.images else blank_images(s) if d is None else dataclasses.replace(s, images=samples[d].images)
            for s, d in zip(samples, donors, strict=True)]


def ablate(samples: Sequence[SpatialSample], ablation: str, seed: int = SHUFFLE_SEED) -> list[SpatialSample]:
    """``samples`` under one of :data:`IMAGE_ABLATIONS` (``seed`` only matters for ``shuffle``)."""
    if ablation == BLANK:
        return [blank_images(s) if s.images else s for s in samples]
    if ablation == SHUFFLE:
        return shuffle_images(samples, seed)
    raise ValueError(f"unknown image ablation {ablation!r}; choose from {IMAGE_ABLATIONS}")


def check_ablations(ablations: Sequence[str], where: str) -> tuple[str, ...]:
    """``ablations`` as a tuple, or a ValueError naming ``where`` (the config field or option) and the choices."""
    if isinstance(ablations, str):
        raise ValueError(f"{where} must be a list of ablations from {IMAGE_ABLATIONS}, got the string {ablations!r}")
    unknown = [a for a in ablations if a not in IMAGE_ABLATIONS]
    if unknown or len(set(ablations)) != len(ablations):
        raise ValueError(f"{where} must be distinct names from {IMAGE_ABLATIONS}, got {list(ablations)}")
    return tuple(ablations)
