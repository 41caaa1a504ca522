package recipetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/caco-dev/caco/engine/diag"
	"github.com/caco-dev/caco/engine/run"
)

// Options configure Run.
type Options struct {
	// TempDir is where run folders are made; os.TempDir() when empty.
	TempDir string
	// Keep leaves the run folder in place (Result.RunDir) instead of
	// removing it.
	Keep bool
	// Log receives the run's progress lines; discarded when nil.
	Log io.Writer
	// Alloc is the Arrow allocator for the run; the Go allocator when nil.
	Alloc memory.Allocator
}

// Result is one test's outcome. Exactly one of these holds: Diags has
// errors (the test file or the recipe is invalid, nothing ran), Err is set
// (the run failed or timed out), or the run completed and Failures lists
// every expectation it did not meet (none: the test passed).
type Result struct {
	Test   *Test
	RunDir string // removed after the run unless Options.Keep
	Diags  diag.List
	Err    error
	Stats  *run.Stats
	// Outputs holds the files of expect.outputs as read after the run, by
	// path as the test names it.
	Outputs  map[string]*Output
	Failures []Failure
	// Checks counts the expectations compared.
	Checks int
	// RowsRead sums the source steps' rows out; Sinks are the steps nothing
	// reads, in plan order, with their rows out.
	RowsRead int64
	Sinks    []Sink
	Elapsed  time.Duration
	kept     bool
}

// Passed reports whether the run completed and met every expectation.
func (r *Result) Passed() bool {
	return !r.Diags.HasErrors() && r.Err == nil && r.Stats != nil && len(r.Failures) == 0
}

// Sink is a final step and the rows it passed on.
type Sink struct {
	Step string
	Rows int64
}

// Failure is one expectation the run did not meet.
type Failure struct {
	Pos     diag.Pos // the expectation in the test file
	Subject string   // step NAME, output PATH
	Field   string   // rows_out, rejects.REASON, rows, contains[2]
	// Want and Got are set for a count; Message otherwise.
	Want, Got string
	Message   string
	// Detail holds extra lines, e.g. the closest actual row.
	Detail []string
}

// String renders FILE:LINE:COL: SUBJECT: FIELD: want W, got G and the
// detail lines, indented.
func (f Failure) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s: %s: ", f.Pos, f.Subject, f.Field)
	if f.Message != "" {
		b.WriteString(f.Message)
	} else {
		fmt.Fprintf(&b, "want %s, got %s", f.Want, f.Got)
	}
	for _, d := range f.Detail {
		b.WriteString("\n    ")
		b.WriteString(d)
	}
	return b.String()
}

// Run runs the test's recipe in a fresh run folder, in-process through
// the engine (recipe.Parse with the test's `set:` and the folder as
// ${run_dir}, plan.Build, run.Run), bounded by the test's timeout, then
// reads stats and the expected outputs and compares them. Operators must be
// registered by the caller. The Result is never nil.
func Run(ctx context.Context, t *Test, opts Options) *Result {
	start := time.Now()
	res := &Result{Test: t}
	defer func() { res.Elapsed = time.Since(start) }()
	if t.diags.HasErrors() {
		res.Diags = t.diags
		return res
	}
	parent := opts.TempDir
	if parent == "" {
		parent = os.TempDir()
	}
	base := strings.TrimSuffix(filepath.Base(t.Recipe), filepath.Ext(t.Recipe))
	dir, err := os.MkdirTemp(parent, "caco-test-"+base+"-")
	if err != nil {
		res.Err = fmt.Errorf("making a run folder: %w", err)
		return res
	}
	res.RunDir = dir
	res.kept = opts.Keep
	if !opts.Keep {
		defer os.RemoveAll(dir)
	}
	p, diags := t.plan(dir)
	res.Diags = diags
	if p == nil || diags.HasErrors() {
		return res
	}
	rctx, cancel := context.WithTimeout(ctx, t.Timeout)
	defer cancel()
	stats, err := run.Run(rctx, p, run.Options{RunDir: dir, Fresh: true, Log: opts.Log, Alloc: opts.Alloc})
	if err != nil {
		if ctx.Err() == nil && errors.Is(rctx.Err(), context.DeadlineExceeded) {
			res.Err = fmt.Errorf("timed out after %s (raise `timeout:` in the test file)", t.Timeout)
		} else {
			res.Err = fmt.Errorf("running %s: %w", t.Recipe, err)
		}
		return res
	}
	res.Stats = stats
	out := map[string]int64{}
	for _, s := range stats.Steps {
		out[s.Step] = s.RowsOut
	}
	for _, n := range p.Nodes {
		if n.IsSource() {
			res.RowsRead += out[n.Name()]
		}
		if len(n.Outputs) == 0 {
			res.Sinks = append(res.Sinks, Sink{Step: n.Name(), Rows: out[n.Name()]})
		}
	}
	res.Outputs = map[string]*Output{}
	for _, o := range t.Outputs {
		if _, done := res.Outputs[o.Path]; !done {
			res.Outputs[o.Path] = readOutput(ctx, dir, o.Path, opts.Alloc)
		}
	}
	res.Failures, res.Checks = Check(t, stats, res.Outputs)
	return res
}
