package ort

import (
	"fmt"
	"runtime"
)

// threadsPerCPU bounds Options.Threads: more intra-op threads than this
// per available CPU only make the threads wait for each other (1000 on 2
// CPUs made no progress in minutes).
const threadsPerCPU = 4

// AvailableCPUs returns the CPUs this process may use: the smaller of the
// CPUs in its affinity mask (runtime.NumCPU) and GOMAXPROCS, which Go sets
// from the cgroup CPU quota.
func AvailableCPUs() int { return min(runtime.NumCPU(), runtime.GOMAXPROCS(0)) }

// MaxThreads returns the largest thread count CheckThreads accepts:
// 4 × AvailableCPUs().
func MaxThreads() int { return threadsPerCPU * AvailableCPUs() }

// CheckThreads reports whether n is a usable Options.Threads: 0 (one
// thread per CPU) or 1…MaxThreads().
func CheckThreads(n int) error {
	if n < 0 || n > MaxThreads() {
		return fmt.Errorf("threads %d: want 1…%d (%d × the %d CPUs available), or 0 for one per CPU", n, MaxThreads(), threadsPerCPU, AvailableCPUs())
	}
	return nil
}
