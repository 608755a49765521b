package proxy

import (
	"os"
	"path/filepath"
	"testing"
)

// TestContainerMemoryLimit: the limit is read from cgroup v2's memory.max
// or v1's memory.limit_in_bytes, at the process's cgroup path or, in a
// container's own cgroup namespace, at the root; "max" and v1's
// unlimited value mean none.
func TestContainerMemoryLimit(t *testing.T) {
	root := t.TempDir()
	write := func(rel, v string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("memory.max", "67108864")                                // v2, container namespace: 64 MiB
	write("kubepods/pod1/c1/memory.max", "max")                    // v2, unlimited
	write("memory/memory.limit_in_bytes", "9223372036854771712")   // v1 root, unlimited
	write("memory/kubepods/c2/memory.limit_in_bytes", "134217728") // v1, 128 MiB
	for name, tc := range map[string]struct {
		cgroup string
		want   int64
		ok     bool
	}{
		"v2 in its namespace":   {"0::/\n", 64 << 20, true},
		"v2 unlimited":          {"0::/kubepods/pod1/c1\n", 0, false},
		"v1 with a limit":       {"12:pids:/x\n4:memory:/kubepods/c2\n1:cpu,cpuacct:/y\n", 128 << 20, true},
		"v1 unlimited":          {"4:memory:/elsewhere\n", 0, false},
		"v1 hybrid, v2 unified": {"4:memory:/kubepods/c2\n0::/\n", 128 << 20, true},
		"nothing":               {"", 0, false},
	} {
		got, ok := containerMemoryLimit(root, []byte(tc.cgroup))
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: %d %v, want %d %v", name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"48MiB": 48 << 20, "1GiB": 1 << 30, "512KiB": 512 << 10, "1000B": 1000, "4096": 4096, "0": -1, "-1MiB": -1, "48Mi": -1, "MiB": -1} {
		got, err := ParseSize(in)
		if want < 0 && err == nil || want >= 0 && got != want {
			t.Errorf("ParseSize(%q) = %d, %v", in, got, err)
		}
	}
}
