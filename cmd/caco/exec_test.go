package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestExecCommand runs `caco exec` (the real binary, sandboxed) on corpus
// files: one JSON line per file in argument order, the statuses of their
// names, no timing unless --timing, exit 0.
func TestExecCommand(t *testing.T) {
	bin := cacoBinary(t)
	corpus := filepath.Join(repoRoot, "testdata", "exec", "corpus")
	files := []string{
		filepath.Join(corpus, "ok-fib_0.md"),
		filepath.Join(corpus, "unused_input-key_never_used.md"),
		filepath.Join(corpus, "too_large-huge_output.md"),
		filepath.Join(corpus, "exception-name_error.md"),
	}
	for _, timing := range []bool{false, true} {
		args := []string{"exec", "--timeout", "5s"}
		if timing {
			args = append(args, "--timing")
		}
		cmd := exec.Command(bin, append(args, files...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("caco exec: %v\n%s", err, stderr.String())
		}
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		if len(lines) != len(files) {
			t.Fatalf("%d lines for %d files:\n%s", len(lines), len(files), stdout.String())
		}
		for i, l := range lines {
			var v map[string]any
			if err := json.Unmarshal([]byte(l), &v); err != nil {
				t.Fatalf("line %d: %v: %s", i, err, l)
			}
			want := strings.SplitN(filepath.Base(files[i]), "-", 2)[0]
			if v["file"] != files[i] || v["status"] != want {
				t.Errorf("line %d: file %v status %v, want %s %s", i, v["file"], v["status"], files[i], want)
			}
			if _, has := v["exec_ms"]; has != timing {
				t.Errorf("line %d: exec_ms present = %v with --timing = %v: %s", i, has, timing, l)
			}
		}
	}
}
