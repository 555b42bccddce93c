#!/usr/bin/env bash
# quickstart.sh — the main job on a small embedded default. It grows with
# taetctl: today it checks the runtime and summarises long-tailed Fashion-MNIST.
set -euo pipefail
cd "$(dirname "$0")/.."
bin/taetctl version
