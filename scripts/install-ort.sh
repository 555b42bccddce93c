#!/usr/bin/env bash
# install-ort.sh — put ONNX Runtime 1.29.0 (CPU) under third_party/onnxruntime/,
# and with --cuda also its CUDA execution provider libraries.
#
# The libraries come from npm packages that ship them (DESIGN.md section 5),
# fetched with `npm pack` (never `npm install`: onnxruntime-node's postinstall
# downloads from the web) and checked against the sha512 integrity pinned below.
# Idempotent: a library already in place with the right checksum is kept.
#
# --pieces DIR then splits every installed library into pieces of at most
# --piece-size bytes (default 50 MiB, under a 64 MiB transfer limit) in DIR,
# with a manifest LIB.pieces of sha256 sums (the whole file first, then each
# piece). --join DIR, on the machine the pieces were sent to, checks every
# piece and the joined file against the manifest and only then puts the
# library in place; it needs neither npm nor the network.
#
# Usage: scripts/install-ort.sh [--cuda] [--dest DIR] [--pieces DIR [--piece-size BYTES]]
#        scripts/install-ort.sh --join DIR [--dest DIR]
set -euo pipefail

dest="$(cd "$(dirname "$0")/.." && pwd)/third_party/onnxruntime"
cuda=0 pieces="" join="" piece_size=$((50 << 20))
while [ $# -gt 0 ]; do
  case "$1" in
    --cuda) cuda=1 ;;
    --dest) dest="${2:?--dest needs a directory}"; shift ;;
    --pieces) pieces="${2:?--pieces needs a directory}"; shift ;;
    --piece-size) piece_size="${2:?--piece-size needs a byte count}"; shift ;;
    --join) join="${2:?--join needs a directory}"; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "install-ort.sh: unknown argument $1 (want --cuda, --dest DIR, --pieces DIR, --piece-size BYTES or --join DIR)" >&2; exit 2 ;;
  esac
  shift
done
case "$piece_size" in
  ''|*[!0-9]*|0) echo "install-ort.sh: --piece-size $piece_size: want a positive byte count" >&2; exit 2 ;;
esac
mkdir -p "$dest"

# LIB.sha512 holds "SIZE SHA512" of LIB as installed; taetctl checks it before
# loading LIB (ort.CheckLibrary), so a truncated or changed library is an error
# that says to reinstall, not a crash, and this script replaces such a library.
sizesum() { echo "$(stat -c %s "$1") $(sha512sum "$1" | cut -d' ' -f1)"; }
record() { sizesum "$1" > "$1.sha512"; }
intact() { [ -f "$1" ] && [ -f "$1.sha512" ] && [ "$(cat "$1.sha512")" = "$(sizesum "$1")" ]; }

# join_pieces DIR: for each DIR/LIB.pieces, verify the pieces, join them, verify
# the whole, and rename it to $dest/LIB. A bad or missing piece installs nothing.
join_pieces() {
  local dir="$1" manifest lib sum name n=0
  for manifest in "$dir"/*.pieces; do
    [ -f "$manifest" ] || continue
    n=$((n + 1))
    lib="$(basename "$manifest" .pieces)"
    local tmp="$dest/.$lib.joining"
    : > "$tmp"
    while read -r sum name; do
      [ "$name" = "$lib" ] && continue
      if [ ! -f "$dir/$name" ]; then
        echo "install-ort.sh: piece $dir/$name listed in $manifest is missing" >&2; rm -f "$tmp"; exit 1
      fi
      if [ "$(sha256sum < "$dir/$name" | cut -d' ' -f1)" != "$sum" ]; then
        echo "install-ort.sh: piece $dir/$name is corrupt (sha256 differs from $manifest); send it again" >&2; rm -f "$tmp"; exit 1
      fi
      cat "$dir/$name" >> "$tmp"
    done < "$manifest"
    sum="$(awk -v lib="$lib" '$2 == lib {print $1}' "$manifest")"
    if [ -z "$sum" ] || [ "$(sha256sum < "$tmp" | cut -d' ' -f1)" != "$sum" ]; then
      echo "install-ort.sh: $lib joined from $dir does not match the sha256 in $manifest" >&2; rm -f "$tmp"; exit 1
    fi
    chmod 755 "$tmp"
    mv -f "$tmp" "$dest/$lib"   # rename: never a half-written library
    record "$dest/$lib"
    echo "install-ort.sh: joined $dest/$lib" >&2
  done
  if [ "$n" = 0 ]; then
    echo "install-ort.sh: no LIB.pieces manifest in $dir (make them with --pieces)" >&2; exit 1
  fi
}

if [ -n "$join" ]; then
  join_pieces "$join"
  exit 0
fi

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
  command -v npm >/dev/null || { echo "install-ort.sh: npm is needed (apt-get install npm)" >&2; exit 1; }
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

# split_pieces DIR: every library in $dest as pieces in DIR, with its manifest
# written last, so an interrupted split leaves no manifest to join from.
split_pieces() {
  local dir="$1" path lib
  mkdir -p "$dir"
  for path in "$dest"/lib*.so*; do
    lib="$(basename "$path")"
    case "$lib" in *.part-*|*.sha512) continue ;; esac   # pieces made inside $dest, size and hash records
    rm -f "$dir/$lib.pieces" "$dir/$lib".part-*
    split -b "$piece_size" -d -a 3 "$path" "$dir/$lib.part-"
    (
      cd "$dir"
      sha256sum < "$path" | sed "s|-\$|$lib|"
      sha256sum "$lib".part-*
    ) > "$dir/.$lib.pieces.tmp"
    mv -f "$dir/.$lib.pieces.tmp" "$dir/$lib.pieces"
    echo "install-ort.sh: $lib in $(ls "$dir/$lib".part-* | wc -l) pieces in $dir" >&2
  done
}

if [ -n "$pieces" ]; then
  split_pieces "$pieces"
fi
