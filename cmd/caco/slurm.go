package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/caco-dev/caco/cmd/caco/internal/slurm"
	"github.com/caco-dev/caco/engine/checkpoint"
	"github.com/caco-dev/caco/engine/cluster"
	"github.com/caco-dev/caco/engine/run"
)

func init() {
	commands["slurm"] = command{"submit a recipe to Slurm as sharded job arrays and merge jobs (again: only what is not complete)", slurmMain}
	commands["slurm-task"] = command{"(run by caco slurm's batch scripts) one array task or merge job", slurmTaskMain}
}

// listFlags collects a repeated string flag.
type listFlags []string

func (l *listFlags) String() string     { return strings.Join(*l, " ") }
func (l *listFlags) Set(v string) error { *l = append(*l, v); return nil }

// jobRecord is one submitted job, kept in RUN_DIR/slurm/jobs.json.
type jobRecord struct {
	Phase  string    `json:"phase"`
	Job    string    `json:"job"`
	Shards []int     `json:"shards,omitempty"`
	At     time.Time `json:"submitted"`
}

func jobsPath(runDir string) string { return filepath.Join(runDir, "slurm", "jobs.json") }

func readJobs(runDir string) []jobRecord {
	var jobs []jobRecord
	if b, err := os.ReadFile(jobsPath(runDir)); err == nil {
		_ = json.Unmarshal(b, &jobs)
	}
	return jobs
}

func slurmMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("slurm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	shards := fs.Int("shards", 0, "number of shards of every array phase (required)")
	runDir := fs.String("run-dir", "", "run folder, on a file system every node sees (default runs/<recipe name>)")
	arrayLimit := fs.Int("array-limit", 0, "array tasks running at once (sbatch --array=...%K; 0: no limit)")
	wait := fs.Bool("wait", false, "wait until the submitted jobs end; exit 0 only if the run is complete")
	dryRun := fs.Bool("dry-run", false, "print the batch scripts and sbatch arguments; submit nothing")
	sets := setFlags{}
	fs.Var(sets, "set", "override a var: --set name=value (repeatable)")
	var sbatchArgs listFlags
	fs.Var(&sbatchArgs, "sbatch", "pass an argument to every sbatch (repeatable), e.g. --sbatch=--partition=gpu --sbatch=--gres=gpu:1")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: caco slurm RECIPE --shards N [--run-dir DIR] [--set k=v]... [--sbatch ARG]... [--array-limit K] [--wait] [--dry-run]")
		fs.PrintDefaults()
	}
	file, rest, ok := splitArgs(fs, args)
	if !ok || file == "" || len(rest) != 0 {
		if ok {
			fs.Usage()
		}
		return exitUsage
	}
	dir := *runDir
	if dir == "" {
		dir = defaultRunDir(file)
	}
	absDir, _ := filepath.Abs(dir)
	p, diags := loadPlan(file, sets, absDir, stderr, false)
	_ = diags.WriteText(stderr)
	if diags.HasErrors() {
		fmt.Fprintf(stderr, "caco slurm: %s is not valid; nothing was submitted\n", file)
		return exitFail
	}
	// the recipe's `slurm:` defaults, then the flags
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if d := p.Recipe.Slurm; d != nil {
		if !given["shards"] {
			*shards = d.Shards
		}
		if !given["array-limit"] {
			*arrayLimit = d.ArrayLimit
		}
		sbatchArgs = append(append(listFlags(nil), d.Sbatch...), sbatchArgs...)
	}
	if *shards < 1 {
		fmt.Fprintln(stderr, "caco slurm: --shards N is required (N >= 1), or `slurm: {shards: N}` in the recipe")
		return exitUsage
	}
	cut := cluster.New(p)
	fps, err := cut.Fingerprints(absDir)
	if err != nil {
		fmt.Fprintf(stderr, "caco slurm: %v\n", err)
		return exitFail
	}
	if n, err := cluster.FindShards(absDir); err == nil && n != 0 && n != *shards {
		fmt.Fprintf(stderr, "caco slurm: %s was run with %d shards, not %d: use --shards %d, or another --run-dir\n", dir, n, *shards, n)
		return exitUsage
	}
	if !*dryRun {
		if code := settleJobs(ctx, absDir, stderr); code != exitOK {
			return code
		}
	}
	subs := slurm.Choose(phaseStates(cut, absDir, *shards, fps))
	if len(subs) == 0 {
		fmt.Fprintf(stderr, "caco slurm: %s is complete; nothing to submit\n", dir)
		return exitOK
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "caco slurm: finding the caco binary: %v\n", err)
		return exitFail
	}
	maxArray := slurm.MaxArraySize(ctx)
	if !*dryRun {
		if err := writeClusterInfo(absDir, file, sets, *shards, p); err != nil {
			fmt.Fprintf(stderr, "caco slurm: %v\n", err)
			return exitFail
		}
		if err := os.MkdirAll(filepath.Join(absDir, "slurm"), 0o755); err != nil {
			fmt.Fprintf(stderr, "caco slurm: %v\n", err)
			return exitFail
		}
	}
	jobs := readJobs(absDir)
	var prev []string      // the jobs the next phase waits for
	var submitted []string // every job submitted now
	for _, sub := range subs {
		ph := cut.Phases[sub.Phase]
		name := fmt.Sprintf("caco-%s-%s", p.Recipe.Name, strings.ReplaceAll(ph.Name(), " ", ""))
		type job struct {
			script string
			args   []string
			shards []int
		}
		var batch []job
		base := []string{"--job-name=" + name, "--requeue", "--signal=B:USR1@120", "--open-mode=append"}
		if sub.Global {
			d := append(base, "--output="+filepath.Join(absDir, "slurm", "%j.log"))
			cmd := []string{self, "slurm-task", absDir, "--phase", strconv.Itoa(sub.Phase)}
			batch = append(batch, job{script: slurm.Script(d, nil, cmd)})
		} else {
			for _, ch := range slurm.Split(sub.Shards, maxArray) {
				d := append(append([]string(nil), base...), "--array="+slurm.ArraySpec(ch.Indexes, *arrayLimit),
					"--output="+filepath.Join(absDir, "slurm", "%A_%a.log"))
				cmd := []string{self, "slurm-task", absDir, "--phase", strconv.Itoa(sub.Phase), "--offset", strconv.Itoa(ch.Offset)}
				var sh []int
				for _, ix := range ch.Indexes {
					sh = append(sh, ch.Offset+ix)
				}
				batch = append(batch, job{script: slurm.Script(d, nil, cmd), shards: sh})
			}
		}
		var ids []string
		for _, j := range batch {
			args := append([]string(nil), sbatchArgs...)
			if len(prev) > 0 {
				args = append(args, "--dependency=afterok:"+strings.Join(prev, ":"))
			}
			what := ph.Name()
			if !sub.Global {
				what += " shards " + joinInts(j.shards)
			}
			if *dryRun {
				fmt.Fprintf(stdout, "# %s: sbatch %s\n%s\n", what, strings.Join(args, " "), j.script)
				ids = append(ids, "<"+what+">")
				continue
			}
			id, err := slurm.Submit(ctx, j.script, args)
			if err != nil {
				fmt.Fprintf(stderr, "caco slurm: submitting %s: %v\n", what, err)
				return exitFail
			}
			ids = append(ids, id)
			submitted = append(submitted, id)
			jobs = append(jobs, jobRecord{Phase: ph.Name(), Job: id, Shards: j.shards, At: time.Now().UTC()})
			if err := checkpoint.WriteJSON(jobsPath(absDir), jobs); err != nil {
				fmt.Fprintf(stderr, "caco slurm: submitted %s as job %s but could not record it: %v\n", what, id, err)
				return exitFail
			}
			fmt.Fprintf(stderr, "caco slurm: submitted %s as job %s\n", what, id)
		}
		prev = ids
	}
	if *dryRun {
		return exitOK
	}
	fmt.Fprintf(stderr, "caco slurm: logs in %s; `caco status %s` shows progress\n", filepath.Join(dir, "slurm"), dir)
	if !*wait {
		return exitOK
	}
	if err := waitJobs(ctx, submitted); err != nil {
		fmt.Fprintf(stderr, "caco slurm: %v\n", err)
		return exitFail
	}
	if left := slurm.Choose(phaseStates(cut, absDir, *shards, fps)); len(left) > 0 {
		fmt.Fprintf(stderr, "caco slurm: the jobs ended but %s is not complete (see %s); run the same command to resubmit what is missing\n",
			cut.Phases[left[0].Phase].Name(), filepath.Join(dir, "slurm"))
		return exitFail
	}
	fmt.Fprintf(stderr, "caco slurm: %s is complete\n", dir)
	return exitOK
}

