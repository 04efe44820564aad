"""The CLRNet paper's models in the registry: CLRNet, its variants and the paper's baselines.

Importing this module registers them (:func:`clrnet.registry.register`), together with the
MesoNet authors' trained weights packaged in ``clrnet/weights``. The official training values
per model are the ones the CLRNet authors used (``shahroztariq/CLRNet``):

* CLRNet: Adam 5e-5, binary cross-entropy on the two-way softmax, 16 clips of 5 frames per batch,
  300 epochs single-domain and 150 for transfer and merge runs (every ``src/CLRNET_*.ipynb``;
  input 240 in the single-domain and transfer notebooks, 128 in the multi-dataset ones);
  training clips augmented (``src/DFVDSequence.py``; ``ModelSpec.augment``), the only model
  here whose official training augments: the baselines' notebooks only rescale
  (``ImageDataGenerator(rescale=1/255)``, e.g. ``src/Xception_DF.ipynb``);
* MesoNet (Meso4, MesoInception4): 256x256 frames, MSE on the sigmoid, Adam 1e-3, batches of 32
  (Keras' ``flow_from_directory`` default), 50 epochs (``DariusAf/MesoNet: classifiers.py``; the
  CLRNet authors' ``src/MesoInception4_*.ipynb``);
* Xception: 240x240 from scratch, BCE on a 2-way softmax, Adam 5e-5, 50 epochs
  (``src/Xception_DF.ipynb``); ShallowNetV3: 128x128, BCE on two sigmoids, Adam 5e-5, 50 epochs
  (``src/ShallowNetv3_DF.ipynb``);
* DBiRNN and CNN+LSTM have no official code: their clip lengths are the CLRNet paper's
  (Sec. 5.1: 5 frames for DBiRNN, 20 for CNN+LSTM, 80 frames per batch), the rest is documented in
  their builder modules.
"""

from __future__ import annotations

import functools
from pathlib import Path

from clrnet import registry
from clrnet.models.clrnet import build_clrnet
from clrnet.models.cnn_lstm import build_cnn_lstm
from clrnet.models.dbirnn import build_dbirnn
from clrnet.models.mesonet import build_meso4, build_mesoinception4
from clrnet.models.shallownet import build_shallownet_v3
from clrnet.models.xception import build_xception

FAMILY = "clrnet"
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
TARIQ = "Tariq, Lee, Woo, One Detector to Rule Them All, WWW'21"
_CLRNET_SOURCE = ("shahroztariq/CLRNet src/CLRNet_convlstm.py (architecture); "
                  "src/CLRNET_*.ipynb (training values)")
#: What each packaged MesoNet weight file's verdict is worth, measured with ``python -m
#: clrnet.predict`` (32 frames) on face swaps made from the real webcam video (the astronaut's
#: face put onto data_prep/media/webcam_hello.mp4 by data_prep.synth.manipulations.identity_swap:
#: the low-resolution "bottleneck" and the Poisson-blended swap, both re-encoded as the real one).
_SWAPS = ("measured not to transfer reliably to other manipulations: on face swaps made from the "
          "real webcam video data_prep/media/webcam_hello.mp4 (data_prep.synth stand-ins, 32 "
          "frames) it scored ")
MESONET_CAVEATS = {
    "mesoinception4_df": _SWAPS + "the low-resolution swap 0.76 but the Poisson-blended one 0.27, "
    "barely above the real video's 0.25",
    "meso4_df": _SWAPS + "the low-resolution swap 0.87, the Poisson-blended one 0.55 and the real "
    "video itself 0.56 (FAKE at threshold 0.5)",
    "mesoinception4_f2f": _SWAPS + "both swaps (0.07, 0.07) lower than the real video (0.17)",
    "meso4_f2f": _SWAPS + "both swaps (0.38, 0.22) lower than the real video (0.59, FAKE at "
    "threshold 0.5)",
}


def _clrnet(name: str, notes: str = "", **kwargs) -> registry.ModelSpec:
    return registry.ModelSpec(
        name=name, family=FAMILY, builder=functools.partial(build_clrnet, name=name, **kwargs),
        kind="clip", input_size=240, clip_len=5, output="softmax2", loss="binary_crossentropy",
        optimizer="adam", lr=5e-5, batch_size=16, epochs=300, epochs_transfer=150,
        paper=TARIQ, source=_CLRNET_SOURCE, notes=notes, augment=True)


