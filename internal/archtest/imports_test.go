package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/pagemill/pagemill"

// TestImportsFlowOneWay checks the layering the design asks for: every
// package may use schema, schema uses no other pagemill package, the
// pipeline packages do not reach into the command layer, and nothing
// imports cmd.
func TestImportsFlowOneWay(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}:{{join .Imports " "}}`, module+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	// forbidden[pkg] lists import prefixes pkg must not use.
	forbidden := map[string][]string{
		"schema":  {module + "/"},
		"ingest":  {module + "/cmd", module + "/internal/cli", module + "/serve"},
		"streams": {module + "/cmd", module + "/internal/cli", module + "/ingest", module + "/redo", module + "/serve"},
		"redo":    {module + "/cmd", module + "/internal/cli", module + "/ingest", module + "/serve"},
		"serve":   {module + "/cmd", module + "/internal/cli", module + "/ingest"},
		"ops":     {module + "/cmd", module + "/internal/cli"},
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ":")
		rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
		for _, imp := range strings.Fields(imports) {
			if strings.HasPrefix(imp, module+"/cmd") {
				t.Errorf("%s imports %s: nothing may import cmd", pkg, imp)
			}
			for _, bad := range forbidden[rel] {
				if strings.HasPrefix(imp, bad) {
					t.Errorf("%s imports %s", pkg, imp)
				}
			}
		}
		seen++
	}
	if seen < 8 {
		t.Fatalf("go list found only %d packages", seen)
	}
}
