package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/caco-dev/caco/engine/diag"
	"github.com/caco-dev/caco/engine/metrics"
	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/engine/plan"
	"github.com/caco-dev/caco/engine/recipe"
	"github.com/caco-dev/caco/engine/recipetest"
	"github.com/caco-dev/caco/engine/report"
	"github.com/caco-dev/caco/engine/run"
	_ "github.com/caco-dev/caco/operators/all"
	"golang.org/x/term"
)

func init() {
	commands["run"] = command{"run or resume a recipe", runMain}
	commands["validate"] = command{"check recipes: syntax, keys, types, DAG and column contracts", validateMain}
	commands["graph"] = command{"print a recipe's DAG as DOT or Mermaid", graphMain}
}

// setFlags collects repeated --set name=value.
type setFlags map[string]string

func (s setFlags) String() string { return "" }
func (s setFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want name=value, got %q", v)
	}
	s[k] = val
	return nil
}

// loadPlan parses, validates and plans a recipe; diagnostics go to stderr.
func loadPlan(file string, sets map[string]string, runDir string, stderr io.Writer, jsonOut bool) (*plan.Plan, diag.List) {
	data, err := os.ReadFile(file)
	if err != nil {
		var l diag.List
		l.Errorf(diag.Pos{File: file}, "reading recipe: %v", unwrapPath(err))
		return nil, l
	}
	r, diags := recipe.Parse(file, data, recipe.Options{Set: sets, RunDir: runDir})
	var p *plan.Plan
	if !diags.HasErrors() && r != nil {
		var pd diag.List
		p, pd = plan.Build(r)
		diags = append(diags, pd...)
		diags.Sort()
	}
	if r != nil {
		// values from the environment and api keys never reach the output
		for i := range diags {
			diags[i].Summary = r.Redact(diags[i].Summary)
			diags[i].Detail = r.Redact(diags[i].Detail)
		}
	}
	return p, diags
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func defaultRunDir(file string) string {
	data, _ := os.ReadFile(file)
	return filepath.Join("runs", recipe.PeekName(file, data))
}

func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	runDir := fs.String("run-dir", "", "run folder (default runs/<recipe name>)")
	fresh := fs.Bool("fresh", false, "discard earlier results in the run folder (the LLM response cache survives it: see --refresh-cache)")
	shard := fs.String("shard", "", "run shard i of N source batches, as i/N (each shard in its own folder under the run folder)")
	cache := fs.String("cache", "", "share the LLM response cache in DIR between runs")
	record := fs.String("record", "", "record LLM responses as replay files in DIR")
	noCache := fs.Bool("no-cache", false, "neither read nor write the LLM response cache")
	refreshCache := fs.Bool("refresh-cache", false, "send every LLM request of the batches this run processes again and overwrite the cached replies")
	quiet := fs.Bool("quiet", false, "no progress output")
	interval := fs.Duration("log-interval", 10*time.Second, "progress line interval when stderr is not a terminal")
	metricsAddr := fs.String("metrics-addr", "", "serve Prometheus metrics of the run at http://ADDR/metrics, e.g. 127.0.0.1:9464 (port 0: any free port; the address is printed)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to FILE")
	memProfile := fs.String("memprofile", "", "write an allocation profile to FILE at the end of the run")
	memLimit := fs.String("memory-limit", "", "soft limit for the Go heap, e.g. 512MiB (the garbage collector works harder near it; default: GOMEMLIMIT or none)")
	sets := setFlags{}
	fs.Var(sets, "set", "override a var: --set name=value (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: caco run RECIPE [--run-dir DIR] [--set k=v]... [--fresh] [--shard i/N] [--cache DIR] [--no-cache|--refresh-cache] [--record DIR]")
		fs.PrintDefaults()
	}
	file, rest, ok := splitArgs(fs, args)
	if !ok || len(rest) != 0 || file == "" {
		if ok {
			fs.Usage()
		}
		return exitUsage
	}
	if *noCache && *refreshCache {
		fmt.Fprintln(stderr, "caco run: --no-cache and --refresh-cache exclude each other")
		return exitUsage
	}
	dir := *runDir
	if dir == "" {
		dir = defaultRunDir(file)
	}
	si, sn := 0, 1
	if *shard != "" {
		a, b, found := strings.Cut(*shard, "/")
		i, err1 := strconv.Atoi(a)
		n, err2 := strconv.Atoi(b)
		if !found || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
			fmt.Fprintf(stderr, "caco run: --shard wants i/N with 0 <= i < N, got %q\n", *shard)
			return exitUsage
		}
		si, sn = i, n // the shard's folder is inside dir; ${run_dir} stays dir (cluster.go)
	}
	absDir, _ := filepath.Abs(dir)
	p, diags := loadPlan(file, sets, absDir, stderr, false)
	_ = diags.WriteText(stderr)
	if diags.HasErrors() {
		fmt.Fprintf(stderr, "caco run: %s is not valid; nothing was run\n", file)
		return exitFail
	}
	flags := map[string]string{}
	if *cache != "" {
		flags["cache"], _ = filepath.Abs(*cache)
	}
	if *record != "" {
		flags["record"], _ = filepath.Abs(*record)
	}
	if *noCache {
		flags["no-cache"] = "1"
	}
	if *refreshCache {
		flags["refresh-cache"] = "1"
	}
	isTTY := false
	var size func() (int, int)
	if f, ok := stderr.(*os.File); ok {
		isTTY = term.IsTerminal(int(f.Fd()))
		size = func() (int, int) {
			if w, h, err := term.GetSize(int(f.Fd())); err == nil {
				return w, h
			}
			return 0, 0
		}
	}
	logw := stderr
	if *quiet {
		logw = io.Discard
	}
	if *memLimit != "" {
		n, err := op.ParseSize(*memLimit)
		if err != nil || n <= 0 {
			fmt.Fprintf(stderr, "caco run: --memory-limit: %v\n", err)
			return exitUsage
		}
		debug.SetMemoryLimit(n)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "caco run: %v\n", err)
			return exitFail
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "caco run: %v\n", err)
			return exitFail
		}
		defer pprof.StopCPUProfile()
	}
	if *memProfile != "" {
		defer func() {
			if f, err := os.Create(*memProfile); err == nil {
				_ = pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	start := time.Now()
	var hash string
	if data, err := os.ReadFile(file); err == nil {
		hash = fmt.Sprintf("%x", sha256.Sum256(data))
	}
	var monitor *run.Monitor
	if *metricsAddr != "" {
		monitor = &run.Monitor{}
		ms, err := metrics.Serve(*metricsAddr, monitor)
		if err != nil {
			fmt.Fprintf(stderr, "caco run: %v\n", err)
			return exitFail
		}
		defer ms.Close()
		fmt.Fprintf(stderr, "caco run: metrics at http://%s/metrics\n", ms.Addr)
	}
	opts := run.Options{
		RunDir: absDir, Fresh: *fresh, ShardIndex: si, ShardCount: sn, Flags: flags,
		Log: logw, Live: isTTY && !*quiet, LogInterval: *interval,
		Command: commandLine("run", args), RecipeHash: hash, Size: size, Monitor: monitor,
	}
	if sn > 1 {
		return runShard(ctx, p, file, sets, opts, stderr, *quiet)
	}
	stats, err := run.Run(ctx, p, opts)
	// the report and dataset card, for failed runs too (not when the run
	// could not start: the folder may be another run's)
	var notStarted *run.StartError
	if !errors.As(err, &notStarted) {
		writeRunReport(absDir, "caco run", stderr)
	}
	var waiting *run.WaitingError
	if errors.As(err, &waiting) {
		if !*quiet && stats != nil {
			fmt.Fprintln(stderr)
			stats.WriteTable(stderr)
		}
		fmt.Fprintf(stderr, "\ncaco run: %v\n", err)
		fmt.Fprintf(stderr, "caco run: committed batches are kept in %s; run the same command again to resume\n", dir)
		return exitFail
	}
	if err != nil {
		fmt.Fprintf(stderr, "caco run: %v\n", err)
		var se *run.StartError
		switch {
		case errors.As(err, &se):
			fmt.Fprintf(stderr, "caco run: nothing was run in %s\n", dir)
		case ctx.Err() != nil:
			fmt.Fprintf(stderr, "caco run: run the same command again to resume from %s\n", dir)
		default:
			fmt.Fprintf(stderr, "caco run: committed batches are kept in %s; fix the problem and run the same command to resume\n", dir)
		}
		return exitFail
	}
	if !*quiet {
		fmt.Fprintln(stderr)
		if isTTY {
			w, _ := size()
			stats.WriteTableWidth(stderr, w)
		} else {
			stats.WriteTable(stderr)
		}
		fmt.Fprintf(stderr, "\ndone in %s; run folder %s (stats.json, rejects.jsonl, report.html, %s)\n", time.Since(start).Truncate(time.Millisecond), dir, report.CardName)
	}
	return exitOK
}

// commandLine is the command that reproduces a run, quoted for a POSIX
// shell.
func commandLine(cmd string, args []string) string {
	parts := []string{"caco", cmd}
	for _, a := range args {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,@+") == "" {
			parts = append(parts, a)
		} else {
			parts = append(parts, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
		}
	}
	return strings.Join(parts, " ")
}

// splitArgs parses flags that may come before or after the one positional
// argument.
func splitArgs(fs *flag.FlagSet, args []string) (string, []string, bool) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return "", nil, false
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) == 0 {
		return "", nil, true
	}
	return pos[0], pos[1:], true
}

func validateMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	jsonOut := fs.Bool("json", false, "print diagnostics as JSON on stdout")
	sets := setFlags{}
	fs.Var(sets, "set", "override a var: --set name=value (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: caco validate [--json] [--set k=v]... FILE...")
		fs.PrintDefaults()
	}
	first, files, ok := splitArgs(fs, args)
	if !ok {
		return exitUsage
	}
	if first == "" {
		fs.Usage()
		return exitUsage
	}
	files = append([]string{first}, files...)
	var all diag.List
	for _, f := range files {
		if recipetest.IsTestFile(f) {
			// a recipe test: its keys, the recipe it names, with its own set:
			all = append(all, recipetest.Validate(f)...)
			continue
		}
		_, diags := loadPlan(f, sets, filepath.Join("runs", "validate"), stderr, *jsonOut)
		all = append(all, diags...)
	}
	if *jsonOut {
		_ = all.WriteJSON(stdout)
	} else {
		_ = all.WriteText(stderr)
	}
	if all.HasErrors() {
		return exitFail
	}
	if !*jsonOut {
		for _, f := range files {
			fmt.Fprintf(stdout, "%s: ok\n", f)
		}
	}
	return exitOK
}

func graphMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("graph", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "dot", "dot or mermaid")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: caco graph [--format dot|mermaid] RECIPE")
		fs.PrintDefaults()
	}
	file, rest, ok := splitArgs(fs, args)
	if !ok || file == "" || len(rest) > 0 {
		if ok {
			fs.Usage()
		}
		return exitUsage
	}
	p, diags := loadPlan(file, nil, defaultRunDir(file), stderr, false)
	_ = diags.WriteText(stderr)
	if p == nil || diags.HasErrors() {
		return exitFail
	}
	var err error
	switch *format {
	case "dot":
		err = p.WriteDOT(stdout)
	case "mermaid":
		err = p.WriteMermaid(stdout)
	default:
		fmt.Fprintf(stderr, "caco graph: unknown format %q (dot or mermaid)\n", *format)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(stderr, "caco graph: %v\n", err)
		return exitFail
	}
	return exitOK
}
