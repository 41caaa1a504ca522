package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/caco-dev/caco/cmd/caco/internal/slurm"
	"github.com/caco-dev/caco/engine/checkpoint"
	"github.com/caco-dev/caco/engine/cluster"
)

func init() {
	commands["status"] = command{"progress of a run folder, sharded or not: per step and shard rows done, rejects, what is still to run", statusMain}
}

// stepCount sums a step's commits in one folder.
type stepCount struct {
	batches, rowsIn, rowsOut, rejected int64
}

func countStep(dir string) (stepCount, bool) {
	ss := &checkpoint.StepStore{Dir: dir}
	commits, err := ss.Commits()
	if err != nil || commits == nil {
		return stepCount{}, false
	}
	var c stepCount
	for _, cm := range commits {
		c.batches++
		c.rowsIn += cm.RowsIn
		c.rowsOut += cm.RowsOut
		for _, n := range cm.Rejects {
			c.rejected += n
		}
	}
	return c, true
}

func statusMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: caco status RUN_DIR")
		fmt.Fprintln(stderr, "Shows, from the run folder alone, per step (and per shard of a sharded run) the batches and rows")
		fmt.Fprintln(stderr, "committed and the rows rejected; for a sharded run also each phase's state and its Slurm jobs.")
	}
	runDir, rest, ok := splitArgs(fs, args)
	if !ok || runDir == "" || len(rest) != 0 {
		if ok {
			fs.Usage()
		}
		return exitUsage
	}
	absDir, _ := filepath.Abs(runDir)
	if st, err := os.Stat(absDir); err != nil || !st.IsDir() {
		fmt.Fprintf(stderr, "caco status: %s is not a run folder\n", runDir)
		return exitFail
	}
	n, err := cluster.FindShards(absDir)
	if err != nil {
		fmt.Fprintf(stderr, "caco status: %v\n", err)
		return exitFail
	}
	// the steps, in plan order when the recipe can be planned
	var order []string
	phaseOf := map[string]string{}
	var cut *cluster.Cut
	var fps map[string]string
	recipeFile, sets := "", map[string]string{}
	if ci, err := readClusterInfo(absDir); err == nil {
		recipeFile, sets = ci.Recipe, ci.Set
	} else if b, err := os.ReadFile(filepath.Join(absDir, "manifest.json")); err == nil {
		var m struct {
			File string `json:"file"`
		}
		if json.Unmarshal(b, &m) == nil {
			recipeFile = m.File
		}
	}
	if recipeFile != "" {
		if p, diags := loadPlan(recipeFile, sets, absDir, io.Discard, false); p != nil && !diags.HasErrors() {
			cut = cluster.New(p)
			for _, node := range p.Nodes {
				order = append(order, node.Name())
				phaseOf[node.Name()] = cut.PhaseOf(node.Name()).Name()
			}
			fps, _ = cut.Fingerprints(absDir)
		}
	}
	folders := []string{absDir}
	labels := []string{"run"}
	for i := 0; i < n; i++ {
		folders = append(folders, cluster.ShardDir(absDir, i, n))
		labels = append(labels, fmt.Sprintf("shard %d/%d", i, n))
	}
	seen := map[string]bool{}
	for _, s := range order {
		seen[s] = true
	}
	for _, f := range folders {
		entries, _ := os.ReadDir(filepath.Join(f, "steps"))
		var extra []string
		for _, e := range entries {
			if e.IsDir() && !seen[e.Name()] {
				seen[e.Name()] = true
				extra = append(extra, e.Name())
			}
		}
		sort.Strings(extra)
		order = append(order, extra...)
	}
	fmt.Fprintf(stdout, "run folder %s", runDir)
	if n > 0 {
		fmt.Fprintf(stdout, " (%d shards)", n)
	}
	if recipeFile != "" {
		fmt.Fprintf(stdout, ", recipe %s", recipeFile)
	}
	fmt.Fprintln(stdout)
	if cut != nil && fps != nil && n > 0 {
		fmt.Fprintln(stdout, "\nphases:")
		for _, ph := range cut.Phases {
			state := ""
			if ph.Global {
				state = "to run"
				if cut.Done(absDir, ph, fps) {
					state = "done"
				}
			} else {
				var missing []string
				for i := 0; i < n; i++ {
					if !cut.Done(cluster.ShardDir(absDir, i, n), ph, fps) {
						missing = append(missing, fmt.Sprint(i))
					}
				}
				switch {
				case cut.Done(absDir, ph, fps):
					state = "done (in the run folder)"
				case len(missing) == 0:
					state = fmt.Sprintf("done in all %d shards", n)
				default:
					state = fmt.Sprintf("done in %d of %d shards; to run: shard %s", n-len(missing), n, strings.Join(missing, ", "))
				}
			}
			fmt.Fprintf(stdout, "  %-8s %s  (%s)\n", ph.Name(), state, strings.Join(ph.StepNames(), ", "))
		}
	}
	fmt.Fprintln(stdout)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "step\tphase\twhere\tbatches\trows in\trows out\trejected\t")
	for _, s := range order {
		for k, f := range folders {
			c, ok := countStep(filepath.Join(f, "steps", s))
			if !ok || c.batches == 0 {
				continue
			}
			if k > 0 && cut != nil && cut.PhaseOf(s) != nil && cut.PhaseOf(s).Global {
				continue // a merge's batches linked into a shard for its next array
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t\n", s, phaseOf[s], labels[k], c.batches, c.rowsIn, c.rowsOut, c.rejected)
		}
	}
	tw.Flush()
	jobs := readJobs(absDir)
	if len(jobs) > 0 {
		active := map[string][]string{}
		if q, err := slurm.Queue(ctx); err == nil {
			for _, j := range q {
				active[j.ArrayJob] = append(active[j.ArrayJob], j.ID+" "+strings.ToLower(j.State)+reason(j))
			}
		}
		fmt.Fprintln(stdout, "\nSlurm jobs (RUN_DIR/slurm/jobs.json; logs beside it):")
		for _, j := range jobs {
			state := "ended"
			if a := active[j.Job]; len(a) > 0 {
				state = strings.Join(a, ", ")
			}
			what := j.Phase
			if len(j.Shards) > 0 {
				what += " shards " + joinInts(j.Shards)
			}
			fmt.Fprintf(stdout, "  job %-8s %-24s %s\n", j.Job, what, state)
		}
	}
	return exitOK
}

func reason(j slurm.Job) string {
	if j.Reason == "" || j.Reason == "None" {
		return ""
	}
	return " (" + j.Reason + ")"
}
