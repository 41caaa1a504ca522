package recipetest

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// Exit codes of RunAll, as `caco test` returns them.
const (
	ExitOK    = 0
	ExitFail  = 1 // a test failed, a test file is invalid, a recipe has no test file
	ExitUsage = 2 // an argument is missing or a folder
)

// SuiteOptions configure RunAll.
type SuiteOptions struct {
	Options
	// Update rewrites each test file's counts from its run (see Update)
	// before checking it.
	Update bool
}

// RunAll runs the tests that args name (recipes and/or test files; see
// Targets), one after the other, and reports on stdout: a line per test
// ("ok" with counts and time, or "FAIL"), each failure below its test as
// FILE:LINE:COL: SUBJECT: FIELD: want W, got G (rows: the missing row and
// the closest actual row), and a summary line. It returns ExitOK when every
// test passed, ExitUsage when an argument is wrong, ExitFail otherwise.
// Stderr gets argument errors.
func RunAll(ctx context.Context, args []string, opts SuiteOptions, stdout, stderr io.Writer) int {
	targets, err := Targets(args)
	if err != nil {
		fmt.Fprintf(stderr, "caco test: %v\n", err)
		return ExitUsage
	}
	start := time.Now()
	failed := 0
	for _, tg := range targets {
		if ctx.Err() != nil {
			fmt.Fprintf(stdout, "FAIL  %s: interrupted\n", tg.Arg)
			failed++
			continue
		}
		if tg.NoTest {
			fmt.Fprintf(stdout, "FAIL  %s: no test file (want %s)\n", tg.Arg, tg.Test)
			failed++
			continue
		}
		if !runOne(ctx, tg.Test, opts, stdout) {
			failed++
		}
	}
	elapsed := time.Since(start)
	if failed > 0 {
		fmt.Fprintf(stdout, "FAIL  %d of %d failed  %s\n", failed, len(targets), seconds(elapsed))
		return ExitFail
	}
	fmt.Fprintf(stdout, "PASS  %d %s  %s\n", len(targets), plural(len(targets), "test", "tests"), seconds(elapsed))
	return ExitOK
}

// runOne runs, updates if asked, checks and reports one test file.
func runOne(ctx context.Context, file string, opts SuiteOptions, w io.Writer) bool {
	t, diags := Load(file)
	if t == nil || diags.HasErrors() {
		fmt.Fprintf(w, "FAIL  %s: invalid test file\n", file)
		writeIndented(w, Validate(file).Error())
		return false
	}
	res := Run(ctx, t, opts.Options)
	if opts.Update && res.Stats != nil {
		changed, err := Update(res)
		if err != nil {
			fmt.Fprintf(w, "FAIL  %s: %v\n", file, err)
			return false
		}
		if changed {
			t2, diags := Load(file)
			if t2 == nil || diags.HasErrors() {
				fmt.Fprintf(w, "FAIL  %s: updated, but the result is invalid\n", file)
				writeIndented(w, diags.Error())
				return false
			}
			res.Test = t2
			res.Failures, res.Checks = Check(t2, res.Stats, res.Outputs)
			fmt.Fprintf(w, "updated %s\n", file)
		}
	}
	Report(w, res)
	return res.Passed()
}

// Report writes one test's outcome: "ok FILE  counts  time", or "FAIL" with
// the failures, diagnostics or run error indented below.
func Report(w io.Writer, res *Result) {
	t := res.Test
	if res.Passed() {
		var sinks []string
		for _, s := range res.Sinks {
			sinks = append(sinks, fmt.Sprintf("%s %d", s.Step, s.Rows))
		}
		fmt.Fprintf(w, "ok    %s  %d %s; %d rows read; out: %s; %d rejected; %d %s  %s\n",
			t.File, len(res.Stats.Steps), plural(len(res.Stats.Steps), "step", "steps"),
			res.RowsRead, strings.Join(sinks, ", "), rejected(res), res.Checks, plural(res.Checks, "check", "checks"), seconds(res.Elapsed))
		if res.RunDir != "" && keptDir(res) {
			fmt.Fprintf(w, "    run folder %s\n", res.RunDir)
		}
		return
	}
	switch {
	case res.Diags.HasErrors():
		fmt.Fprintf(w, "FAIL  %s: invalid (nothing was run)\n", t.File)
		writeIndented(w, res.Diags.Error())
	case res.Err != nil:
		fmt.Fprintf(w, "FAIL  %s: %v  %s\n", t.File, res.Err, seconds(res.Elapsed))
	default:
		fmt.Fprintf(w, "FAIL  %s: %d of %d %s failed  %s\n", t.File, len(res.Failures), res.Checks,
			plural(res.Checks, "check", "checks"), seconds(res.Elapsed))
		for _, f := range res.Failures {
			writeIndented(w, f.String())
		}
	}
	if keptDir(res) {
		fmt.Fprintf(w, "    run folder %s\n", res.RunDir)
	}
}

// keptDir reports whether the run folder still exists (Options.Keep).
func keptDir(res *Result) bool {
	return res.RunDir != "" && res.kept
}

func rejected(res *Result) int64 {
	var n int64
	for _, s := range res.Stats.Steps {
		n += s.Rejected
	}
	return n
}

func writeIndented(w io.Writer, text string) {
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		fmt.Fprintf(w, "    %s\n", l)
	}
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
