"""The bad-input matrix: every command line, given a plain user error, says what is wrong in one line.

Each row of :data:`CASES` runs one command line (in-process, through its real ``main``) on a bad input and
checks: a nonzero exit status (2 for our own checks, 1 for hydra's composition errors), an ``error:`` message
containing the expected text (which names the field, file or value), no traceback, and nothing left behind
(no run directory, output file or migrated checkpoint). A few rows run again as subprocesses, to check the real
exit status of ``python -m ...``.

``docs/bad_inputs.md`` lists the matrix with the messages actually printed; regenerate it with

    VST_BAD_INPUTS_DOC=docs/bad_inputs.md python -m pytest tests/test_bad_inputs.py -q
"""

from __future__ import annotations

import importlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import datasets  # noqa: F401 - its log handler takes sys.stderr at import: here, not a test's closed capture
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "bad_inputs.md"
# The default job's checkpoint in the layout before the one-policy change (experiments/one_policy_parity).
OLD_LAYOUT_CHECKPOINT = Path(__file__).resolve().parents[1] / "experiments/one_policy_parity/before/pretrained_model"
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")

MODULES = {
    "train": "vst_vla.train",
    "eval": "vst_vla.eval",
    "collect": "vst_vla.collect",
    "migrate": "vst_vla.migrate_checkpoint",
    "spatial.generate": "vst_vla.spatial.generate",
    "spatial.evaluate": "vst_vla.spatial.evaluate",
}
HYDRA_CLIS = ("train", "eval", "collect")


@dataclass(frozen=True)
class Case:
    """One bad input: the command line, its arguments (``{name}`` = a fixture's path), what stderr must say.

    ``expect`` are substrings of stderr (all required); ``code`` the exit status; ``absent`` paths (same
    placeholders) that must not exist afterwards.
    """

    id: str
    cli: str
    argv: tuple[str, ...]
    expect: tuple[str, ...]
    code: int = 2
    absent: tuple[str, ...] = ()
    marks: tuple = ()


def case(name: str, cli: str, argv: list[str], *expect: str, code: int = 2, absent: tuple[str, ...] = (),
         marks: tuple = ()) -> Case:
    return Case(name, cli, tuple(argv), expect, code, absent, marks)


