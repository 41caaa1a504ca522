package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// cacoBinary builds the caco command once per test binary.
func cacoBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "caco-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "caco")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

const resumeRecipe = `caco: 1
name: resume
steps:
  rows:
    op: load
    path: rows.jsonl
    batch_size: 250
  scored:
    op: map
    input: rows
    workers: 2
    columns:
      score: id % 97 * 1.5
      tag: 'id % 2 == 0 ? "even" : "odd"'
  kept:
    op: filter
    input: scored
    where: score > 10 && len(text) > 3
  sampled:
    op: sample
    input: kept
    fraction: 0.7
    seed: 3
  first:
    op: limit
    input: sampled
    n: 60000
  slim:
    op: map
    input: first
    drop: [score, tag]
  evens:
    op: filter
    input: rows
    where: id % 2 == 0
  both:
    op: map
    inputs: [slim, evens]
    columns:
      n: len(text)
  save:
    op: write
    input: both
    path: ${run_dir}/out.jsonl
`

func writeResumeFixture(t *testing.T, dir string, rows int) {
	t.Helper()
	var b bytes.Buffer
	r := rand.New(rand.NewSource(1))
	for i := 0; i < rows; i++ {
		if i%5000 == 4999 {
			b.WriteString("{not json\n") // a bad line becomes a reject
			continue
		}
		fmt.Fprintf(&b, `{"id": %d, "text": %q}`+"\n", i, strings.Repeat("ab", r.Intn(8)))
	}
	os.WriteFile(filepath.Join(dir, "rows.jsonl"), b.Bytes(), 0o644)
	// same columns for the fan-in: both branches keep id and text
	os.WriteFile(filepath.Join(dir, "resume.yaml"), []byte(resumeRecipe), 0o644)
}

// TestKill9Resume kills a real caco run with SIGKILL at random moments,
// resumes it each time, and checks that the final outputs are byte-identical
// to an uninterrupted run's.
func TestKill9Resume(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := cacoBinary(t)
	dir := t.TempDir()
	writeResumeFixture(t, dir, 120000)
	recipe := filepath.Join(dir, "resume.yaml")
	runOnce := func(runDir string) (time.Duration, error) {
		cmd := exec.Command(bin, "run", recipe, "--run-dir", runDir, "--quiet")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		start := time.Now()
		err := cmd.Run()
		if err != nil {
			return 0, fmt.Errorf("%v: %s", err, stderr.String())
		}
		return time.Since(start), nil
	}
	ref := filepath.Join(dir, "ref")
	full, err := runOnce(ref)
	if err != nil {
		t.Fatal(err)
	}
	// Kill points are random amounts of progress, measured as commits of the
	// "both" step (480 batches), so that they spread over the whole run
	// whatever the machine's speed.
	target := filepath.Join(dir, "killed")
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	const batches = 480
	var targets []int
	for i := 0; i < 12; i++ {
		targets = append(targets, 1+rng.Intn(batches-1))
	}
	sort.Ints(targets)
	progress := func() int {
		entries, _ := os.ReadDir(filepath.Join(target, "steps", "both"))
		n := 0
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".commit") {
				n++
			}
		}
		return n
	}
	kills := 0
	var points []string
	for _, want := range targets {
		cmd := exec.Command(bin, "run", recipe, "--run-dir", target, "--quiet")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		killed := false
		for !killed {
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("run failed: %v", err)
				}
				killed = true // finished before reaching the target
			case <-time.After(3 * time.Millisecond):
				if n := progress(); n >= want {
					_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
					<-done
					kills++
					points = append(points, fmt.Sprintf("%d/%d", n, batches))
					killed = true
				}
			}
		}
	}
	if kills < 10 {
		t.Fatalf("only %d runs were killed before finishing", kills)
	}
	if _, err := runOnce(target); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"out.jsonl", "rejects.jsonl"} {
		want, err1 := os.ReadFile(filepath.Join(ref, f))
		got, err2 := os.ReadFile(filepath.Join(target, f))
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if !bytes.Equal(want, got) {
			t.Fatalf("%s differs after %d kills (%d vs %d bytes)", f, kills, len(got), len(want))
		}
	}
	var refStats, gotStats struct {
		Steps []struct {
			Step    string
			RowsIn  int64 `json:"rows_in"`
			RowsOut int64 `json:"rows_out"`
			Rejects map[string]int64
		}
	}
	readJSON(t, filepath.Join(ref, "stats.json"), &refStats)
	readJSON(t, filepath.Join(target, "stats.json"), &gotStats)
	for i := range refStats.Steps {
		a, b := refStats.Steps[i], gotStats.Steps[i]
		if a.RowsIn != b.RowsIn || a.RowsOut != b.RowsOut || fmt.Sprint(a.Rejects) != fmt.Sprint(b.Rejects) {
			t.Errorf("step %s: stats differ: %+v vs %+v", a.Step, a, b)
		}
	}
	lines := bytes.Count(mustRead(t, filepath.Join(ref, "out.jsonl")), []byte("\n"))
	if lines < 50000 {
		t.Fatalf("reference output has only %d rows", lines)
	}
	t.Logf("%d kills at commits %s; %d output rows identical; uninterrupted run %v", kills, strings.Join(points, ", "), lines, full)
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	if err := json.Unmarshal(mustRead(t, path), v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
