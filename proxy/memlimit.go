package proxy

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// The soft memory limit: the Go runtime collects garbage harder as the
// heap nears it, so the proxy gives memory back before the container's
// hard limit kills it. It is a target, not a bound: the bounds in
// limits.go are what keep live memory under it.

// MemoryLimitAuto is -memory-limit's default: GOMEMLIMIT when set, else
// three quarters of the container's memory limit (the rest is the
// binary's own pages, the supervising process and headroom), else none.
const MemoryLimitAuto = "auto"

// SetMemoryLimit applies -memory-limit (auto, off, or a size such as
// 48MiB) and returns the limit set (0: none) and where it came from.
func SetMemoryLimit(flag string) (int64, string, error) {
	switch flag {
	case MemoryLimitAuto:
		if os.Getenv("GOMEMLIMIT") != "" {
			return debug.SetMemoryLimit(-1), "GOMEMLIMIT", nil
		}
		data, _ := os.ReadFile("/proc/self/cgroup")
		if max, ok := containerMemoryLimit("/sys/fs/cgroup", data); ok {
			limit := max / 4 * 3
			debug.SetMemoryLimit(limit)
			return limit, "3/4 of the cgroup's memory limit", nil
		}
		return 0, "none: no GOMEMLIMIT, no cgroup memory limit", nil
	case "off":
		debug.SetMemoryLimit(math.MaxInt64)
		return 0, "off", nil
	}
	n, err := ParseSize(flag)
	if err != nil {
		return 0, "", fmt.Errorf("-memory-limit %q: want auto, off or a size such as 48MiB", flag)
	}
	debug.SetMemoryLimit(n)
	return n, "-memory-limit", nil
}

// ParseSize parses a byte count with an optional B, KiB, MiB or GiB
// suffix (as GOMEMLIMIT does).
func ParseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = rest, u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	return n * mult, nil
}

// containerMemoryLimit reads the memory limit of the cgroup the process
// is in, given /proc/self/cgroup's content and where cgroupfs is mounted:
// cgroup v2's memory.max, or v1's memory.limit_in_bytes; ok false when
// there is none ("max", or v1's page-rounded 2^63).
func containerMemoryLimit(root string, procSelfCgroup []byte) (int64, bool) {
	var candidates []string
	for _, line := range strings.Split(string(procSelfCgroup), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		switch {
		case f[0] == "0" && f[1] == "":
			candidates = append(candidates, filepath.Join(root, f[2], "memory.max"), filepath.Join(root, "memory.max"))
		case strings.Contains(","+f[1]+",", ",memory,"):
			candidates = append(candidates, filepath.Join(root, "memory", f[2], "memory.limit_in_bytes"), filepath.Join(root, "memory", "memory.limit_in_bytes"))
		}
	}
	for _, c := range candidates {
		data, err := os.ReadFile(c)
		if err != nil {
			continue
		}
		v := strings.TrimSpace(string(data))
		if v == "max" {
			return 0, false
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 || n >= 1<<62 {
			return 0, false
		}
		return n, true
	}
	return 0, false
}
