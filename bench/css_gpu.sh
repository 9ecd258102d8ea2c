#!/bin/bash
# The CSS label-fraction table (seed 001, Table 1 / 5 on our renders) in one GPU call: the full method and the
# three baselines (css, ae, dsl), four `posecli train css` runs side by side on one GPU, same data, sizes, steps
# and seed, then `bench/css_eval.py` on all four (N-MPJPE at 1 / 10 / 100 % labels, K-means TV vs TI). CPU runs
# of 1,500-4,500 steps learnt nothing usable (docs/benchmarks.md, "train css"); this is the longer run. From the
# repo root:
#   bench/css_gpu.sh PACKED_TRAIN PACKED_VAL OUT [STEPS] [MINUTES] [WIDTH]
# PACKED_* are H.264 packs of frame caches (posecli.images.pack.pack_cache of a `train css --cache` folder; ~0.7
# kB a 128 px frame) so the data fits the device's transfer limit. The device has torch and OpenCV but not PyAV:
# a stub `av` lets the CLI import (nothing here decodes with it).
set -u
TRAIN=$1; VAL=$2; OUT=$3; STEPS=${4:-100000}; MINUTES=${5:-7}; WIDTH=${6:-64}
source "$(dirname "$0")/gpu_env.sh"
python3 - "$TRAIN" "$VAL" <<'PY'
import sys, time
from posecli.images.pack import unpack_cache
t = time.time()
unpack_cache(sys.argv[1], "/tmp/frames_train"); unpack_cache(sys.argv[2], "/tmp/frames_val")
print(f"unpacked in {time.time() - t:.1f} s")
PY
run() {  # variant
  python3 -m posecli train css --data cache:/tmp/frames_train --val cache:/tmp/frames_val --variant "$1" \
    --steps "$STEPS" --max-minutes "$MINUTES" --width "$WIDTH" --label-fraction 0.25 --picture-every 2000 \
    --seed 0 --device "${DEVICE:-cuda}" -q -o "$OUT/w/$1.safetensors" > "$OUT/w/$1.log" 2>&1
  echo "$1 exit $?"
}
for v in full css ae dsl; do run $v & done
wait
python3 bench/css_eval.py --train cache:/tmp/frames_train --heldout cache:/tmp/frames_val --device "${DEVICE:-cuda}" \
  --weights "$OUT"/w/full.safetensors "$OUT"/w/css.safetensors "$OUT"/w/ae.safetensors "$OUT"/w/dsl.safetensors \
  --out "$OUT/css_eval.json" | tail -n 8
tail -n 3 "$OUT"/w/*.log
# What comes back: cards, logs and the last picture of each run in one archive, the full model in parts (the
# transfer limit is 16 MiB a file).
tar czf "$OUT/cards.tgz" -C "$OUT/w" $(cd "$OUT/w" && ls *.json *.log) $(cd "$OUT/w" && ls -d *_pictures)
split -b 15M "$OUT/w/full.safetensors" "$OUT/full.safetensors.part_"
rm -rf "$OUT/w"
ls -la "$OUT"
