#!/usr/bin/env bash
# install-ort.sh — put ONNX Runtime 1.29.0 (CPU) under third_party/onnxruntime/,
# and with --cuda also its CUDA execution provider libraries.
#
# The libraries come from npm packages that ship them (DESIGN.md section 5),
# fetched with `npm pack` (never `npm install`: onnxruntime-node's postinstall
# downloads from the web) and checked against the sha512 integrity pinned below.
# Idempotent: a library already in place with the right checksum is kept.
#
# Usage: scripts/install-ort.sh [--cuda] [--dest DIR]
set -euo pipefail

dest="$(cd "$(dirname "$0")/.." && pwd)/third_party/onnxruntime"
cuda=0
while [ $# -gt 0 ]; do
  case "$1" in
    --cuda) cuda=1 ;;
    --dest) dest="$2"; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "install-ort.sh: unknown argument $1 (want --cuda or --dest DIR)" >&2; exit 2 ;;
  esac
  shift
done

command -v npm >/dev/null || { echo "install-ort.sh: npm is needed (apt-get install npm)" >&2; exit 1; }
mkdir -p "$dest"

# LIB.sha512 holds "SIZE SHA512" of LIB as installed; taetctl checks it before
# loading LIB (ort.CheckLibrary), so a truncated or changed library is an error
# that says to reinstall, not a crash, and this script replaces such a library.
sizesum() { echo "$(stat -c %s "$1") $(sha512sum "$1" | cut -d' ' -f1)"; }
record() { sizesum "$1" > "$1.sha512"; }
intact() { [ -f "$1" ] && [ -f "$1.sha512" ] && [ "$(cat "$1.sha512")" = "$(sizesum "$1")" ]; }

# fetch PACKAGE@VERSION INTEGRITY DIR LIB...: npm pack, verify the tarball, and put
# DIR/LIB of the package at $dest/LIB for each LIB. A stamp file records what is installed.
fetch() {
  local spec="$1" integrity="$2" dir="$3"; shift 3
  local stamp="$dest/.${spec%@*}.integrity" lib missing=0
  for lib in "$@"; do intact "$dest/$lib" || missing=1; done
  if [ "$missing" = 0 ] && [ "$(cat "$stamp" 2>/dev/null)" = "$integrity" ]; then
    echo "install-ort.sh: $* already installed from $spec" >&2
    return
  fi
  local tmp; tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  echo "install-ort.sh: fetching $spec with npm pack" >&2
  (cd "$tmp" && npm pack --silent "$spec" >/dev/null)
  local tgz; tgz="$(ls "$tmp"/*.tgz)"
  local got; got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  if [ "$got" != "$integrity" ]; then
    echo "install-ort.sh: checksum mismatch for $spec: got $got, want $integrity" >&2
    exit 1
  fi
  for lib in "$@"; do
    tar -xzf "$tgz" -C "$tmp" --no-same-owner "$dir/$lib"
    mv -f "$tmp/$dir/$lib" "$dest/$lib.tmp"
    mv -f "$dest/$lib.tmp" "$dest/$lib"   # rename: never a half-written library
    record "$dest/$lib"
    echo "install-ort.sh: installed $dest/$lib" >&2
  done
  echo "$integrity" > "$stamp"
}

fetch onnxruntime-node@1.29.0 \
  sha512-WjiVVB72riILz8HbYvxvmjKyE/WmkYoSfKY++axo5jAR609HQg8MwiG/HhShpTcJfmmAdzxxmB+MMST3A+SiPA== \
  package/bin/napi-v6/linux/x64 libonnxruntime.so.1

if [ "$cuda" = 1 ]; then
  # ORT 1.29.0's CUDA 13 / cuDNN 9 provider and the shared provider bridge, built
  # to load beside the official core library.
  fetch com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9 \
    sha512-FopIhNE/Ng+v2X65wVc9clPCBCvhvA53Hxo2U0Kf5fGdVsC7iCA+mZ0KLWggcQAj7TIZ6pNidR4AC10g74Xo6w== \
    package/Plugins/Linux/x64 libonnxruntime_providers_shared.so libonnxruntime_providers_cuda.so
fi
