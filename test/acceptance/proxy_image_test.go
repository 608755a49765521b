//go:build acceptance

package acceptance

// examples/runner/proxy-image/Containerfile, checked as far as a machine
// without a container engine can: its go build line is run as written
// (in a copy of just the files it COPYs), the binary is static and holds
// no path of the machine that built it, it prints -version as the
// image's user, and the image's user, its PATH and its CA certificates
// are what proxy-pod.yaml and the proxy need.

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// containerfile is a Containerfile's instructions, continuation lines
// joined and comments left out, each as its keyword and the rest.
type instruction struct{ op, args string }

func containerfile(t testing.TB, text string) []instruction {
	t.Helper()
	var out []instruction
	var cur string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") && cur == "" {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			cur += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		cur += l
		if f := strings.Fields(cur); len(f) > 0 {
			out = append(out, instruction{strings.ToUpper(f[0]), strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(cur), f[0]))})
		}
		cur = ""
	}
	return out
}

func TestExamplesProxyImage(t *testing.T) {
	t.Parallel()
	const rel = "examples/runner/proxy-image/Containerfile"
	ins := containerfile(t, readExample(t, "runner", "proxy-image", "Containerfile"))
	pod := proxyPod(t)

	// The stages: the build stage (the first FROM) and the image (the last).
	var stages [][]instruction
	args := map[string]string{}
	for _, in := range ins {
		switch {
		case in.op == "FROM":
			stages = append(stages, nil)
		case len(stages) == 0 && in.op == "ARG":
			k, v, _ := strings.Cut(in.args, "=")
			args[k] = v
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], in)
		}
	}
	if len(stages) != 2 {
		t.Fatalf("%s: %d stages, want a build stage and the image", rel, len(stages))
	}
	build, image := stages[0], stages[1]

	// The build stage's Go is go.mod's.
	gomod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	from := strings.ReplaceAll(build[0].args, "${GO_VERSION}", args["GO_VERSION"])
	if goVersion == nil || !strings.Contains(from, "golang:"+string(goVersion[1])+"-") {
		t.Errorf("%s: the build stage is FROM %s; go.mod wants Go %s", rel, from, goVersion[1])
	}

	// The image: nothing but what it copies; the binary on its PATH, the
	// CA certificates where Go looks first, a numeric user that is not
	// root and is proxy-pod.yaml's.
	if image[0].args != "scratch" {
		t.Errorf("%s: the image is FROM %s; want scratch (no shell, nothing else)", rel, image[0].args)
	}
	var binDir, user, path string
	certs := false
	for _, in := range image {
		switch in.op {
		case "COPY":
			f := strings.Fields(in.args)
			dst := f[len(f)-1]
			if filepath.Base(dst) == "github-token-proxy" {
				binDir = filepath.Dir(dst)
			}
			if dst == "/etc/ssl/certs/ca-certificates.crt" {
				certs = true
			}
		case "USER":
			user = in.args
		case "ENV":
			if v, ok := strings.CutPrefix(in.args, "PATH="); ok {
				path = v
			}
		case "RUN":
			t.Errorf("%s: the image runs %q; it has no shell to run it with", rel, in.args)
		}
	}
	if binDir == "" || !slices.Contains(filepath.SplitList(path), binDir) || pod.proxyArgs[0] != "github-token-proxy" {
		t.Errorf("%s: the binary goes to %q, the image's PATH is %q; proxy-pod.yaml runs %q by name", rel, binDir, path, pod.proxyArgs[0])
	}
	if !certs {
		t.Errorf("%s: the image has no /etc/ssl/certs/ca-certificates.crt (the proxy's system roots, and -ca-bundle-out's)", rel)
	}
	uid, gid, _ := strings.Cut(user, ":")
	if !regexp.MustCompile(`^[1-9][0-9]*$`).MatchString(uid) || !regexp.MustCompile(`^[0-9]+$`).MatchString(gid) {
		t.Errorf("%s: USER %q; want a numeric user other than root, and a numeric group", rel, user)
	}
	if uid != pod.uid || gid != pod.gid {
		t.Errorf("%s: USER %s:%s; proxy-pod.yaml runs the proxy as %s:%s", rel, uid, gid, pod.uid, pod.gid)
	}

	// The build, as the build stage runs it: the files it copies, then
	// its go build line.
	src := filepath.Join(t.TempDir(), "src")
	var goBuild string
	for _, in := range build {
		switch in.op {
		case "COPY":
			f := strings.Fields(in.args)
			for _, s := range f[:len(f)-1] {
				copyTree(t, filepath.Join(repoRoot, s), filepath.Join(src, s))
			}
		case "RUN":
			if strings.Contains(in.args, "go build") {
				goBuild = in.args
			}
		}
	}
	if !strings.Contains(goBuild, "CGO_ENABLED=0 ") || !strings.Contains(goBuild, " -trimpath ") || !strings.Contains(goBuild, "-o /out/github-token-proxy ") {
		t.Fatalf("%s: the build %q; want CGO_ENABLED=0, -trimpath and -o /out/github-token-proxy", rel, goBuild)
	}
	out := t.TempDir()
	const version = "v0.0.0-image-test"
	script := strings.ReplaceAll(goBuild, "/out/", out+"/")
	stdout, stderr, err := runBounded(t, src, append(os.Environ(), "VERSION="+version), "", 10*time.Minute, "bash", "-euo", "pipefail", "-c", script)
	if err != nil {
		t.Fatalf("%s's go build, in a copy of only what it copies: %v\n%s%s", rel, err, stdout, stderr)
	}
	bin := filepath.Join(out, "github-token-proxy")

	// Static: no interpreter, no dynamic section.
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary has a %v program header: not static", p.Type)
		}
	}
	if f.Section(".interp") != nil || f.Section(".dynamic") != nil {
		t.Error("the binary has an .interp or .dynamic section: not static")
	}
	f.Close()
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{src, repoRoot}
	if goenv, err := exec.Command("go", "env", "GOROOT", "GOMODCACHE").Output(); err == nil {
		paths = append(paths, strings.Fields(string(goenv))...)
	}
	for _, p := range paths {
		if len(p) > 1 && bytes.Contains(data, []byte(p)) {
			t.Errorf("the binary holds the build machine's path %s (-trimpath)", p)
		}
	}

	// -version as the image's user: the binary where that user can reach
	// it (a temporary directory it may enter), nothing in the environment.
	cmd := exec.Command(bin, "-version")
	if os.Getuid() == 0 {
		pub, err := os.MkdirTemp("", "proxy-image-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(pub) })
		if err := os.Chmod(pub, 0o755); err != nil {
			t.Fatal(err)
		}
		runAs := filepath.Join(pub, "github-token-proxy")
		if err := os.WriteFile(runAs, data, 0o755); err != nil {
			t.Fatal(err)
		}
		var u, g uint32
		for _, x := range []struct {
			s string
			p *uint32
		}{{uid, &u}, {gid, &g}} {
			n := uint32(0)
			for _, c := range x.s {
				n = n*10 + uint32(c-'0')
			}
			*x.p = n
		}
		cmd = exec.Command(runAs, "-version")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u, Gid: g, Groups: []uint32{}}}
	} else {
		t.Logf("not root: -version runs as uid %d, which is not root either", os.Getuid())
	}
	cmd.Env = []string{}
	cmd.Dir = "/"
	got, err := cmd.CombinedOutput()
	if err != nil || string(got) != "github-token-proxy "+version+"\n" {
		t.Errorf("github-token-proxy -version as %s: %v, %q", user, err, got)
	}
}

// copyTree copies a file or a directory tree.
func copyTree(t testing.TB, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if fi.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, data, fi.Mode().Perm())
	})
	if err != nil {
		t.Fatalf("copying %s: %v", from, err)
	}
}
