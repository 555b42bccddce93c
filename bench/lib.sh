# bench/lib.sh — what bench/compare.sh and bench/fit-rss.sh share; they source it
# from the repository root after parsing their arguments.
#   py      Debian's python3, whose python3-torch is the reference
#   tuned   the GLIBC_TUNABLES of PyTorch's tuned-malloc runs (DESIGN.md section 5)
#   TAET_ORT_LIB, exported: the ONNX Runtime that make ort installs, unless set

py=/usr/bin/python3
tuned='glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184'
export TAET_ORT_LIB=${TAET_ORT_LIB:-$PWD/third_party/onnxruntime/libonnxruntime.so.1}

# need_torch SCRIPT: exits 10, naming SCRIPT, unless python3-torch and GNU time are installed.
need_torch() {
  if ! $py -c 'import torch' 2>/dev/null || [ ! -x /usr/bin/time ]; then
    echo "$1: needs Debian's python3-torch and time: run 'make bench-deps' (apt-get install python3-torch time libopenblas0-pthread)" >&2
    exit 10
  fi
}