func joinInts(xs []int) string {
	var s []string
	for _, x := range xs {
		s = append(s, strconv.Itoa(x))
	}
	return strings.Join(s, ",")
}

// phaseStates reads the completion markers of every phase.
func phaseStates(cut *cluster.Cut, runDir string, n int, fps map[string]string) []slurm.PhaseState {
	var out []slurm.PhaseState
	for _, ph := range cut.Phases {
		st := slurm.PhaseState{Name: ph.Name(), Global: ph.Global}
		if ph.Global {
			st.Done = cut.Done(runDir, ph, fps)
		} else {
			for i := 0; i < n; i++ {
				st.ShardDone = append(st.ShardDone, cut.Done(cluster.ShardDir(runDir, i, n), ph, fps))
			}
		}
		out = append(out, st)
	}
	return out
}

// settleJobs looks at the jobs this run folder submitted before: jobs
// that would never start (stuck behind a failed array) are cancelled, and
// said so; a job still queued or running means the run is in progress, and
// nothing is submitted.
func settleJobs(ctx context.Context, runDir string, stderr io.Writer) int {
	jobs := readJobs(runDir)
	if len(jobs) == 0 {
		return exitOK
	}
	queue, err := slurm.Queue(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "caco slurm: %v\n", err)
		return exitFail
	}
	phaseOf := map[string]string{}
	var order []string
	for _, j := range jobs {
		phaseOf[j.Job] = j.Phase
		order = append(order, j.Job)
	}
	dead := slurm.Dead(queue, order)
	var active []string
	cancelled := map[string]bool{}
	for _, q := range queue {
		ph, ours := phaseOf[q.ArrayJob]
		if !ours || cancelled[q.ArrayJob] {
			continue
		}
		if dead[q.ArrayJob] {
			if _, err := slurm.Run(ctx, "scancel", q.ArrayJob); err != nil {
				fmt.Fprintf(stderr, "caco slurm: %v\n", err)
				return exitFail
			}
			cancelled[q.ArrayJob] = true
			why := "it waited on a job that failed or was cancelled"
			if !q.Stuck() {
				why = "it waited on such a job"
			}
			fmt.Fprintf(stderr, "caco slurm: cancelled job %s (%s): %s, and would never start\n", q.ArrayJob, ph, why)
			continue
		}
		active = append(active, fmt.Sprintf("%s (%s, %s)", q.ID, ph, strings.ToLower(q.State)))
	}
	if len(active) > 0 {
		fmt.Fprintf(stderr, "caco slurm: this run still has jobs in the queue: %s\n", strings.Join(active, ", "))
		fmt.Fprintln(stderr, "caco slurm: wait for them (caco status shows progress) or scancel them, then run the same command again")
		return exitFail
	}
	return exitOK
}

