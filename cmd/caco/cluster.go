package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/caco-dev/caco/engine/checkpoint"
	"github.com/caco-dev/caco/engine/cluster"
	"github.com/caco-dev/caco/engine/plan"
	"github.com/caco-dev/caco/engine/run"
)

func init() {
	commands["merge"] = command{"run the global steps of a sharded run (after caco run --shard i/N on every shard), and everything after them", mergeMain}
}

// clusterFile records how a sharded run folder was started, so that
// `caco merge RUN_DIR` and `caco slurm` jobs plan the same recipe.
const clusterFile = "cluster.json"

type clusterInfo struct {
	Recipe string            `json:"recipe"`
	Set    map[string]string `json:"set,omitempty"`
	Shards int               `json:"shards"`
}

// writeClusterInfo writes RUN_DIR/cluster.json. Values of --set that are
// secrets (api keys) are left out: pass them again to caco merge.
func writeClusterInfo(runDir, file string, sets map[string]string, shards int, p *plan.Plan) error {
	abs, err := filepath.Abs(file)
	if err != nil {
		return err
	}
	ci := clusterInfo{Recipe: abs, Set: map[string]string{}, Shards: shards}
	for k, v := range sets {
		if p.Recipe.Redact(v) == v {
			ci.Set[k] = v
		}
	}
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return fmt.Errorf("creating run folder: %w", err)
	}
	return checkpoint.WriteJSON(filepath.Join(runDir, clusterFile), ci)
}

func readClusterInfo(runDir string) (*clusterInfo, error) {
	b, err := os.ReadFile(filepath.Join(runDir, clusterFile))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w (is %s the folder of a sharded run?)", clusterFile, unwrapPath(err), runDir)
	}
	var ci clusterInfo
	if err := json.Unmarshal(b, &ci); err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(runDir, clusterFile), err)
	}
	return &ci, nil
}

// runShard runs `caco run --shard i/N`: the recipe's first array phase,
// stopping at the first global step, which `caco merge` continues.
func runShard(ctx context.Context, p *plan.Plan, file string, sets map[string]string, opts run.Options, stderr io.Writer, quiet bool) int {
	start := time.Now()
	i, n := opts.ShardIndex, opts.ShardCount
	if err := writeClusterInfo(opts.RunDir, file, sets, n, p); err != nil {
		fmt.Fprintf(stderr, "caco run: %v\n", err)
		return exitFail
	}
	cut := cluster.New(p)
	dir := cluster.ShardDir(opts.RunDir, i, n)
	if len(cut.Phases) == 0 || cut.Phases[0].Global {
		fmt.Fprintf(stderr, "caco run: shard %d/%d: nothing to run: the recipe starts with a global step; run `caco merge %s`\n", i, n, opts.RunDir)
		return exitOK
	}
	stats, err := cut.RunShard(ctx, 0, i, n, opts)
	writeRunReport(dir, "caco run", stderr)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "caco run: interrupted; run the same command again to resume from %s\n", dir)
			return exitFail
		}
		fmt.Fprintf(stderr, "caco run: %v\n", err)
		fmt.Fprintf(stderr, "caco run: committed batches are kept in %s; fix the problem and run the same command to resume\n", dir)
		return exitFail
	}
	if !quiet {
		fmt.Fprintln(stderr)
		stats.WriteTable(stderr)
	}
	if len(cut.Phases) > 1 {
		next := cut.Phases[1]
		fmt.Fprintf(stderr, "\nshard %d/%d done in %s; it stopped at the first global steps (%s), which need every shard's rows:\n"+
			"once all %d shards are done, `caco merge %s` runs them and the rest (or let `caco slurm` run everything)\n",
			i, n, time.Since(start).Truncate(time.Millisecond), strings.Join(next.StepNames(), ", "), n, opts.RunDir)
	} else {
		fmt.Fprintf(stderr, "\nshard %d/%d done in %s; `caco merge %s` gathers the shards once all %d are done\n",
			i, n, time.Since(start).Truncate(time.Millisecond), opts.RunDir, n)
	}
	return exitOK
}

func mergeMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("merge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	recipeFile := fs.String("recipe", "", "the recipe (default: the one the shards ran, from RUN_DIR/cluster.json)")
	cache := fs.String("cache", "", "share the LLM response cache in DIR between runs")
	quiet := fs.Bool("quiet", false, "no progress output")
	interval := fs.Duration("log-interval", 10*time.Second, "progress line interval")
	sets := setFlags{}
	fs.Var(sets, "set", "override a var: --set name=value (repeatable; secrets such as api keys must be given again)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: caco merge RUN_DIR [--recipe FILE] [--set k=v]... [--cache DIR]")
		fmt.Fprintln(stderr, "Runs the global steps of a run sharded with `caco run --shard i/N` (dedup, limit, write, ...) over")
		fmt.Fprintln(stderr, "every shard's rows, in the order of a one-machine run, then everything after them, in this process.")
		fs.PrintDefaults()
	}
	runDir, rest, ok := splitArgs(fs, args)
	if !ok || runDir == "" || len(rest) != 0 {
		if ok {
			fs.Usage()
		}
		return exitUsage
	}
	absDir, _ := filepath.Abs(runDir)
	ci, err := readClusterInfo(absDir)
	if err != nil {
		fmt.Fprintf(stderr, "caco merge: %v\n", err)
		return exitFail
	}
	file := ci.Recipe
	if *recipeFile != "" {
		file = *recipeFile
	}
	all := map[string]string{}
	for k, v := range ci.Set {
		all[k] = v
	}
	for k, v := range sets {
		all[k] = v
	}
	p, diags := loadPlan(file, all, absDir, stderr, false)
	_ = diags.WriteText(stderr)
	if diags.HasErrors() {
		fmt.Fprintf(stderr, "caco merge: %s is not valid; nothing was run\n", file)
		return exitFail
	}
	n, err := cluster.FindShards(absDir)
	if err != nil {
		fmt.Fprintf(stderr, "caco merge: %v\n", err)
		return exitFail
	}
	if n == 0 {
		n = ci.Shards
	}
	flags := map[string]string{}
	if *cache != "" {
		flags["cache"], _ = filepath.Abs(*cache)
	}
	logw := stderr
	if *quiet {
		logw = io.Discard
	}
	opts := run.Options{RunDir: absDir, Flags: flags, Log: logw, LogInterval: *interval}
	start := time.Now()
	stats, err := mergeRun(ctx, cluster.New(p), n, opts)
	writeRunReport(absDir, "caco merge", stderr)
	if err != nil {
		var inc *cluster.IncompleteError
		if errors.As(err, &inc) {
			fmt.Fprintf(stderr, "caco merge: %v\n", err)
			return exitFail
		}
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "caco merge: interrupted; run the same command again to resume\n")
			return exitFail
		}
		fmt.Fprintf(stderr, "caco merge: %v\n", err)
		return exitFail
	}
	if !*quiet {
		fmt.Fprintln(stderr)
		stats.WriteTable(stderr)
		fmt.Fprintf(stderr, "\nmerged %d shards in %s; run folder %s (stats.json, rejects.jsonl)\n", n, time.Since(start).Truncate(time.Millisecond), runDir)
	}
	return exitOK
}

// mergeRun gathers the shards and runs, in this process, everything from the
// first merge phase that is not complete.
func mergeRun(ctx context.Context, cut *cluster.Cut, n int, opts run.Options) (*run.Stats, error) {
	fps, err := cut.Fingerprints(opts.RunDir)
	if err != nil {
		return nil, err
	}
	k := -1 // the first merge phase not complete, else the last one
	for _, ph := range cut.Phases {
		if !ph.Global {
			continue
		}
		k = ph.Index
		if !cut.Done(opts.RunDir, ph, fps) {
			break
		}
	}
	if k < 0 {
		// no global step: the shards hold everything; gather it all
		if _, err := cut.Gather(opts.RunDir, len(cut.Phases), n, fps); err != nil {
			return nil, err
		}
		return run.Run(ctx, cut.Plan, opts)
	}
	return cut.RunMerge(ctx, k, n, true, opts)
}
