//go:build acceptance

package acceptance

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
)

// TestExamplesApplyCommands: every `kubectl apply` the manifests' headers
// and the docs show applies files that exist and create every service
// account, ConfigMap and Secret the pods among them refer to (the pod's
// serviceAccountName, its volumes' configMap, secret and projected
// sources); every pod manifest has such a command.
func TestExamplesApplyCommands(t *testing.T) {
	t.Parallel()
	byFile := map[string][]k8sObject{}
	var podFiles []string
	for _, o := range k8sObjects(t) {
		base := filepath.Base(o.File)
		byFile[base] = append(byFile[base], o)
		if o.Kind == "Pod" && !slices.Contains(podFiles, base) {
			podFiles = append(podFiles, base)
		}
	}
	var sources []string
	manifests, err := filepath.Glob(examplePath("runner", "k8s", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range manifests {
		rel, _ := filepath.Rel(repoRoot, m)
		sources = append(sources, rel)
	}
	sources = append(sources, docFiles(t)...)
	applyRE := regexp.MustCompile(`kubectl apply((?:\s+-f\s+[^\s\x60|;&)]+)+)`)
	fileRE := regexp.MustCompile(`-f\s+(\S+)`)
	covered := map[string]bool{}
	commands := 0
	for _, src := range sources {
		data, err := os.ReadFile(filepath.Join(repoRoot, src))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range applyRE.FindAllStringSubmatch(string(data), -1) {
			commands++
			where := src + ": kubectl apply" + m[1]
			kinds := map[string]bool{}
			var files []string
			for _, f := range fileRE.FindAllStringSubmatch(m[1], -1) {
				base := filepath.Base(f[1])
				if _, ok := byFile[base]; !ok {
					t.Errorf("%s: %s is not a manifest under examples/runner/k8s", where, f[1])
					continue
				}
				files = append(files, base)
				for _, o := range byFile[base] {
					kinds[o.Kind+"/"+o.Name] = true
				}
			}
			for _, f := range files {
				for _, o := range byFile[f] {
					if o.Kind != "Pod" {
						continue
					}
					covered[f] = true
					spec := o.Raw["spec"]
					need := []string{"ServiceAccount/" + fieldString(spec, "serviceAccountName")}
					for _, v := range fieldList(spec, "volumes") {
						if cm := fieldString(v, "configMap", "name"); cm != "" {
							need = append(need, "ConfigMap/"+cm)
						}
						if s := fieldString(v, "secret", "secretName"); s != "" {
							need = append(need, "Secret/"+s)
						}
						for _, ps := range fieldList(v, "projected", "sources") {
							if cm := fieldString(ps, "configMap", "name"); cm != "" {
								need = append(need, "ConfigMap/"+cm)
							}
							if s := fieldString(ps, "secret", "name"); s != "" {
								need = append(need, "Secret/"+s)
							}
						}
					}
					for _, n := range need {
						if !kinds[n] {
							t.Errorf("%s: Pod %s (%s) needs %s, which none of these files creates", where, o.Name, f, n)
						}
					}
				}
			}
		}
	}
	for _, f := range podFiles {
		if !covered[f] {
			t.Errorf("%s: no documented kubectl apply command applies it", f)
		}
	}
	t.Logf("%d kubectl apply commands checked; pod manifests %v", commands, podFiles)
}
