// Package slurm is what `caco slurm` and `caco status` know about Slurm:
// which phases and shards to submit (the resubmission choice), array specs
// split at MaxArraySize, batch scripts, and thin wrappers around sbatch,
// squeue, scancel and scontrol. It runs the Slurm commands; it never
// talks to slurmctld itself.
package slurm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"strconv"
	"strings"
)

// PhaseState is what a run folder says about one phase.
type PhaseState struct {
	Name   string
	Global bool
	// ShardDone[i] tells whether shard i completed an array phase.
	ShardDone []bool
	// Done tells whether a merge phase completed.
	Done bool
}

// Submission is one phase to submit: all of it (a merge), or the listed
// shards of an array.
type Submission struct {
	Phase  int // index into the states given to Choose
	Shards []int
	Global bool
}

// Choose returns what to submit so that the run completes: from the first
// phase that is not complete, the shards of an array that have no
// completion marker (all of them for later phases) and every merge. A
// complete run gives nothing.
func Choose(states []PhaseState) []Submission {
	var out []Submission
	started := false
	for k, st := range states {
		if st.Global {
			if started || !st.Done {
				started = true
				out = append(out, Submission{Phase: k, Global: true})
			}
			continue
		}
		var todo []int
		for i, done := range st.ShardDone {
			if started || !done {
				todo = append(todo, i)
			}
		}
		if len(todo) > 0 {
			started = true
			out = append(out, Submission{Phase: k, Shards: todo})
		}
	}
	return out
}

// Chunk is one array job: task ids Indexes, each running shard
// Offset+index.
type Chunk struct {
	Offset  int
	Indexes []int
}

// Split groups shard numbers into arrays whose task ids stay below
// maxArraySize (Slurm's MaxArraySize bounds the largest task id).
func Split(shards []int, maxArraySize int) []Chunk {
	if maxArraySize < 1 {
		maxArraySize = 1001
	}
	sorted := append([]int(nil), shards...)
	sort.Ints(sorted)
	var out []Chunk
	for _, s := range sorted {
		off := s / maxArraySize * maxArraySize
		if len(out) == 0 || out[len(out)-1].Offset != off {
			out = append(out, Chunk{Offset: off})
		}
		c := &out[len(out)-1]
		c.Indexes = append(c.Indexes, s-off)
	}
	return out
}

// ArraySpec renders task ids as sbatch's --array value: ranges and single
// ids, with %limit when limit > 0.
func ArraySpec(ids []int, limit int) string {
	var parts []string
	for i := 0; i < len(ids); {
		j := i
		for j+1 < len(ids) && ids[j+1] == ids[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", ids[i], ids[j]))
		} else {
			parts = append(parts, strconv.Itoa(ids[i]))
		}
		i = j + 1
	}
	s := strings.Join(parts, ",")
	if limit > 0 {
		s += "%" + strconv.Itoa(limit)
	}
	return s
}

// Script is a batch script: #SBATCH lines, then the command.
func Script(directives []string, env map[string]string, command []string) string {
	var b strings.Builder
	b.WriteString("#!/bin/bash\n")
	for _, d := range directives {
		b.WriteString("#SBATCH " + d + "\n")
	}
	var keys []string
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "export %s=%s\n", k, Quote(env[k]))
	}
	var q []string
	for _, c := range command {
		q = append(q, Quote(c))
	}
	// exec: caco is the batch shell itself, so --signal=B:USR1 reaches it
	b.WriteString("exec " + strings.Join(q, " ") + "\n")
	return b.String()
}

// Quote quotes s for bash when it needs it.
func Quote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r == '=' || r == ':' || r == ',' || r == '%' ||
			(r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z'))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Run runs a Slurm command and returns its standard output.
func Run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errb.String())
		if msg == "" {
			msg = err.Error()
		}
		var ee *exec.Error
		if errors.As(err, &ee) {
			return "", fmt.Errorf("%s: %w (is Slurm installed, and SLURM_CONF set?)", name, err)
		}
		return "", fmt.Errorf("%s %s: %s", name, strings.Join(args, " "), msg)
	}
	return out.String(), nil
}

// Submit runs sbatch with args on the script and returns the job id.
func Submit(ctx context.Context, script string, args []string) (string, error) {
	cmd := exec.CommandContext(ctx, "sbatch", append([]string{"--parsable"}, args...)...)
	cmd.Stdin = strings.NewReader(script)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("sbatch %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	id, _, _ := strings.Cut(strings.TrimSpace(out.String()), ";") // "id;cluster" on federations
	if id == "" {
		return "", fmt.Errorf("sbatch printed no job id")
	}
	return id, nil
}

// Config returns `scontrol show config` as a map.
func Config(ctx context.Context) (map[string]string, error) {
	out, err := Run(ctx, "scontrol", "show", "config")
	if err != nil {
		return nil, err
	}
	return ParseConfig(out), nil
}

// ParseConfig reads `Key = Value` lines.
func ParseConfig(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		m[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return m
}

// MaxArraySize reads the cluster's MaxArraySize (1001, Slurm's default,
// when it cannot).
func MaxArraySize(ctx context.Context) int {
	cfg, err := Config(ctx)
	if err != nil {
		return 1001
	}
	n, err := strconv.Atoi(cfg["MaxArraySize"])
	if err != nil || n < 1 {
		return 1001
	}
	return n
}

// Job is a line of squeue.
type Job struct {
	ArrayJob string // the array's job id (the job's own id when not an array)
	ID       string // 123_4 for array tasks
	State    string // PENDING, RUNNING, ...
	Reason   string // DependencyNeverSatisfied, ...
}

// Queue lists the jobs squeue knows (pending and running).
func Queue(ctx context.Context) ([]Job, error) {
	out, err := Run(ctx, "squeue", "-h", "-o", "%F|%i|%T|%r")
	if err != nil {
		return nil, err
	}
	return ParseQueue(out), nil
}

// ParseQueue reads squeue -o "%F|%i|%T|%r" output.
func ParseQueue(out string) []Job {
	var jobs []Job
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 4 {
			continue
		}
		jobs = append(jobs, Job{ArrayJob: f[0], ID: f[1], State: f[2], Reason: f[3]})
	}
	return jobs
}

// Stuck reports whether a job waits on a dependency that can no longer be
// satisfied (its afterok array failed or was cancelled).
func (j Job) Stuck() bool {
	return j.State == "PENDING" && j.Reason == "DependencyNeverSatisfied"
}

// Dead returns the queued jobs, of those listed in order, that will
// never start: a job stuck behind a failed or cancelled one
// (DependencyNeverSatisfied under afterok), and every later job still
// pending, since each waits on the one before it.
func Dead(queue []Job, order []string) map[string]bool {
	idx := map[string]int{}
	for k, id := range order {
		idx[id] = k
	}
	first := -1
	for _, q := range queue {
		if k, ours := idx[q.ArrayJob]; ours && q.Stuck() && (first < 0 || k < first) {
			first = k
		}
	}
	dead := map[string]bool{}
	if first < 0 {
		return dead
	}
	for _, q := range queue {
		if k, ours := idx[q.ArrayJob]; ours && k >= first && q.State == "PENDING" {
			dead[q.ArrayJob] = true
		}
	}
	return dead
}
