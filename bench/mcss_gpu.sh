#!/bin/bash
# The MCSS supervision-level table (seed 002, Table 1 / Fig. 3 on our renders) in one GPU call:
# MCSS and the baseline at three supervision levels, six `posecli train mcss` runs side by side on one GPU,
# same data, steps and seed; each card holds its held-out metrics. Run from the repo root:
#   bench/mcss_gpu.sh PACKED_TRAIN PACKED_VAL OUT [STEPS] [MINUTES]
# PACKED_* are H.264 crop packs (posecli.images.pack) so the data fits the device's transfer limit.
# The device has torch and OpenCV but not PyAV: a stub `av` lets the CLI import (nothing here decodes with it).
set -u
TRAIN=$1; VAL=$2; OUT=$3; STEPS=${4:-6000}; MINUTES=${5:-6.5}
source "$(dirname "$0")/gpu_env.sh"
python3 - "$TRAIN" "$VAL" <<'PY'
import sys, time
from posecli.images.pack import unpack_cache
t = time.time()
unpack_cache(sys.argv[1], "/tmp/crops_train"); unpack_cache(sys.argv[2], "/tmp/crops_val")
print(f"unpacked in {time.time() - t:.1f} s")
PY
run() {  # name, extra options
  local name=$1; shift
  python3 -m posecli train mcss --data cache:/tmp/crops_train --val cache:/tmp/crops_val --steps "$STEPS" \
    --max-minutes "$MINUTES" --seed 0 --device "${DEVICE:-cuda}" -q -o "$OUT/w/$name.safetensors" "$@" > "$OUT/w/$name.log" 2>&1
  echo "$name exit $?"
}
run mcss_all &
run baseline_all --baseline &
run mcss_one --label-subjects 0.2 &
run baseline_one --label-subjects 0.2 --baseline &
run mcss_low --label-subjects 0.2 --label-fraction 0.05 &
run baseline_low --label-subjects 0.2 --label-fraction 0.05 --baseline &
wait
python3 - "$OUT" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
for card in sorted((out / "w").glob("*.json")):
    c = json.loads(card.read_text())
    print(card.stem, c["history"][-1], json.dumps(c["metrics"]["held_out"]))
PY
tail -n 3 "$OUT"/w/*.log
# What comes back: the cards and logs in one archive, the shipped model (MCSS, all labels) in two parts
# (the transfer limit is 16 MiB a file).
tar czf "$OUT/cards.tgz" -C "$OUT/w" $(cd "$OUT/w" && ls *.json *.log)
split -b 15M "$OUT/w/mcss_all.safetensors" "$OUT/mcss_all.safetensors.part_"
rm -rf "$OUT/w"
ls -la "$OUT"
