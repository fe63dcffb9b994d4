#!/usr/bin/env bash
# Create one virtual environment per peer instrumentation under benchmarks/.venvs/<name>.
#
# Each peer gets its own environment because their pins (opentelemetry-util-genai, semantic
# conventions, instrumentation) disagree with each other and with tokentrace's development env.
# Every environment gets the same openai and OpenTelemetry SDK versions as the main one, so the
# bare-SDK cost the percentages are taken against is the same code everywhere. tokentrace itself is
# not installed there: a peer's process never imports it, and it would only add resolver constraints
# (the benchmark code is found through PYTHONPATH).
#
# Usage: bash benchmarks/setup_peers.sh [name ...]   (default: all; PYTHON=python3.11 to choose)
# Needs only PyPI. Re-running reuses existing environments (pip is idempotent).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"
openai_pin="${BENCH_OPENAI_VERSION:-openai==3.54.0}"
sdk_pin="${BENCH_OTEL_SDK_VERSION:-opentelemetry-sdk==1.45.2}"

declare -A peers=(
  # The contrib copy still does `from httpx import URL` (openai 3.x depends on httpx2 only); <1
  # because --pre would otherwise pick an httpx 1.0 development release. Its last release (2.4b0)
  # imports opentelemetry.util.genai.instruments, which util-genai 1.x no longer has.
  [contrib-openai-v2]="opentelemetry-instrumentation-openai-v2 httpx<1 opentelemetry-util-genai<1"
  [genai-openai]="opentelemetry-instrumentation-genai-openai"
  [openllmetry]="opentelemetry-instrumentation-openai"
  [openinference]="openinference-instrumentation-openai"
)

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  names=(contrib-openai-v2 genai-openai openllmetry openinference)
fi

status=0
for name in "${names[@]}"; do
  packages="${peers[$name]:-}"
  if [ -z "$packages" ]; then
    echo "unknown peer: $name (known: ${!peers[*]})" >&2
    exit 2
  fi
  venv="$here/.venvs/$name"
  echo "== $name: $packages -> $venv"
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  # --pre: the OpenTelemetry GenAI packages are only published as betas (2.4b0, 1.3b0, ...).
  if ! "$venv/bin/python" -m pip install --quiet --pre $packages "$openai_pin" "$sdk_pin"; then
    echo "!! $name: pinned install failed; retrying with the peer's own choice of SDK version" >&2
    "$venv/bin/python" -m pip install --quiet --pre $packages "$openai_pin" || status=1
  fi
  "$venv/bin/python" -m pip freeze 2>/dev/null \
    | grep -i -E "^(openai|opentelemetry-(sdk|api|util-genai|instrumentation-.*)|openinference-.*)==" || true
done
exit $status
