#!/usr/bin/env bash
# Explain your own classifier, end to end: register EfficientNet-Lite2 through this plugin, fine-tune the shipped
# EfficientNet-Lite0 masker for it, evaluate it on val_dev, export it, and run the export in plain torch.
#
#   bash examples/efficientnet_lite2_plugin/walkthrough.sh                 # the README's run (STEPS=250)
#   STEPS=2 BATCH=2 EVAL_LIMIT=4 bash examples/efficientnet_lite2_plugin/walkthrough.sh   # a smoke run (CI)
#
# DATA (default ../shared/data beside the checkout, or $BLACKBOX_SALIENCY_DATA) must hold imagenet/sample,
# imagenet/train_extra and imagenet/val_dev. OUT (default runs/lite2_walkthrough) receives everything.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
DATA="${BLACKBOX_SALIENCY_DATA:-$repo/../shared/data}"
OUT="${OUT:-runs/lite2_walkthrough}"
STEPS="${STEPS:-250}"
BATCH="${BATCH:-16}"
EVAL_LIMIT="${EVAL_LIMIT:-200}"
THREADS="${THREADS:-2}"
mkdir -p "$OUT"

# 1. the plugin: after this, `efficientnet_lite2` is a classifier name like any built-in one
# (INSTALL=0 skips the install when the caller put the plugin on the path itself, as the CI test does)
if [ "${INSTALL:-1}" = 1 ]; then python -m pip install --quiet "$here"; fi
blackbox-saliency plugins | grep efficientnet_lite2

# 2. fine-tune the shipped masker (EfficientNet-Lite0 encoder, frozen) against the new black box
start=$(date +%s)
blackbox-saliency train --classifier efficientnet_lite2 --init-from efficientnet_lite0 \
  --data "$DATA/imagenet/sample" --data "$DATA/imagenet/train_extra" --augment heavy \
  --steps "$STEPS" --batch-size "$BATCH" --lr 5e-4 --lr-schedule cosine --tv-coef 30 --area-coef 12 \
  --val-every 0 --checkpoint-every 50 --log-every 10 --threads "$THREADS" --no-progress --overwrite --out "$OUT/run"
echo "training took $(( $(date +%s) - start )) s"

# 3. evaluate it on val_dev against the central box, Grad-CAM and CAM, for this black box
blackbox-saliency evaluate --methods masker,gradcam,cam,center --masker "$OUT/run/masker.pt" --classifier efficientnet_lite2 \
  --data "$DATA/imagenet/val_dev" --limit "$EVAL_LIMIT" --deletion-steps 0 --threads "$THREADS" --no-progress \
  --out "$OUT/val_dev_efficientnet_lite2"

# 4. export it and run the file with nothing but torch
blackbox-saliency export --masker "$OUT/run/masker.pt" --format torchscript --size 260 --out "$OUT/lite2_masker.pt"
python - "$OUT/lite2_masker.pt" <<'PY'
import sys, torch
masker = torch.jit.load(sys.argv[1])
masks = masker(torch.rand(2, 3, 260, 260), torch.tensor([281, 967]))  # tabby cat, espresso
print("plain torch:", tuple(masks.shape), "masks in", round(float(masks.min()), 3), "..", round(float(masks.max()), 3),
      "library imported:", any(name.startswith("blackbox_saliency") for name in sys.modules))
PY
