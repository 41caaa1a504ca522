package run_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/caco-dev/caco/engine/run"
)

// Values from the environment never appear in the run folder's own files,
// raw or JSON-escaped, whatever their characters or length; they still
// change the fingerprint (through an HMAC), so another value recomputes.
func TestEnvValuesNeverInRunFolder(t *testing.T) {
	secrets := []string{"pa&ss<word>99", `quo"te`, `back\slash`, "ünïcødé✓", "Q", `a'b"c\d<e>&f`}
	for i, secret := range secrets {
		t.Run(fmt.Sprint("value", i), func(t *testing.T) { // (a test's folder is named after it)
			dir := t.TempDir()
			writeRows(t, dir, 300)
			runDir := filepath.Join(dir, "run")
			os.WriteFile(filepath.Join(dir, "a-file"), nil, 0o644)
			t.Setenv("CACO_TEST_SECRET", secret)
			text := `caco: 1
name: secrets
steps:
  rows:
    op: load
    path: rows.jsonl
    batch_size: 100
  kept:
    op: filter
    input: rows
    where: id % 7 != 0
  save:
    op: write
    input: kept
    path: ${run_dir}/out-${env:CACO_TEST_SECRET}.jsonl
`
			fp := func() string {
				b, err := os.ReadFile(filepath.Join(runDir, "steps", "save", "fingerprint.json"))
				if err != nil {
					t.Fatal(err)
				}
				var info struct{ Fingerprint string }
				json.Unmarshal(b, &info)
				return info.Fingerprint
			}
			if _, err := run.Run(context.Background(), mustPlan(t, dir, strings.ReplaceAll(text, "${run_dir}", runDir), nil), run.Options{RunDir: runDir}); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(runDir, "out-"+secret+".jsonl")); err != nil {
				t.Fatalf("the output is not at the path built from the secret: %v", err)
			}
			first := fp()
			// the same value: the same fingerprint (the key is the folder's)
			if _, err := run.Run(context.Background(), mustPlan(t, dir, strings.ReplaceAll(text, "${run_dir}", runDir), nil), run.Options{RunDir: runDir}); err != nil {
				t.Fatal(err)
			}
			if fp() != first {
				t.Fatal("the fingerprint changed with the same environment")
			}
			// a failure whose message holds the secret
			failing := strings.Replace(text, "${run_dir}/out-", dir+"/a-file/", 1)
			_, err := run.Run(context.Background(), mustPlan(t, dir, strings.ReplaceAll(failing, "${run_dir}", runDir), nil), run.Options{RunDir: runDir})
			if err == nil {
				t.Fatal("writing under a file succeeded")
			}
			if strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "[redacted]") {
				t.Fatalf("error %q shows the secret or is not redacted", err)
			}
			if fp() == first {
				t.Fatal("another path from the environment kept the fingerprint")
			}
			forms := []string{secret}
			if b, _ := json.Marshal(secret); len(b) > 2 {
				forms = append(forms, string(b[1:len(b)-1]))
			}
			filepath.Walk(runDir, func(path string, info os.FileInfo, err error) error {
				if err != nil || info.IsDir() || filepath.Base(path) == "secret.key" {
					return nil
				}
				if len(secret) == 1 && strings.HasSuffix(path, ".commit") {
					return nil // Arrow bytes hold any single byte by chance; their JSON parts are in the ledger
				}
				b, _ := os.ReadFile(path)
				for _, f := range forms {
					if strings.Contains(string(b), f) {
						t.Errorf("%s holds the secret as %q", path, f)
					}
				}
				return nil
			})
			b, _ := os.ReadFile(filepath.Join(runDir, "steps", "save", "fingerprint.json"))
			if !strings.Contains(string(b), "${env:CACO_TEST_SECRET}") {
				t.Errorf("fingerprint.json does not show the reference:\n%s", b)
			}
			if st, err := os.Stat(filepath.Join(runDir, "secret.key")); err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("secret.key: %v %v", st.Mode(), err)
			}
		})
	}
}

// Every file of a run folder and its output follow the user's umask (a team
// on a shared cluster reads them); only secret.key is the owner's alone.
func TestRunFolderModesFollowUmask(t *testing.T) {
	old := syscall.Umask(0o002)
	defer syscall.Umask(old)
	dir := t.TempDir()
	writeRows(t, dir, 300)
	runDir := filepath.Join(dir, "run")
	t.Setenv("CACO_TEST_NAME", "out")
	text := `caco: 1
name: modes
steps:
  rows:
    op: load
    path: rows.jsonl
    batch_size: 100
  kept:
    op: filter
    input: rows
    where: id % 7 != 0
  save:
    op: write
    input: kept
    path: ` + dir + `/outside/${env:CACO_TEST_NAME}.parquet
  inside:
    op: write
    input: kept
    path: ` + runDir + `/inside.jsonl
`
	if _, err := run.Run(context.Background(), mustPlan(t, dir, text, nil), run.Options{RunDir: runDir}); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, root := range []string{runDir, filepath.Join(dir, "outside")} {
		filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			want := os.FileMode(0o664)
			switch {
			case info.IsDir():
				want = 0o775
			case filepath.Base(path) == "secret.key":
				want = 0o600
			}
			if info.Mode().Perm() != want {
				t.Errorf("%s: mode %v, want %v", path, info.Mode().Perm(), want)
			}
			n++
			return nil
		})
	}
	if n < 10 {
		t.Fatalf("only %d files and folders checked", n)
	}
}
