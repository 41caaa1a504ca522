package write_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/caco-dev/caco/engine/checkpoint"
	"github.com/caco-dev/caco/engine/optest"
)

// A writer replaces only files its run folder wrote and nobody changed
// since, files inside the run folder, or any file with overwrite: true.
func TestWriteRefusesToReplaceOthersFiles(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	mem := checked(t)
	dir := t.TempDir()
	runDir := filepath.Join(dir, "run")
	os.MkdirAll(runDir, 0o755)
	write := func(runDir, path, extra string) error {
		p, _ := optest.Plan(t, "write", "path: "+path+extra, inSchema)
		rc := optest.NewRunContext(t, mem)
		rc.Dir = runDir
		r1 := optest.Record(t, mem, inSchema, batch1)
		defer r1.Release()
		_, err := optest.RunErr(p, mem, rc, t, r1)
		return err
	}
	for _, ext := range []string{"jsonl", "parquet"} {
		t.Run(ext, func(t *testing.T) {
			out := filepath.Join(dir, "data", "out-secretname."+ext)
			steps := []struct {
				name   string
				before func()
				runDir string
				extra  string
				refuse bool
			}{
				{"new file", nil, runDir, "", false},
				{"its own file again", nil, runDir, "", false},
				{"another run folder", nil, filepath.Join(dir, "other"), "", true},
				{"changed since", func() { appendTo(t, out, "x") }, runDir, "", true},
				{"changed since, with overwrite", nil, runDir, "\noverwrite: true", false},
				{"its own file after that", nil, runDir, "", false},
				{"after --fresh", func() {
					s, err := checkpoint.Open(runDir, true)
					if err != nil {
						t.Fatal(err)
					}
					s.Close()
				}, runDir, "", true},
				{"someone else's file", func() { os.WriteFile(out, []byte("theirs"), 0o644) }, runDir, "", true},
			}
			for _, s := range steps {
				if s.before != nil {
					s.before()
				}
				before, _ := os.ReadFile(out)
				err := write(s.runDir, out, s.extra)
				after, _ := os.ReadFile(out)
				if s.refuse {
					if err == nil || !strings.Contains(err.Error(), "refusing to replace "+out) || !strings.Contains(err.Error(), "overwrite: true") {
						t.Fatalf("%s: error %v", s.name, err)
					}
					if string(after) != string(before) {
						t.Fatalf("%s: the file changed although the write was refused", s.name)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				st, _ := os.Stat(out)
				if st.Mode().Perm() != 0o644 {
					t.Fatalf("%s: output mode %v, want the umask's 0644", s.name, st.Mode().Perm())
				}
				rec, err := os.ReadFile(filepath.Join(s.runDir, "outputs.json"))
				if err != nil {
					t.Fatalf("%s: no record of the output: %v", s.name, err)
				}
				if strings.Contains(string(rec), "secretname") {
					t.Fatalf("outputs.json names the path (which may hold secrets):\n%s", rec)
				}
			}
		})
	}
	// inside the run folder a file is always the run's own
	in := filepath.Join(runDir, "inside.jsonl")
	os.WriteFile(in, []byte("whatever"), 0o644)
	if err := write(runDir, in, ""); err != nil {
		t.Fatal(err)
	}
}

func appendTo(t *testing.T, path, s string) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(s)
	f.Close()
}
