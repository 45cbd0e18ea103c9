"""Read and write spatial QA data: VST parquet (images embedded) and LLaVA-style JSON.

VST parquet: one row per sample with the columns of :class:`~vst_vla.spatial.schema.SpatialSample`; images are a
list of ``{"bytes": binary, "path": string}`` structs (the Hugging Face ``datasets`` Image layout), so the released
VST files and ours load the same way. LLaVA JSON: a list of ``{"id", "image" | "images", "conversations"}`` with
image paths relative to an image folder; the images are read and embedded on load.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from vst_vla.errors import CorruptFileError, MissingInputError, UserError
from vst_vla.io import atomic_path
from vst_vla.spatial.schema import SampleError, SpatialSample

SCHEMA = pa.schema([
    ("id", pa.string()),
    ("data_source", pa.string()),
    ("type", pa.string()),
    ("images", pa.list_(pa.struct([("bytes", pa.binary()), ("path", pa.string())]))),
    ("conversations", pa.list_(pa.struct([("from", pa.string()), ("value", pa.string())]))),
    ("meta_info", pa.string()),
])


def write_parquet(samples: Iterable[SpatialSample], path: str | Path, rows_per_group: int = 256) -> int:
    """Write samples to ``path`` atomically (:func:`vst_vla.io.atomic_path`); returns the number written."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot write {path}: cannot create its directory ({err.strerror or err})") from None
    count = 0
    try:
        # The writer closes (footer written) before atomic_path moves the file into place.
        with atomic_path(path) as tmp, pq.ParquetWriter(tmp, SCHEMA) as writer:
            batch: list[dict] = []
            for sample in samples:
                batch.append(sample.to_record())
                if len(batch) == rows_per_group:
                    writer.write_table(pa.Table.from_pylist(batch, schema=SCHEMA))
                    count, batch = count + len(batch), []
            if batch:
                writer.write_table(pa.Table.from_pylist(batch, schema=SCHEMA))
                count += len(batch)
    except OSError as err:  # named by the user's path, not the hidden temporary one
        raise UserError(f"cannot write {path}: {err.strerror or err}") from None
    return count


def read_parquet(path: str | Path) -> Iterator[SpatialSample]:
    """Samples from a VST-style parquet file (ours or the released VST data), row group by row group."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"spatial QA file {path} does not exist")
    try:
        reader = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as err:
        raise CorruptFileError(f"spatial QA file {path} is not a readable parquet file (truncated or corrupt?): "
                               f"{err}") from None
    required = {"id", "conversations"}
    missing = required - set(reader.schema_arrow.names)
    if missing:
        raise SampleError(f"{path} lacks column(s) {sorted(missing)}; expected the VST schema {SCHEMA.names}")
    for group in range(reader.num_row_groups):
        for record in reader.read_row_group(group).to_pylist():
            yield SpatialSample.from_record(record)


def read_llava_json(path: str | Path, image_root: str | Path | None = None) -> Iterator[SpatialSample]:
    """Samples from a LLaVA-style JSON list; image paths resolve against ``image_root`` (default: the JSON's folder)."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"LLaVA JSON file {path} does not exist")
    root = Path(image_root) if image_root is not None else path.parent
    try:
        entries = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CorruptFileError(f"LLaVA JSON file {path} is not valid JSON (truncated or corrupt?): {err}") from None
    if not isinstance(entries, list):
        raise SampleError(f"{path}: expected a JSON list of samples, got {type(entries).__name__}")
    for i, entry in enumerate(entries):
        names = entry.get("images", entry.get("image", []))
        names = [names] if isinstance(names, str) else list(names)
        images = []
        for name in names:
            image_path = root / name
            if not image_path.is_file():
                raise MissingInputError(f"{path}: sample {entry.get('id', i)!r} refers to missing image {image_path}")
            images.append(image_path.read_bytes())
        record = {**entry, "id": str(entry.get("id", i)), "images": images,
                  "data_source": entry.get("data_source", path.stem)}
        yield SpatialSample.from_record(record)


def read_samples(path: str | Path, image_root: str | Path | None = None) -> Iterator[SpatialSample]:
    """Dispatch on the file suffix: ``.parquet`` (VST) or ``.json`` (LLaVA)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".parquet":
        return read_parquet(path)
    if suffix == ".json":
        return read_llava_json(path, image_root)
    raise SampleError(f"{path}: unknown spatial data format {suffix!r}; expected .parquet (VST) or .json (LLaVA)")
