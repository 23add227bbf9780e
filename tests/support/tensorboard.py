"""Read TensorBoard event files back: what a test checks is the scalars written, not that a file exists."""

from __future__ import annotations

import struct
from pathlib import Path


def tb_scalars(directory: Path) -> dict[str, list[float]]:
    """Scalars of all TensorBoard event files under ``directory`` (tag -> values in file order).

    Read with tensorboard's ``EventAccumulator``; without tensorboard, the TFRecord files are read
    with tensorboardX's protobufs.
    """
    scalars: dict[str, list[float]] = {}
    files = sorted(Path(directory).rglob("events.out.tfevents*"))
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError:
        EventAccumulator = None  # noqa: N806
    for path in files:
        if EventAccumulator is not None:
            acc = EventAccumulator(str(path))
            acc.Reload()
            for tag in acc.Tags().get("scalars", []):
                scalars.setdefault(tag, []).extend(e.value for e in acc.Scalars(tag))
            continue
        from tensorboardX.proto.event_pb2 import Event

        data = path.read_bytes()
        pos = 0
        while pos + 12 <= len(data):
            (length,) = struct.unpack("<Q", data[pos:pos + 8])
            event = Event.FromString(data[pos + 12:pos + 12 + length])
            pos += 12 + length + 4
            for value in event.summary.value:
                number = value.simple_value if not value.tensor.float_val else value.tensor.float_val[0]
                scalars.setdefault(value.tag, []).append(float(number))
    return scalars
