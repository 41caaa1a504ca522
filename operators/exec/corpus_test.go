package exec

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caco-dev/caco/operators/exec/sandbox"
)

var update = flag.Bool("update", false, "rewrite testdata/exec/corpus.golden.jsonl from the current results")

const (
	corpusDir    = "../../testdata/exec/corpus"
	corpusGolden = "../../testdata/exec/corpus.golden.jsonl"
)

func TestMain(m *testing.M) {
	sandbox.MaybeInit()
	flag.Parse()
	code := m.Run()
	closeTestPool()
	os.Exit(code)
}

var (
	poolOnce sync.Once
	testPool *sandbox.Pool
	poolErr  error
)

// corpusTimeout keeps the timeout cases of the corpus short, yet leaves the
// memory bombs time to fill their 384 MiB on a loaded VM that is slow to
// fault fresh pages (3-4 s seen here).
const corpusTimeout = 6 * time.Second

func sharedPool(t testing.TB) *sandbox.Pool {
	t.Helper()
	poolOnce.Do(func() {
		testPool, poolErr = sandbox.New(context.Background(), sandbox.Options{Timeout: corpusTimeout, Memory: 384 << 20})
	})
	if poolErr != nil {
		t.Fatalf("starting the sandbox: %v", poolErr)
	}
	return testPool
}

func closeTestPool() {
	if testPool != nil {
		testPool.Close()
	}
}

type corpusCase struct {
	File   string          `json:"file"`
	Status string          `json:"status"`
	Reason string          `json:"reason,omitempty"`
	Input  json.RawMessage `json:"input"`
	Output json.RawMessage `json:"output"`
}

func corpusFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.md"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus in %s: %v", corpusDir, err)
	}
	sort.Strings(files)
	return files
}

// expectedStatus is the status a corpus file is written to produce: the
// prefix of its name.
func expectedStatus(file string) string {
	base := filepath.Base(file)
	return base[:strings.Index(base, "-")]
}

// canonicalJSON re-encodes JSON text with sorted keys, no spaces and no
// escapes beyond what encoding/json needs.
func canonicalJSON(t testing.TB, raw json.RawMessage) string {
	if raw == nil {
		return "null"
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("invalid JSON %q: %v", raw, err)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(b.String())
}

func runCorpus(t testing.TB, files []string) []corpusCase {
	pool := sharedPool(t)
	got := make([]corpusCase, len(files))
	var wg sync.WaitGroup
	sem := make(chan struct{}, pool.Options().Workers)
	for i, f := range files {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			text, err := os.ReadFile(f)
			if err != nil {
				t.Error(err)
				return
			}
			o, err := Run(context.Background(), pool, string(text), nil, CacoRules)
			if err != nil {
				t.Errorf("%s: %v", f, err)
				return
			}
			c := corpusCase{File: filepath.Base(f), Status: o.Status, Input: o.Input, Output: o.Output}
			if o.Status == "exception" {
				c.Reason = o.Reason
			}
			got[i] = c
		}()
	}
	wg.Wait()
	return got
}

// TestCorpus runs every Code CoT of testdata/exec/corpus and checks its
// status (named by the file's prefix), input and output (the golden file;
// -update rewrites it).
func TestCorpus(t *testing.T) {
	files := corpusFiles(t)
	if len(files) < 100 {
		t.Fatalf("corpus has %d programs, want at least 100", len(files))
	}
	got := runCorpus(t, files)
	seen := map[string]bool{}
	for i, c := range got {
		seen[c.Status] = true
		if want := expectedStatus(files[i]); c.Status != want {
			t.Errorf("%s: status %s, want %s", c.File, c.Status, want)
		}
	}
	for _, s := range []string{"ok", StatusTooShort, "exception", "timeout", StatusUnusedInput, StatusTooLarge,
		StatusNoOutput, StatusNoInput, "memory", "killed", "output_limit"} {
		if !seen[s] {
			t.Errorf("no corpus program has status %s", s)
		}
	}
	if *update {
		var b bytes.Buffer
		for _, c := range got {
			c.Input = json.RawMessage(canonicalJSON(t, c.Input))
			c.Output = json.RawMessage(canonicalJSON(t, c.Output))
			line, _ := json.Marshal(c)
			b.Write(line)
			b.WriteByte('\n')
		}
		if err := os.WriteFile(corpusGolden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	data, err := os.ReadFile(corpusGolden)
	if err != nil {
		t.Fatalf("reading the golden file (run with -update to create it): %v", err)
	}
	want := map[string]corpusCase{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var c corpusCase
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("golden line %q: %v", line, err)
		}
		want[c.File] = c
	}
	for _, c := range got {
		w, ok := want[c.File]
		if !ok {
			t.Errorf("%s: not in the golden file (run with -update)", c.File)
			continue
		}
		if c.Status != w.Status || c.Reason != w.Reason {
			t.Errorf("%s: status %s (%s), golden %s (%s)", c.File, c.Status, c.Reason, w.Status, w.Reason)
		}
		if g, x := canonicalJSON(t, c.Input), canonicalJSON(t, w.Input); g != x {
			t.Errorf("%s: input %s, want %s", c.File, g, x)
		}
		if g, x := canonicalJSON(t, c.Output), canonicalJSON(t, w.Output); g != x {
			t.Errorf("%s: output %s, want %s", c.File, truncate(g), truncate(x))
		}
	}
}

func truncate(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}
