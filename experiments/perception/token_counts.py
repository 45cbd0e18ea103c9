"""How the offline tokenizer cuts a spatial QA file's text, with and without the spatial words in its vocabulary.

    python experiments/perception/token_counts.py outputs/spatial/vocab30.parquet

For each vocabulary (the default one, and one learned from the instruction words alone): its size, the tokens of
every turn of every sample, and the share of word occurrences split into more than one token.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from vst_vla.spatial.formats import read_samples
from vst_vla.vlm.tokenizer import build_offline_tokenizer

WORD = re.compile(r"[A-Za-z]+")


def counts(texts: list[str], spatial_words: bool) -> dict[str, float]:
    tokenizer = build_offline_tokenizer(spatial_words=spatial_words)
    words = [w.lower() for text in texts for w in WORD.findall(text)]
    pieces = {w: len(tokenizer.tokenize(" " + w)) for w in set(words)}
    return {"vocabulary": len(tokenizer), "tokens": sum(len(tokenizer(t)["input_ids"]) for t in texts),
            "split_words": sum(pieces[w] > 1 for w in words) / len(words)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path)
    args = parser.parse_args()
    samples = list(read_samples(args.data))
    texts = [turn.text for s in samples for turn in s.conversations]
    print(f"{len(samples)} samples, {len(texts)} turns from {args.data}")
    for spatial_words, name in ((False, "instruction words only"), (True, "with the spatial words (default)")):
        c = counts(texts, spatial_words)
        print(f"{name}: {c['vocabulary']} entries, {c['tokens']} tokens, {c['split_words']:.1%} of words split")


if __name__ == "__main__":
    main()