RUN = "{tmp}/out/bad"  # the run directory every train row would create
EV = "{tmp}/eval_out"
CASES = [
    # ---- python -m vst_vla.train -------------------------------------------------------------------------------
    case("train: model=local without a path", "train", ["model=local"],
         "missing required config value(s) ['model.pretrained_path']", absent=(RUN,)),
    case("train: wrong type (lr)", "train", ["trainer.lr=abc"], "trainer.lr must be a number, got 'abc'",
         absent=(RUN,)),
    case("train: wrong type (batch_size)", "train", ["trainer.batch_size=1.5"],
         "trainer.batch_size must be an integer, got 1.5", absent=(RUN,)),
    case("train: wrong type (resume)", "train", ["trainer.resume=maybe"], "trainer.resume must be true or false",
         absent=(RUN,)),
    case("train: wrong length (betas)", "train", ["trainer.betas=[0.9]"], "trainer.betas must be a list of 2 values",
         absent=(RUN,)),
    case("train: negative steps", "train", ["trainer.steps=-1"], "trainer.steps must be >= 1, got -1",
         absent=(RUN,)),
    case("train: negative eval.every_steps", "train", ["eval.every_steps=-5"], "eval.every_steps must be >= 0",
         absent=(RUN,)),
    case("train: unknown key", "train", ["+trainer.stpes=3"], "unknown config key(s) ['stpes'] in trainer",
         absent=(RUN,)),
    case("train: unknown precision", "train", ["trainer.precision=fp64"], "trainer.precision must be one of",
         absent=(RUN,)),
    case("train: device typo", "train", ["trainer.device=gpu"], "trainer.device must be 'auto', 'cpu' or 'cuda[:i]'",
         absent=(RUN,)),
    case("train: CUDA on a CPU machine", "train", ["trainer.device=cuda"],
         "trainer.device='cuda' but CUDA is not available", absent=(RUN,), marks=(NO_CUDA,)),
    case("train: unknown head group", "train", ["head=nope"], "Could not find 'head/nope'", code=1, absent=(RUN,)),
    case("train: unknown head type", "train", ["head.type=nope"],
         "policy.head.type: unknown action head type 'nope'; registered types: flow, l1_chunk, tokens", absent=(RUN,)),
    case("train: unknown stage", "train", ["stage=nope"], "Could not find 'stage/nope'", code=1, absent=(RUN,)),
    case("train: unknown env", "train", ["env=nope"], "Could not find 'env/nope'", code=1, absent=(RUN,)),
    case("train: env field of the wrong type", "train", ["env.image_size=abc"],
         "env: image_size must be a positive int, got 'abc'", absent=(RUN,)),
    case("train: bad chunk size", "train", ["policy.chunk_size=0"], "policy.chunk_size must be >= 1, got 0",
         absent=(RUN,)),
    case("train: run_name with a slash", "train", ["run_name=a/b"], "run_name must be a non-empty name without '/'"),
    case("train: unwritable output_root", "train", ["output_root={file}/runs"],
         "output_root/run_name", "cannot be written", "is not a directory"),
    case("train: dataset.root is not a dataset", "train", ["dataset.root={empty_dir}"],
         "is not a LeRobot dataset", "meta/info.json is missing", absent=(RUN,)),
    case("train: truncated dataset parquet", "train", ["dataset.root={truncated_dataset}"],
         "dataset file", "file-000.parquet is truncated or corrupt", absent=(RUN,)),
    case("train: sft skill not in the data", "train",
         ["stage=sft", "data.train_path={qa}", "data.eval_path={qa}", "data.skills=[nope]"],
         "data.skills ['nope'] have no samples in", absent=(RUN,)),
    case("train: sft on an empty data file", "train",
         ["stage=sft", "data.train_path={empty_qa}", "data.eval_path={qa}"], "holds no samples", absent=(RUN,)),
    case("train: sft on a truncated data file", "train",
         ["stage=sft", "data.train_path={truncated_qa}", "data.eval_path={qa}"],
         "truncated.parquet is not a readable parquet file", absent=(RUN,)),
    # ---- python -m vst_vla.eval --------------------------------------------------------------------------------
    case("eval: no policy_path", "eval", [], "missing required config value(s) ['policy_path']", absent=(EV,)),
    case("eval: missing checkpoint", "eval", ["policy_path={tmp}/nope"], "policy_path", "is not a directory",
         absent=(EV,)),
    case("eval: directory that is not a checkpoint", "eval", ["policy_path={empty_dir}"],
         "is not a vst-vla checkpoint: config.json is missing", absent=(EV,)),
    case("eval: n_episodes=0", "eval", ["policy_path={checkpoint}", "eval.n_episodes=0"],
         "eval.n_episodes must be >= 1", absent=(EV,)),
    case("eval: wrong type (n_episodes)", "eval", ["policy_path={checkpoint}", "eval.n_episodes=ten"],
         "eval.n_episodes must be an integer, got 'ten'", absent=(EV,)),
    case("eval: every_steps (a training option)", "eval", ["policy_path={checkpoint}", "+eval.every_steps=100"],
         "eval.every_steps belongs to the training stage", absent=(EV,)),
    case("eval: unknown image ablation", "eval", ["policy_path={checkpoint}", "eval.image_ablation=nope"],
         "image_ablation", "'nope'", absent=(EV,)),
    case("eval: CUDA on a CPU machine", "eval", ["policy_path={checkpoint}", "device=cuda"],
         "device='cuda' but CUDA is not available", absent=(EV,), marks=(NO_CUDA,)),
    case("eval: truncated model.safetensors", "eval", ["policy_path={truncated_checkpoint}"],
         "model.safetensors is truncated or corrupt", absent=(EV,)),
    case("eval: unknown task", "eval", ["policy_path={checkpoint}", "tasks=[nope]"],
         "tasks ['nope'] are not in", absent=(EV,)),
    case("eval: env override of the wrong type", "eval", ["policy_path={checkpoint}", "+env_overrides.image_size=abc"],
         "env_overrides", "image_size must be a positive int", absent=(EV,)),
    case("eval: unwritable output_dir", "eval", ["policy_path={checkpoint}", "output_dir={file}/eval"],
         "output_dir", "cannot be written"),
    # ---- python -m vst_vla.migrate_checkpoint ----------------------------------------------------------------
    case("migrate: missing source", "migrate", ["{tmp}/nope", "{tmp}/migrated"],
         "is not an old-layout vst_vla checkpoint", absent=("{tmp}/migrated",)),
    case("migrate: source in the current layout", "migrate", ["{checkpoint}", "{tmp}/migrated"],
         "is in the current layout already", absent=("{tmp}/migrated",)),
    case("migrate: existing destination", "migrate", ["{old_checkpoint}", "{empty_dir}"], "already exists"),
    case("migrate: truncated model.safetensors", "migrate", ["{truncated_old_checkpoint}", "{tmp}/migrated"],
         "model.safetensors is truncated or corrupt", absent=("{tmp}/migrated",)),
    case("migrate: unwritable destination", "migrate", ["{old_checkpoint}", "{file}/migrated"],
         "destination", "cannot be written"),
    # ---- python -m vst_vla.collect -----------------------------------------------------------------------------
    case("collect: num_episodes=0", "collect", ["collect.num_episodes=0"],
         "collect.num_episodes must be an integer >= 1, got 0", absent=("{tmp}/dataset",)),
    case("collect: wrong type (num_episodes)", "collect", ["collect.num_episodes=abc"],
         "collect.num_episodes must be an integer, got 'abc'", absent=("{tmp}/dataset",)),
    case("collect: bad image size", "collect", ["env.image_size=0"], "env: image_size must be a positive int",
         absent=("{tmp}/dataset",)),
    case("collect: unknown env", "collect", ["env=nope"], "Could not find 'env/nope'", code=1,
         absent=("{tmp}/dataset",)),
    case("collect: unknown task", "collect", ["+tasks=[nope]"], "tasks: unknown task 'nope'",
         absent=("{tmp}/dataset",)),
    case("collect: existing root", "collect", ["collect.root={empty_dir}"], "already exists; refusing to overwrite"),
    case("collect: unwritable root", "collect", ["collect.root={file}/dataset"], "collect.root", "cannot be written"),
    # ---- python -m vst_vla.spatial.generate --------------------------------------------------------------------
    case("spatial.generate: unknown skill", "spatial.generate", ["--skills", "nope"],
         "unknown spatial skill type 'nope'", absent=("{tmp}/qa_out.parquet",)),
    case("spatial.generate: --num-scenes 0", "spatial.generate", ["--num-scenes", "0"],
         "--num-scenes must be >= 1", absent=("{tmp}/qa_out.parquet",)),
    case("spatial.generate: negative seed", "spatial.generate", ["--seed", "-1"], "seed must be >= 0",
         absent=("{tmp}/qa_out.parquet",)),
    case("spatial.generate: image size 0", "spatial.generate", ["--image-size", "0"], "image_size must be in [16,",
         absent=("{tmp}/qa_out.parquet",)),
    case("spatial.generate: unwritable --out", "spatial.generate", ["--out", "{file}/qa.parquet"],
         "--out", "qa.parquet' cannot be written"),
    case("spatial.generate: --out is a directory", "spatial.generate", ["--out", "{empty_dir}"],
         "is a directory; expected a .parquet file path"),
    # ---- python -m vst_vla.spatial.evaluate --------------------------------------------------------------------
    case("spatial.evaluate: missing data file", "spatial.evaluate", ["--data", "{tmp}/nope.parquet"],
         "spatial QA file", "nope.parquet does not exist", absent=("{tmp}/spatial_eval",)),
    case("spatial.evaluate: 0 samples", "spatial.evaluate", ["--data", "{empty_qa}"],
         "--data", "empty.parquet holds no samples", absent=("{tmp}/spatial_eval",)),
    case("spatial.evaluate: truncated data file", "spatial.evaluate", ["--data", "{truncated_qa}"],
         "truncated.parquet is not a readable parquet file", absent=("{tmp}/spatial_eval",)),
    case("spatial.evaluate: unknown format", "spatial.evaluate", ["--data", "{file}"],
         "unknown spatial data format '.txt'", absent=("{tmp}/spatial_eval",)),
    case("spatial.evaluate: unknown skill", "spatial.evaluate", ["--skills", "nope"],
         "--skills ['nope'] have no samples", absent=("{tmp}/spatial_eval",)),
    case("spatial.evaluate: --max-samples 0", "spatial.evaluate", ["--max-samples", "0"],
         "--max-samples must be >= 1", absent=("{tmp}/spatial_eval",)),
    case("spatial.evaluate: missing model", "spatial.evaluate", ["--model", "{tmp}/nope"],
         "--model", "is not a directory", absent=("{tmp}/spatial_eval",)),
    case("spatial.evaluate: unwritable --out", "spatial.evaluate", ["--out", "{file}/eval"],
         "--out", "cannot be written"),
    case("spatial.evaluate: processor of another model", "spatial.evaluate", ["--model", "{mismatched_vlm}"],
         "does not belong to its model", "<|image_pad|> is", "but 151655 in config.json",
         absent=("{tmp}/spatial_eval",)),
    case("spatial.evaluate: truncated model weights", "spatial.evaluate", ["--model", "{truncated_vlm}"],
         "model.safetensors is truncated or corrupt", absent=("{tmp}/spatial_eval",)),
]