// waitJobs polls squeue until none of ids (in submission order) is queued
// or running, counting jobs that will never start as ended.
func waitJobs(ctx context.Context, ids []string) error {
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	for {
		queue, err := slurm.Queue(ctx)
		if err != nil {
			return err
		}
		dead := slurm.Dead(queue, ids)
		left := 0
		for _, q := range queue {
			if want[q.ArrayJob] && !dead[q.ArrayJob] {
				left++
			}
		}
		if left == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// slurmTaskMain runs one array task (shard offset+SLURM_ARRAY_TASK_ID of an
// array phase) or one merge job. On SIGUSR1 (sbatch --signal=B:USR1@120,
// before the time limit or a preemption) it stops after the batches in
// flight are committed, asks Slurm to requeue it, and exits; the requeued
// task resumes from its checkpoints.
func slurmTaskMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("slurm-task", flag.ContinueOnError)
	fs.SetOutput(stderr)
	phase := fs.Int("phase", -1, "phase index")
	offset := fs.Int("offset", 0, "added to SLURM_ARRAY_TASK_ID to give the shard")
	shard := fs.Int("shard", -1, "the shard (default: offset + SLURM_ARRAY_TASK_ID)")
	runDir, rest, ok := splitArgs(fs, args)
	if !ok || runDir == "" || len(rest) != 0 || *phase < 0 {
		fmt.Fprintln(stderr, "usage: caco slurm-task RUN_DIR --phase K [--offset O | --shard I]")
		return exitUsage
	}
	absDir, _ := filepath.Abs(runDir)
	ci, err := readClusterInfo(absDir)
	if err != nil {
		fmt.Fprintf(stderr, "caco slurm-task: %v\n", err)
		return exitFail
	}
	p, diags := loadPlan(ci.Recipe, ci.Set, absDir, stderr, false)
	_ = diags.WriteText(stderr)
	if diags.HasErrors() {
		fmt.Fprintf(stderr, "caco slurm-task: %s is not valid\n", ci.Recipe)
		return exitFail
	}
	cut := cluster.New(p)
	if *phase >= len(cut.Phases) {
		fmt.Fprintf(stderr, "caco slurm-task: the recipe has %d phases, not %d: it changed since caco slurm submitted this job\n", len(cut.Phases), *phase+1)
		return exitFail
	}
	ph := cut.Phases[*phase]
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	var requeue bool
	go func() {
		select {
		case <-usr1:
			requeue = true
			fmt.Fprintln(stderr, "caco slurm-task: SIGUSR1: committing what is done and stopping, to be requeued")
			cancel()
		case <-ctx.Done():
		}
	}()
	opts := run.Options{RunDir: absDir, Log: stderr, LogInterval: 30 * time.Second}
	var stats *run.Stats
	if ph.Global {
		stats, err = cut.RunMerge(ctx, *phase, ci.Shards, false, opts)
	} else {
		i := *shard
		if i < 0 {
			id, perr := strconv.Atoi(os.Getenv("SLURM_ARRAY_TASK_ID"))
			if perr != nil {
				fmt.Fprintln(stderr, "caco slurm-task: SLURM_ARRAY_TASK_ID is not set: give --shard I")
				return exitUsage
			}
			i = *offset + id
		}
		fmt.Fprintf(stderr, "caco slurm-task: %s, shard %d/%d\n", ph.Name(), i, ci.Shards)
		stats, err = cut.RunShard(ctx, *phase, i, ci.Shards, opts)
	}
	if err != nil {
		if requeue {
			job := os.Getenv("SLURM_JOB_ID")
			if _, rerr := slurm.Run(context.Background(), "scontrol", "requeue", job); rerr != nil {
				fmt.Fprintf(stderr, "caco slurm-task: requeue: %v\n", rerr)
			} else {
				fmt.Fprintf(stderr, "caco slurm-task: requeued job %s; it resumes from its checkpoints\n", job)
			}
			return exitFail
		}
		var inc *cluster.IncompleteError
		if errors.As(err, &inc) {
			fmt.Fprintf(stderr, "caco slurm-task: %v\n", err)
			return exitFail
		}
		fmt.Fprintf(stderr, "caco slurm-task: %s: %v\n", ph.Name(), err)
		return exitFail
	}
	stats.WriteTable(stderr)
	fmt.Fprintf(stderr, "caco slurm-task: %s done\n", ph.Name())
	return exitOK
}
