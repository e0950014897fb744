"""personseg side by side with MediaPipe's selfie segmentation (0.10.14, general model): latency
on the same photos in interleaved rounds, and quality on the val splits, in one run.

Latency: one photo at a time, pre- and post-processing included (personseg: resize, model,
guided-filter edge at the photo's resolution; MediaPipe: its own graph), on four cases cut from
the first ccp ``val.txt`` photo: 256×256, a 640×480 frame, a 1280×720 frame and the photo itself
(550×830). Each round times every model on every case (``--calls`` calls, median), the model order
reversed every other round; the figure is the median over rounds, with its range.

Quality (``val.txt`` only), as ``benchmarks/semantics.py`` scores it: mean IoU on ccp and
humanseg290, head-and-shoulders / half-body crops of the same photos, ``objects/val.txt`` photos
with more than 1 % of the pixels marked, the 20 held-out backgrounds, and the demo photo.

MediaPipe needs NumPy 1, so it runs in an environment of its own; it is a benchmark reference
only, never a dependency of personseg or its tests::

    python -m venv .venv-mediapipe && . .venv-mediapipe/bin/activate
    pip install torch==2.13.0 && pip install "numpy<2" mediapipe==0.10.14 onnxruntime pyyaml tqdm
    pip install --no-deps -e .
    python benchmarks/vs_mediapipe.py --models default runs/person-fast/last.pt --json vs.json

personseg models run as users run them for video: on ONNX Runtime (``--backend``; the bundled
model's int8 file; a ``.pt`` is exported to fp32 ONNX beside itself first). ``NAME@SIZE`` runs a
model at another input size (``--input-size SIZE``), e.g. ``default@256``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from common import interleaved_latency, load_segmenter, save
from semantics import score

from personseg.data import load_image
from personseg.data.splits import split_samples
from personseg.inference.effects import cover


class MediaPipeSelfie:
    """MediaPipe's selfie segmentation behind the Segmenter methods the scores use."""

    threshold = 0.5

    def __init__(self, model_selection: int = 0):
        try:
            import mediapipe as mp
        except ImportError:
            raise SystemExit(
                "mediapipe is not installed here; set up its environment as this script's "
                "docstring says (pip install 'numpy<2' mediapipe==0.10.14)"
            ) from None
        selfie = mp.solutions.selfie_segmentation
        self.graph = selfie.SelfieSegmentation(model_selection=model_selection)

    def predict(self, image: np.ndarray) -> np.ndarray:
        return self.graph.process(np.ascontiguousarray(image)).segmentation_mask

    def predict_mask(self, image: np.ndarray) -> np.ndarray:
        return ((self.predict(image) > self.threshold) * 255).astype(np.uint8)


def cases(root: Path) -> dict[str, np.ndarray]:
    photo = load_image(split_samples(root / "ccp", "val")[0].image)
    return {
        "256x256": cover(photo, (256, 256)),
        "640x480": cover(photo, (480, 640)),
        "1280x720": cover(photo, (720, 1280)),
        f"photo {photo.shape[1]}x{photo.shape[0]}": photo,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--models",
        nargs="+",
        default=["default"],
        help="bundled names, .pt, .onnx; NAME@SIZE for another input size",
    )
    p.add_argument("--backend", default="onnx", choices=["onnx", "openvino", "torch"])
    p.add_argument("--root", default="../shared/data", help="holds ccp, humanseg290, objects")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--calls", type=int, default=30)
    p.add_argument("--skip-quality", action="store_true")
    p.add_argument("--json")
    a = p.parse_args()
    root = Path(a.root)
    models = {"mediapipe": MediaPipeSelfie()}
    for m in a.models:
        name, _, size = m.partition("@")
        models[m] = load_segmenter(name, a.backend)
        if size:
            models[m].input_size = int(size)
    photos = cases(root)
    result: dict = {"backend": a.backend, "rounds": a.rounds, "calls": a.calls}
    result["latency"] = interleaved_latency(models, photos, a.rounds, a.calls)
    if not a.skip_quality:
        result["quality"] = {name: score(seg, root, "val", None) for name, seg in models.items()}
    save(result, a.json)


if __name__ == "__main__":
    main()