# Arguments every row of a command line gets unless the row sets that key itself: outputs under the test's own
# directory, and (train) an existing but empty dataset root, so that a check that fails to fire ends in a fast
# "not a LeRobot dataset" instead of collecting demonstrations.
DEFAULTS = {
    "train": ["output_root={tmp}/out", "run_name=bad", "trainer.wandb.mode=disabled"],
    "train (stage=vla)": ["dataset.root={empty_dir}"],
    "eval": ["output_dir={tmp}/eval_out"],
    "collect": ["collect.root={tmp}/dataset", "collect.num_workers=1"],
    "spatial.generate": ["--num-scenes", "1", "--out", "{tmp}/qa_out.parquet"],
    "spatial.evaluate": ["--model", "{vlm_dir}", "--data", "{qa}", "--out", "{tmp}/spatial_eval", "--no-ablations"],
    "migrate": [],
}
PLACEHOLDER = re.compile(r"\{(\w+)\}")
MESSAGES: dict[str, str] = {}  # case id -> the error line printed (for docs/bad_inputs.md)


def with_defaults(cli: str, argv: tuple[str, ...]) -> list[str]:
    """``argv`` plus the command line's defaults whose key (``key=``, or ``--flag``) the row does not set."""
    keys = {a.split("=", 1)[0].lstrip("+") for a in argv if "=" in a} | {a for a in argv if a.startswith("--")}
    defaults, out = DEFAULTS[cli], []
    if cli == "train" and not any(a.startswith("stage=") and a != "stage=vla" for a in argv):
        defaults = [*defaults, *DEFAULTS["train (stage=vla)"]]
    i = 0
    while i < len(defaults):
        item = defaults[i]
        if item.startswith("--"):
            value = defaults[i + 1] if i + 1 < len(defaults) and not defaults[i + 1].startswith("--") else None
            if item not in keys:
                out += [item] + ([value] if value is not None else [])
            i += 2 if value is not None else 1
            continue
        if item.split("=", 1)[0] not in keys:
            out.append(item)
        i += 1
    return [*argv, *out]


