package main

import (
	"os"
	"syscall"
)

// mallocTunables keeps glibc from returning freed memory to the kernel after
// every large allocation. ONNX Runtime allocates and frees big activation
// buffers on every run; with glibc's defaults that turns into mmap/munmap and
// page faults, which cost a ResNet-18 training step 40% of its time on
// 2 cores (16.9 img/s stock, 28.4 img/s tuned; DESIGN.md section 5 saw the
// same for PyTorch).
const mallocTunables = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184"

// tuneMalloc re-executes taetctl with GLIBC_TUNABLES set, since glibc reads
// it only at start-up. It does nothing when GLIBC_TUNABLES is already set
// (the user's choice wins), when TAET_MALLOC_TUNING=off, or when the
// re-execution fails (taetctl then runs untuned).
func tuneMalloc() {
	if os.Getenv("GLIBC_TUNABLES") != "" || os.Getenv("TAET_MALLOC_TUNING") == "off" {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	env := append(os.Environ(), "GLIBC_TUNABLES="+mallocTunables)
	_ = syscall.Exec(exe, os.Args, env) // returns only on failure
}
