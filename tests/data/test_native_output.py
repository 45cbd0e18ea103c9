"""native_output_silenced: descriptor-level writes inside the block vanish, Python's own output does not.

Each case runs in a fresh interpreter whose stdout / stderr are pipes, so the test sees exactly what reached the
real descriptors (pytest's own capturing would otherwise sit in between).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import logging, os, sys
    from vst_vla.native_output import native_output_silenced

    logging.basicConfig(level=logging.INFO, format="%(message)s")  # a handler bound to sys.stderr
    os.write(2, b"native-err-before\\n")
    with native_output_silenced():
        os.write(2, b"native-err-inside\\n")  # what a C library (SVT-AV1, libav) does
        os.write(1, b"native-out-inside\\n")
        print("python-err-inside", file=sys.stderr)
        print("python-out-inside")
        logging.warning("log-inside")
    os.write(2, b"native-err-after\\n")
    try:
        with native_output_silenced():
            raise KeyError("boom")
    except KeyError:
        pass
    os.write(2, b"native-err-after-error\\n")
    raise RuntimeError("python-error-visible")
    """
)


def test_native_writes_vanish_inside_and_python_output_stays_visible() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], check=False, capture_output=True, text=True)
    err, out = result.stderr.splitlines(), result.stdout.splitlines()
    assert result.returncode == 1
    assert "native-err-inside" not in err and "native-out-inside" not in out
    assert err[:4] == ["native-err-before", "python-err-inside", "log-inside", "native-err-after"]
    assert out == ["python-out-inside"]
    # Restored after a block that raised, and an uncaught exception's traceback is shown as usual.
    assert err[4] == "native-err-after-error"
    assert err[-1] == "RuntimeError: python-error-visible"


def test_only_the_chosen_descriptors_are_silenced() -> None:
    script = textwrap.dedent(
        """
        import os
        from vst_vla.native_output import native_output_silenced
        with native_output_silenced(fds=(2,)):
            os.write(1, b"out-kept\\n")
            os.write(2, b"err-dropped\\n")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True)
    assert (result.returncode, result.stdout, result.stderr) == (0, "out-kept\n", "")