# ---- inputs the rows refer to (built once per module, only when a row names them) ------------------------------


def _write_samples(path: Path, n: int) -> Path:
    from PIL import Image

    from vst_vla.spatial.formats import write_parquet
    from vst_vla.spatial.schema import SpatialSample, Turn

    buf = io.BytesIO()
    Image.new("RGB", (28, 28), (200, 30, 30)).save(buf, format="PNG")
    samples = [SpatialSample(f"s{i}", "test", "single_image", (buf.getvalue(),),
                             (Turn("human", "<image>\nWhich cube is closer? (A) red (B) green"), Turn("gpt", "(A)")),
                             {"answer_kind": "choice", "ground_truth": "A", "skill": "depth_order"})
               for i in range(n)]
    write_parquet(samples, path)
    return path


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory):
    """A lazy ``{name: path}`` of shared bad (and good) inputs; read-only for the rows."""
    root = tmp_path_factory.mktemp("bad_inputs")
    built: dict[str, Path] = {}

    def build(name: str) -> Path:
        if name in built:
            return built[name]
        path = root / name
        if name == "empty_dir":
            path.mkdir()
        elif name == "file":
            path = root / "a_file.txt"
            path.write_text("not a directory\n")
        elif name == "qa":
            _write_samples(root / "qa.parquet", 2)
            path = root / "qa.parquet"
        elif name == "empty_qa":
            path = _write_samples(root / "empty.parquet", 0)
        elif name == "truncated_qa":
            path = _write_samples(root / "truncated.parquet", 2)
            _truncate(path)
        elif name == "checkpoint":
            _save_tiny_policy(path)
        elif name == "old_checkpoint":  # the shipped old-layout checkpoint, read only
            path = OLD_LAYOUT_CHECKPOINT
        elif name == "truncated_old_checkpoint":
            shutil.copytree(OLD_LAYOUT_CHECKPOINT, path)
            _truncate(path / "model.safetensors")
        elif name == "truncated_checkpoint":
            shutil.copytree(build("checkpoint"), path)
            _truncate(path / "model.safetensors")
        elif name == "vlm_dir":  # a directory that passes the --model check; no row gets past the data checks
            path.mkdir()
            (path / "config.json").write_text("{}")
        elif name == "mismatched_vlm":
            _save_mismatched_vlm(path)
        elif name == "truncated_vlm":
            from vst_vla.sft.model import SpatialVLM
            from vst_vla.vlm.backbone import BackboneConfig

            SpatialVLM.build(BackboneConfig()).save_pretrained(path)
            _truncate(path / "model.safetensors")
        elif name == "truncated_dataset":
            _save_tiny_dataset(path)
            (data_file,) = sorted((path / "data").rglob("*.parquet"))
            _truncate(data_file)
        else:
            raise KeyError(name)
        built[name] = path
        return path

    return build