SPECS = [
    _clrnet("clrnet"),
    _clrnet("clrnet18", "the official builder's CLRNet18 wrapper (basic blocks 2-2-2-2)",
            block="basic", repetitions=(2, 2, 2, 2)),
    _clrnet("clrnet34", "the official builder's CLRNet34 wrapper (basic blocks 3-4-6-3)",
            block="basic", repetitions=(3, 4, 6, 3)),
    _clrnet("clrnet101", "the official builder's CLRNet101 wrapper (bottleneck 3-4-23-3)",
            block="bottleneck", repetitions=(3, 4, 23, 3)),
    *(registry.ModelSpec(
        name=name, family=FAMILY, builder=builder, kind="frame", input_size=256, clip_len=None,
        output="sigmoid", loss="mse", optimizer="adam", lr=1e-3, batch_size=32, epochs=50,
        epochs_transfer=50,
        paper="Afchar et al., MesoNet, WIFS'18 (a baseline of " + TARIQ + ")",
        source="DariusAf/MesoNet classifiers.py; shahroztariq/CLRNet src/MesoInception4_*.ipynb",
        notes="index convention flipped: the sigmoid is P(fake) (the authors' was P(real))")
      for name, builder in (("meso4", build_meso4), ("mesoinception4", build_mesoinception4))),
    registry.ModelSpec(
        name="xception", family=FAMILY, builder=build_xception, kind="frame", input_size=240,
        clip_len=None, output="softmax2", loss="binary_crossentropy", optimizer="adam", lr=5e-5,
        batch_size=32, epochs=50, epochs_transfer=50,
        paper="Chollet, Xception, CVPR'17 (a baseline of " + TARIQ + ")",
        source="keras.applications.Xception(weights=None, classes=2) as in shahroztariq/CLRNet "
        "src/Xception_DF.ipynb"),
    registry.ModelSpec(
        name="shallownet_v3", family=FAMILY, builder=build_shallownet_v3, kind="frame",
        input_size=128, clip_len=None, output="softmax2", loss="binary_crossentropy",
        optimizer="adam", lr=5e-5, batch_size=32, epochs=50, epochs_transfer=50,
        paper="Tariq et al., ShallowNet (a baseline of " + TARIQ + ")",
        source="shahroztariq/ShallowNet src/models.py (v3); shahroztariq/CLRNet "
        "src/ShallowNetv3_DF.ipynb",
        notes="two independent sigmoid units as the official head; index 1 is read as P(fake)"),
    registry.ModelSpec(
        name="dbirnn", family=FAMILY, builder=build_dbirnn, kind="clip", input_size=224,
        clip_len=5, output="softmax2", loss="binary_crossentropy", optimizer="adam", lr=5e-5,
        batch_size=16, epochs=50, epochs_transfer=50,
        paper="Sabir et al., Recurrent Convolutional Strategies, CVPRW'19 (a baseline of "
        + TARIQ + ")",
        source="no official code; 5 frames x 16 clips per batch from the CLRNet paper Sec. 5.1",
        notes="lr and epochs are the CLRNet authors' baseline settings, not Sabir et al.'s"),
    registry.ModelSpec(
        name="cnn_lstm", family=FAMILY, builder=build_cnn_lstm, kind="clip", input_size=299,
        clip_len=20, output="softmax2", loss="binary_crossentropy", optimizer="adam", lr=1e-5,
        batch_size=4, epochs=50, epochs_transfer=50,
        paper="Guera and Delp, Deepfake Video Detection Using RNNs, AVSS'18 (a baseline of "
        + TARIQ + ")",
        source="no official code; 20 frames x 4 clips per batch from the CLRNet paper Sec. 5.1, "
        "Adam 1e-5 from Guera and Delp",
        notes="epochs are the CLRNet authors' baseline setting"),
]

for _spec in SPECS:
    registry.register(_spec)


#: The packaged MesoNet authors' weights (``clrnet/weights``, Apache-2.0). The builders' ``weights``
#: argument loads them and folds the label flip into the model, so they output P(fake).
PRETRAINED = [
    registry.register_pretrained(registry.PretrainedSpec(
        name=f"{arch}_{ds.lower()}", model=arch, path=WEIGHTS_DIR / f"{fname}_{ds}.h5",
        trained_on=f"{label} trained by the MesoNet authors on "
        + ("Deepfake (DF)" if ds == "DF" else "Face2Face (F2F)") + " face images (2018)",
        source=f"github.com/DariusAf/MesoNet weights/{fname}_{ds}.h5 (Apache-2.0)",
        caveat=MESONET_CAVEATS[f"{arch}_{ds.lower()}"]))
    for arch, fname, label in (("mesoinception4", "MesoInception", "MesoInception4"),
                               ("meso4", "Meso4", "Meso4"))
    for ds in ("DF", "F2F")
]
#: The model ``python -m clrnet.predict`` uses without ``--model``.
DEFAULT_PRETRAINED = "mesoinception4_df"
