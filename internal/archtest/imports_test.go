package archtest

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/pagemill/pagemill"

// layers lists every package of the module (relative to it) with the
// module's packages it may import. A package missing from the table fails
// the test, so a new package states its place when it is added.
var layers = map[string][]string{
	// PostgreSQL's formats and pure redo: the bottom.
	"schema":           {},
	"redo":             {"schema"},
	"serve/pagestream": {"schema"},
	// The log.
	"streams": {"schema"},
	"ingest":  {"schema", "streams"},
	// The page store and the materializer.
	"redo/pagestore":           {"schema", "redo"},
	"redo/materialize/applier": {"schema", "redo"},
	"redo/materialize":         {"schema", "redo", "redo/materialize/applier", "redo/pagestore", "streams"},
	"redo/rebuild":             {"schema", "redo/pagestore", "redo/materialize", "streams"},
	"restore":                  {"schema", "redo/pagestore", "redo/materialize", "streams"},
	"serve":                    {"schema", "redo/pagestore", "redo/materialize", "restore", "serve/pagestream"},
	"serve/client":             {"schema", "serve/pagestream"},
	"ops":                      {},
	// Wiring, commands and test harnesses.
	"ops/node": {"schema", "redo/pagestore", "redo/materialize", "redo/rebuild", "restore", "streams", "ingest",
		"serve", "ops"},
	"internal/cli": {"schema", "redo", "redo/materialize", "redo/rebuild", "restore", "streams", "serve", "serve/client",
		"serve/pagestream", "ops", "ops/node", "internal/scratchpg"},
	"cmd/pagemill": {"internal/cli"},
	// The benchmarks: a command of their own, so that pagemill links none
	// of them (TestPagemillLinksNoTestCode).
	"internal/bench":                {"schema", "redo", "redo/pagestore", "redo/materialize", "restore", "streams", "ingest", "ops", "ops/node", "internal/scratchpg"},
	"cmd/pagemill-bench":            {"internal/bench"},
	"internal/scratchpg":            {},
	"internal/pgtest":               {"internal/scratchpg"},
	"internal/natstest":             {"streams"},
	"internal/testwal":              {"schema", "internal/pgtest"},
	"internal/pipetest":             {"schema", "redo", "redo/pagestore", "redo/materialize", "streams", "ingest", "ops/node", "internal/pgtest"},
	"internal/archtest":             {},
	"internal/tools/waltools":       {"schema", "internal/pgtest"},
	"internal/tools/mkredotestdata": {"schema", "redo", "internal/pgtest", "internal/tools/waltools"},
	"internal/tools/mkwaltestdata":  {"schema", "internal/pgtest", "internal/tools/waltools"},
}

// pure packages do no I/O of their own: no NATS, Badger, pgx, network.
// (schema reads WAL directories and pg_control through an fs.FS the caller
// opens.)
var pure = map[string][]string{
	"schema":                   {"github.com/nats-io/", "github.com/dgraph-io/", "github.com/jackc/", "net", "os", "os/exec"},
	"redo":                     {"github.com/nats-io/", "github.com/dgraph-io/", "github.com/jackc/", "net", "os", "os/exec"},
	"serve/pagestream":         {"github.com/nats-io/", "github.com/dgraph-io/", "github.com/jackc/", "net", "os"},
	"redo/materialize/applier": {"github.com/nats-io/", "github.com/dgraph-io/", "github.com/jackc/", "net", "os", "os/exec"},
}

// TestLayers checks every package's imports against the table: the
// module's packages it may use, and for the pure packages the outside
// packages they may not.
func TestLayers(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}:{{join .Imports " "}}`, module+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ":")
		rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
		allowed, ok := layers[rel]
		if !ok {
			t.Errorf("package %s is not in the layers table: add it with what it may import", rel)
			continue
		}
		seen[rel] = true
		for _, imp := range strings.Fields(imports) {
			if dep, ok := strings.CutPrefix(imp, module+"/"); ok {
				if !slices.Contains(allowed, dep) {
					t.Errorf("%s imports %s, which its layer may not", rel, dep)
				}
				continue
			}
			for _, bad := range pure[rel] {
				if imp == bad || (strings.HasSuffix(bad, "/") && strings.HasPrefix(imp, bad)) {
					t.Errorf("%s is pure but imports %s", rel, imp)
				}
			}
		}
	}
	for rel := range layers {
		if !seen[rel] {
			t.Errorf("the layers table names %s, which no longer exists", rel)
		}
	}
}

// TestPagemillLinksNoTestCode checks that the production binary links
// neither the testing package nor the test harnesses and benchmarks: they
// live in internal/pgtest, internal/natstest, internal/pipetest and
// internal/bench (cmd/pagemill-bench), which nothing cmd/pagemill imports
// may reach.
func TestPagemillLinksNoTestCode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", module+"/cmd/pagemill").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, module+"/internal/cli") {
		t.Fatalf("go list -deps ./cmd/pagemill does not list internal/cli:\n%s", out)
	}
	banned := []string{"testing", module + "/internal/pgtest", module + "/internal/natstest", module + "/internal/pipetest", module + "/internal/bench"}
	for _, dep := range deps {
		for _, b := range banned {
			if dep == b || strings.HasPrefix(dep, b+"/") {
				t.Errorf("cmd/pagemill links %s", dep)
			}
		}
	}
}