def _save_tiny_policy(path: Path) -> None:
    from vst_vla.policy.configuration_vst_vla import VSTVLAConfig
    from vst_vla.policy.processed import ProcessedPolicy

    torch.manual_seed(0)
    stats = {"action": {"q01": [-1.0] * 7, "q99": [1.0] * 7},
             "observation.state": {"q01": [-1.0] * 9, "q99": [1.0] * 9}}
    cfg = VSTVLAConfig(device="cpu").with_features({"observation.images.agentview": (3, 64, 64)}, 7, 9)
    env = {"env": {"type": "lift", "image_size": 64, "cameras": ["agentview"], "cheap_render": True}}
    ProcessedPolicy.build(cfg, stats, env_metadata=env).save_pretrained(path)


def _save_mismatched_vlm(path: Path) -> None:
    """The real Qwen2.5-VL-3B config.json (no weights) beside the tiny offline tokenizer's processor."""
    from vst_vla.vlm.backbone import BackboneConfig, build_processor

    build_processor(BackboneConfig()).save_pretrained(path)
    config = json.loads((REPO / "vst_vla" / "vlm" / "presets" / "qwen2_5_vl_3b.json").read_text())
    config.pop("_comment", None)
    (path / "config.json").write_text(json.dumps(config))


def _save_tiny_dataset(path: Path, frames: int = 6) -> None:
    """A LeRobot dataset of one short episode (images stored as PNG, no video), the Lift layout."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    features = {
        "observation.images.agentview": {"dtype": "image", "shape": (32, 32, 3),
                                         "names": ["height", "width", "channels"]},
        "observation.state": {"dtype": "float32", "shape": (9,), "names": None},
        "action": {"dtype": "float32", "shape": (7,), "names": None},
    }
    dataset = LeRobotDataset.create("local/bad_inputs", fps=20, root=path, features=features, use_videos=False,
                                    video_backend="pyav")
    g = torch.Generator().manual_seed(0)
    for _ in range(frames):
        dataset.add_frame({"observation.images.agentview": torch.randint(0, 255, (32, 32, 3), generator=g,
                                                                         dtype=torch.uint8).numpy(),
                           "observation.state": torch.rand(9, generator=g).numpy(),
                           "action": (torch.rand(7, generator=g) * 2 - 1).numpy(), "task": "lift the red cube"})
    dataset.save_episode()
    dataset.finalize()


# ---- running a command line ---------------------------------------------------------------------------------------


def run_in_process(cli: str, argv: list[str], hydra_dir: Path) -> int:
    """Run the command line's ``main`` as ``python -m`` would; returns its exit status."""
    module = importlib.import_module(MODULES[cli])
    try:
        if cli in HYDRA_CLIS:
            # hydra's own output (run dir, logs) goes to the test's directory; logging is left unconfigured.
            hydra_args = [f"hydra.run.dir={hydra_dir}", "hydra.output_subdir=null", "hydra/job_logging=none",
                          "hydra/hydra_logging=none"]
            with mock.patch.object(sys, "argv", [MODULES[cli], *argv, *hydra_args]):
                result = module.main()
        else:
            result = module.main(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 1
    return result if isinstance(result, int) else 0


def redact(text: str, paths: dict[str, str]) -> str:
    """``text`` with the test's own paths written as their ``{placeholder}`` (longest first)."""
    for name, path in sorted(paths.items(), key=lambda item: -len(item[1])):
        text = text.replace(path, "{" + name + "}")
    return text


def _params():
    return [pytest.param(c, id=c.id, marks=c.marks) for c in CASES]


@pytest.mark.parametrize("row", _params())
def test_bad_input_is_one_clear_error(row: Case, inputs, tmp_path: Path, capsys) -> None:
    argv = with_defaults(row.cli, row.argv)
    names = {m for a in argv for m in PLACEHOLDER.findall(a)} - {"tmp"}
    paths = {"tmp": str(tmp_path), **{name: str(inputs(name)) for name in names}}
    argv = [a.format(**paths) for a in argv]
    before = sorted(p.name for p in tmp_path.iterdir())

    code = run_in_process(row.cli, argv, tmp_path / "hydra")

    err = capsys.readouterr().err
    assert code == row.code, f"exit status {code}, expected {row.code}; stderr:\n{err}"
    assert "Traceback" not in err, err
    for text in row.expect:
        assert text.format(**paths) in err, f"{text!r} not in stderr:\n{err}"
    if row.code == 2:
        lines = [line for line in err.splitlines() if "error:" in line]
        assert len(lines) == 1, f"expected one error line, got:\n{err}"
        MESSAGES[row.id] = redact(lines[0][lines[0].index("error:"):], paths)
    else:
        MESSAGES[row.id] = redact(err.strip().splitlines()[0], paths)
    for path in row.absent:
        assert not Path(path.format(**paths)).exists(), f"{path} was left behind"
    # Nothing else half-written beside the outputs: no new entry in the test's directory but hydra's own.
    after = sorted(p.name for p in tmp_path.iterdir() if p.name != "hydra")
    assert after == before, f"left behind: {sorted(set(after) - set(before))}"


RESUME_ROW = "train: resume from a truncated optimizer_state.safetensors"
EXTRA_ROWS = {RESUME_ROW: "`python -m vst_vla.train ...` again on a run whose last "
                          "`training_state/optimizer_state.safetensors` was cut short"}


def test_resume_from_a_truncated_optimizer_state_names_the_file(inputs, tmp_path: Path, capsys) -> None:
    """Train two steps on a tiny dataset, cut the optimizer state short, resume: one line naming that file."""
    dataset = tmp_path / "dataset"
    _save_tiny_dataset(dataset)
    argv = [f"dataset.root={dataset}", f"output_root={tmp_path}/out", "run_name=resume", "trainer.steps=2",
            "trainer.batch_size=2", "trainer.save_every=2", "trainer.log_every=1", "trainer.wandb.mode=disabled",
            "trainer.device=cpu", "eval.n_episodes=0", "trainer.warmup_steps=1"]
    assert run_in_process("train", argv, tmp_path / "hydra") == 0, capsys.readouterr().err
    state = tmp_path / "out" / "resume" / "checkpoints" / "last" / "training_state" / "optimizer_state.safetensors"
    _truncate(state)
    run_files = {p: p.read_bytes() for p in (tmp_path / "out" / "resume").iterdir() if p.is_file()}
    capsys.readouterr()

    code = run_in_process("train", [*argv, "trainer.steps=4"], tmp_path / "hydra")

    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    assert {p: p.read_bytes() for p in run_files} == run_files  # refused before the run's files were touched
    assert "optimizer_state.safetensors is truncated or corrupt" in err and "another run_name" in err, err
    MESSAGES[RESUME_ROW] = redact(
        [line for line in err.splitlines() if "error:" in line][0], {"tmp": str(tmp_path)})


def test_a_real_checkpoint_dir_with_another_models_processor_is_refused_at_load(inputs) -> None:
    """The library boundary itself (``model=local`` in every stage goes through it), before any weight loads."""
    from vst_vla.errors import ConfigError
    from vst_vla.vlm.backbone import BackboneConfig, build_backbone

    with pytest.raises(ConfigError, match=r"<\|image_pad\|> is \d+ in the tokenizer but 151655 in config.json"):
        build_backbone(BackboneConfig(pretrained_path=str(inputs("mismatched_vlm"))))


SUBPROCESS_ROWS = ["migrate: source in the current layout"]
SLOW_SUBPROCESS_ROWS = ["train: wrong type (lr)", "eval: n_episodes=0", "spatial.evaluate: 0 samples",
                        "train: model=local without a path"]


@pytest.mark.parametrize("row_id", [*SUBPROCESS_ROWS,
                                    *(pytest.param(r, marks=pytest.mark.slow) for r in SLOW_SUBPROCESS_ROWS)])
def test_bad_input_as_a_real_process(row_id: str, inputs, tmp_path: Path) -> None:
    """``python -m ...`` itself: exit status 2, the message on stderr, no traceback (hydra included)."""
    (row,) = [c for c in CASES if c.id == row_id]
    argv = with_defaults(row.cli, row.argv)
    if row.cli in HYDRA_CLIS:
        argv += [f"hydra.run.dir={tmp_path}/hydra"]
    names = {m for a in argv for m in PLACEHOLDER.findall(a)} - {"tmp"}
    paths = {"tmp": str(tmp_path), **{name: str(inputs(name)) for name in names}}
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    result = subprocess.run([sys.executable, "-m", MODULES[row.cli], *(a.format(**paths) for a in argv)],
                            capture_output=True, text=True, cwd=tmp_path, env=env)
    assert result.returncode == row.code, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    for text in row.expect:
        assert text.format(**paths) in result.stderr, result.stderr


def test_the_doc_lists_every_row() -> None:
    """docs/bad_inputs.md is generated from this table (see the module docstring); it must name every row."""
    text = DOC.read_text()
    missing = [c.id for c in CASES if f"| {c.id} |" not in text]
    assert not missing, f"regenerate {DOC.relative_to(REPO)} (module docstring); rows missing: {missing}"


@pytest.fixture(scope="module", autouse=True)
def _write_doc():
    """With VST_BAD_INPUTS_DOC set, write the matrix with the messages this run printed."""
    yield
    target = os.environ.get("VST_BAD_INPUTS_DOC")
    if target and MESSAGES:
        Path(target).write_text(matrix_markdown(MESSAGES))


def matrix_markdown(messages: dict[str, str]) -> str:
    rows = []
    for c in CASES:
        shown = " ".join(c.argv) or "(no arguments)"
        message = messages.get(c.id, "(not run here)").replace("|", "\\|")
        rows.append(f"| {c.id} | `python -m {MODULES[c.cli]} {shown}` | {c.code} | {message} |")
    for key, shown in EXTRA_ROWS.items():
        message = messages.get(key, "(not run here)").replace("|", "\\|")
        rows.append(f"| {key} | {shown} | 2 | {message} |")
    return (
        "# Bad inputs and what the command lines say\n\n"
        "Every command line (`train`, `eval`, `collect`, `migrate_checkpoint`, `spatial.generate`, "
        "`spatial.evaluate`) answers a plain user error (a config value of the wrong type or range, a missing or "
        "damaged file, an output it cannot write, a device this machine lacks) with one `error: ...` line naming the "
        "field, file or value and what was expected, exit status 2, no traceback, and nothing half-written. The "
        "checks run before any demonstration is collected, scene rendered, model loaded or run directory created. "
        "Hydra's own composition errors (an unknown config group option such as `head=nope`) keep hydra's message and"
        " exit status 1.\n\n"
        "User errors are `vst_vla.errors.UserError` (`ConfigError`, `MissingInputError`, `CorruptFileError`, "
        "`OutputExistsError`, ...), raised where the input enters; `vst_vla.errors.exit_on_user_error` in each "
        "`main` turns them into the line below. Anything else is a bug and keeps its traceback.\n\n"
        "Generated by `tests/test_bad_inputs.py` (the test's paths shown as `{tmp}` and `{fixture name}`); "
        "regenerate with\n"
        "`VST_BAD_INPUTS_DOC=docs/bad_inputs.md python -m pytest tests/test_bad_inputs.py -q`.\n\n"
        "Besides its own arguments, every row of a command line gets these (unless it sets the same key), so that "
        "outputs land in the test's directory:\n\n"
        + "".join(f"- `{cli}`: `{' '.join(args)}`\n" for cli, args in DEFAULTS.items() if args)
        + "\n| case | input | exit | message |\n|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )
