"""Fuzz the upload loaders: mutated valid files of every format; only InputError may escape.

Usage: ``python benchmarks/fuzz_uploads.py --cases 10000 --seed 0``. Each case takes a valid
example file (safetensors, npy, npz, pt, plus a layer-prefixed capture and a deflated npz),
applies 1-4 random mutations (bit flips, integer overwrites of interesting values, truncation,
insertion, deletion, a splice from another file), for half of the zip cases to one member that
is then re-zipped with valid checksums (so the pickle or .npy parser sees it), and loads it
with ``read_tensor_file`` and, when that succeeds, ``load_inputs``. Prints accepted/refused
counts per format and every escaped exception; exits 1 if any exception other than InputError
escaped (or an accepted file gave non-finite values).
"""

from __future__ import annotations

import argparse
import io
import random
import struct
import sys
import time
import traceback
import zipfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from explorer.errors import InputError  # noqa: E402
from explorer.inputs.uploads.decode import read_tensor_file  # noqa: E402
from explorer.inputs.uploads.examples import encode, example_tensors, example_upload  # noqa: E402
from explorer.inputs.uploads.files import load_inputs  # noqa: E402
from explorer.inputs.uploads.limits import UploadLimits  # noqa: E402

LIMITS = UploadLimits(max_bytes=2**20, max_elements=200_000, max_header_bytes=65_536)
INTERESTING = (0, 1, 2, 7, 0x7F, 0x80, 0xFF, 0xFFFF, 2**31 - 1, 2**31, 2**32 - 1, 2**63)


def seeds() -> dict[str, tuple[str, bytes]]:
    """label → (filename, bytes) of the valid files that cases start from."""
    files = {fmt: example_upload(fmt) for fmt in ("safetensors", "npy", "npz", "pt")}
    capture = {f"layers.{k}": np.stack([v, v]) for k, v in example_tensors(seed=1).items()}
    files["safetensors-4d"] = ("capture.safetensors", encode(capture, "safetensors"))
    files["pt-4d"] = ("capture.pt", encode(capture, "pt"))
    files["npz-deflated"] = ("capture.npz", encode(capture, "npz", compressed=True))
    return files


def mutate(data: bytes, rng: random.Random, donors: list[bytes]) -> bytes:
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        where = rng.randint(0, len(buffer))
        kind = rng.choice(("xor", "int", "truncate", "insert", "delete", "splice"))
        if kind == "xor" and where < len(buffer):
            buffer[where] ^= 1 << rng.randrange(8) if rng.random() < 0.5 else rng.randint(1, 255)
        elif kind == "int":
            code = rng.choice("BHIQ")
            value = rng.choice(INTERESTING) % 2 ** (8 * struct.calcsize(code))
            buffer[where : where + struct.calcsize(code)] = struct.pack("<" + code, value)
        elif kind == "truncate" and rng.random() < 0.3:
            del buffer[where:]
        elif kind == "insert":
            buffer[where:where] = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 32)))
        elif kind == "delete":
            del buffer[where : where + rng.randint(1, 64)]
        elif kind == "splice":
            donor = rng.choice(donors)
            start = rng.randrange(len(donor))
            buffer[where : where + 64] = donor[start : start + rng.randint(1, 64)]
    return bytes(buffer)


def mutate_member(data: bytes, rng: random.Random, donors: list[bytes]) -> bytes:
    """Mutate one member of a zip archive and re-zip it with valid CRCs and sizes, so that the
    mutation reaches the member's parser (the weights-only unpickler, the .npy header reader)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    members = source.infolist()
    target = rng.choice(members).filename
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for info in members:
            content = source.read(info)
            if info.filename == target:
                content = mutate(content, rng, donors)
            archive.writestr(info, content)
    return buffer.getvalue()


def run_case(filename: str, data: bytes) -> str:
    """'accepted' or 'refused'; any other exception propagates."""
    try:
        loaded = read_tensor_file(data, filename, limits=LIMITS)
    except InputError:
        return "refused"
    for name, array in loaded.tensors.items():
        if array.dtype not in (np.float32, np.float64) or not np.isfinite(array).all():
            raise AssertionError(f"accepted tensor {name!r} is not finite float: {array.dtype}")
    try:
        load_inputs([(filename, data)], limits=LIMITS)
    except InputError:
        return "accepted (file), refused (inputs)"
    return "accepted"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="mutated files to try")
    parser.add_argument("--seed", type=int, default=0, help="seed of the mutations")
    parser.add_argument("--quiet", action="store_true", help="print only failures")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    files = seeds()
    donors = [data for _, data in files.values()]
    counts: dict[str, Counter] = {label: Counter() for label in files}
    escaped = 0
    start = time.perf_counter()
    for case in range(args.cases):
        label = rng.choice(list(files))
        filename, data = files[label]
        inside = filename.endswith((".pt", ".npz")) and rng.random() < 0.5
        mutated = mutate_member(data, rng, donors) if inside else mutate(data, rng, donors)
        try:
            counts[label][run_case(filename, mutated)] += 1
        except Exception:  # anything but InputError is a finding
            escaped += 1
            counts[label]["ESCAPED"] += 1
            print(f"case {case} ({label}, seed {args.seed}): {len(mutated)} bytes")
            traceback.print_exc(limit=4)
    elapsed = time.perf_counter() - start
    if not args.quiet:
        for label, counter in counts.items():
            print(f"{label:>15}: " + ", ".join(f"{k} {v}" for k, v in sorted(counter.items())))
        total = sum(counts.values(), Counter())
        print(
            f"{args.cases} cases in {elapsed:.1f} s: "
            + ", ".join(f"{k} {v}" for k, v in sorted(total.items()))
        )
    print(f"escaped (not InputError): {escaped}")
    return 1 if escaped else 0


if __name__ == "__main__":
    sys.exit(main())
