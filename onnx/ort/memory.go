package ort

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// AvailableMemory returns the bytes of memory this process may still
// take: the kernel's MemAvailable (/proc/meminfo), or less where a cgroup
// v2 limit (memory.max less memory.current) leaves less; 0 if neither can
// be read.
func AvailableMemory() int64 {
	avail := memInfoAvailable()
	max, maxErr := readBytes("/sys/fs/cgroup/memory.max") // "max": no limit, an error
	cur, curErr := readBytes("/sys/fs/cgroup/memory.current")
	if maxErr == nil && curErr == nil && max > cur && (avail == 0 || max-cur < avail) {
		return max - cur
	}
	return avail
}

// memInfoAvailable returns /proc/meminfo's MemAvailable in bytes, or 0.
func memInfoAvailable() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if v, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// readBytes reads a file holding one number of bytes.
func readBytes(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}
