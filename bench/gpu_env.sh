# Sourced by the bench/*_gpu.sh scripts: the environment of one device call. The device has torch and OpenCV
# but not PyAV: a stub `av` lets the CLI import (nothing run there decodes with it). Needs $OUT set.
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
mkdir -p /tmp/stub/av "$OUT/w"
python3 -c "import av" 2>/dev/null || \
  echo 'def __getattr__(name): raise ImportError("PyAV is not installed on this machine")' > /tmp/stub/av/__init__.py
export PYTHONPATH=/tmp/stub:$PWD
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.is_available())"
