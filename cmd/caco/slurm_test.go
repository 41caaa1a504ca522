package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/caco-dev/caco/cmd/caco/internal/slurm"
)

// needSlurm skips the test without a Slurm cluster, except in CI, where
// .ci/run starts one (.ci/slurm start) and its absence is a failure.
func needSlurm(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("submits jobs to Slurm")
	}
	_, err := exec.LookPath("sbatch")
	if err == nil && os.Getenv("SLURM_CONF") != "" {
		if out, serr := exec.Command("sinfo", "-h", "-o", "%t").Output(); serr == nil && len(bytes.TrimSpace(out)) > 0 {
			return
		}
		err = fmt.Errorf("sinfo does not answer")
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI needs the one-node Slurm cluster of .ci/slurm (SLURM_CONF=%q): %v", os.Getenv("SLURM_CONF"), err)
	}
	t.Skip("no Slurm cluster here: `eval $(.ci/slurm start)` starts one")
}

var submittedRE = regexp.MustCompile(`submitted (array \d+ shards [\d,]+|merge \d+) as job (\d+)`)

// TestSlurmEndToEnd submits the shard recipe to a real slurmctld/slurmd as
// 4 shards, cancels one array task after it committed some but not all of
// its batches, checks that the merge job is then stuck, reruns `caco
// slurm`, which must cancel the stuck job and resubmit exactly that shard
// and what follows, and compares the final files byte for byte with a
// one-machine run.
func TestSlurmEndToEnd(t *testing.T) {
	t.Parallel() // mostly waits on subprocesses and jobs
	needSlurm(t)
	slurmEndToEnd(t, cacoBinary(t), t.TempDir(), "")
}

// TestSlurmEndToEndNonRoot runs the same as an ordinary user, the way a
// cluster user meets caco: jobs submitted by that user, the sandbox in
// unprivileged user namespaces. It needs root to create the user, and is
// skipped (saying why) where the sandbox does not run for a non-root user.
func TestSlurmEndToEndNonRoot(t *testing.T) {
	t.Parallel()
	needSlurm(t)
	if os.Getuid() != 0 {
		t.Skip("needs root to create the test user")
	}
	const user = "caco-slurm-test"
	if err := exec.Command("id", "-u", user).Run(); err != nil {
		if out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user).CombinedOutput(); err != nil {
			t.Fatalf("useradd: %v %s", err, out)
		}
	}
	// a binary and a folder the user can reach
	bin := cacoBinary(t)
	must(t, os.Chmod(filepath.Dir(bin), 0o755))
	dir, err := os.MkdirTemp("", "caco-nonroot-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	must(t, exec.Command("chown", user, dir).Run())
	must(t, os.Chmod(dir, 0o755))
	// does the sandbox run for this user?
	probe := filepath.Join(dir, "probe.py")
	must(t, os.WriteFile(probe, []byte("input = {\"a\": 1}\na = input[\"a\"]\nb = a + 1\nc = b * 2\nd = c - 1\noutput = d\n"), 0o644))
	if out, err := exec.Command("runuser", "-u", user, "--", bin, "exec", probe).CombinedOutput(); err != nil || !bytes.Contains(out, []byte(`"ok"`)) {
		t.Skipf("pending the rootless sandbox: `caco exec` as %s does not run a program yet: %v\n%s", user, err, out)
	}
	slurmEndToEnd(t, bin, dir, user)
}

func slurmEndToEnd(t *testing.T, bin, dir, user string) {
	writeShardFixture(t, dir, 80)
	cacoRun := func(t *testing.T, bin, dir string, args ...string) (string, error) {
		if user == "" {
			return cacoRun(t, bin, dir, args...)
		}
		cmd := exec.Command("runuser", append([]string{"-u", user, "--", bin}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if user != "" {
		must(t, exec.Command("chown", "-R", user, dir).Run())
	}
	// slow replies, so that a shard's 4 batches take a while to commit
	srv := startShardServer(t, 250*time.Millisecond)
	set := "url=" + srv.URL()
	serve := "caco=" + bin // the served model's server: caco serve-test-llm

	start := time.Now()
	if out, err := cacoRun(t, bin, dir, "run", "shards.yaml", "--run-dir", "one", "--set", set, "--set", serve, "--quiet"); err != nil {
		t.Fatalf("one-machine run: %v\n%s", err, out)
	}
	oneTime := time.Since(start)

	// the dry run shows the plan and submits nothing
	out, err := cacoRun(t, bin, dir, "slurm", "shards.yaml", "--shards", "4", "--run-dir", "cl", "--set", set, "--set", serve, "--dry-run")
	if err != nil || !strings.Contains(out, "#SBATCH --array=") || !strings.Contains(out, "--dependency=afterok:<array 0") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "cl", "slurm", "jobs.json")); err == nil {
		t.Fatalf("the dry run submitted jobs")
	}
	maxArray := slurm.MaxArraySize(context.Background())

	start = time.Now()
	out, err = cacoRun(t, bin, dir, "slurm", "shards.yaml", "--shards", "4", "--run-dir", "cl", "--set", set, "--set", serve)
	if err != nil {
		t.Fatalf("caco slurm: %v\n%s", err, out)
	}
	jobs := map[string]string{}
	for _, m := range submittedRE.FindAllStringSubmatch(out, -1) {
		jobs[m[1]] = m[2]
	}
	arrays := 0
	for what := range jobs {
		if strings.HasPrefix(what, "array 0 ") {
			arrays++
		}
	}
	if wantArrays := (4 + maxArray - 1) / maxArray; arrays != wantArrays {
		t.Errorf("array 0 went out as %d arrays, want %d for MaxArraySize %d:\n%s", arrays, wantArrays, maxArray, out)
	}
	first := ""
	for what, id := range jobs {
		if strings.HasPrefix(what, "array 0 shards 0") {
			first = id
		}
	}
	merge0 := jobs["merge 0"]
	if first == "" || merge0 == "" {
		t.Fatalf("caco slurm did not say what it submitted:\n%s", out)
	}

	// cancel shard 1 once it has committed a batch of the array's last step
	commits := func() int {
		m, _ := filepath.Glob(filepath.Join(dir, "cl", "shard-0001-of-0004", "steps", "check", "b-*.commit"))
		return len(m)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for commits() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("shard 1 committed nothing in 2 minutes; squeue:\n%s", squeue())
		}
		time.Sleep(10 * time.Millisecond)
	}
	task := first + "_1"
	if o, err := exec.Command("scancel", task).CombinedOutput(); err != nil {
		t.Fatalf("scancel %s: %v %s", task, err, o)
	}
	// wait until the merge job is stuck behind the failed array
	deadline = time.Now().Add(2 * time.Minute)
	for {
		q, err := slurm.Queue(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ours := map[string]bool{}
		for _, id := range jobs {
			ours[id] = true
		}
		stuck, running := false, 0
		for _, j := range q {
			if j.ArrayJob == merge0 && j.Stuck() {
				stuck = true
			} else if ours[j.ArrayJob] && j.State != "PENDING" {
				running++
			}
		}
		if stuck && running == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("merge 0 (job %s) did not get stuck; squeue:\n%s", merge0, squeue())
		}
		time.Sleep(200 * time.Millisecond)
	}
	done := commits()
	if done == 0 || done >= 4 {
		t.Fatalf("shard 1 has %d of its 4 batches committed when cancelled, want some but not all", done)
	}
	if _, err := os.Stat(filepath.Join(dir, "cl", "shard-0001-of-0004", "phases", "array-0.done")); err == nil {
		t.Fatalf("the cancelled shard says it is done")
	}

	out, err = cacoRun(t, bin, dir, "slurm", "shards.yaml", "--shards", "4", "--run-dir", "cl", "--set", set, "--set", serve, "--wait")
	if err != nil {
		t.Fatalf("caco slurm again: %v\n%s\nsqueue:\n%s", err, out, squeue())
	}
	slurmTime := time.Since(start)
	if !strings.Contains(out, "cancelled job "+merge0+" (merge 0)") {
		t.Errorf("the rerun did not cancel the stuck merge job %s:\n%s", merge0, out)
	}
	var again []string
	for _, m := range submittedRE.FindAllStringSubmatch(out, -1) {
		if strings.HasPrefix(m[1], "array 0") {
			again = append(again, m[1])
		}
	}
	if len(again) != 1 || again[0] != "array 0 shards 1" {
		t.Errorf("the rerun submitted %v of array 0, want exactly shard 1:\n%s", again, out)
	}
	var recs []jobRecord
	b, _ := os.ReadFile(filepath.Join(dir, "cl", "slurm", "jobs.json"))
	if err := json.Unmarshal(b, &recs); err != nil || len(recs) == 0 {
		t.Fatalf("jobs.json: %v", err)
	}
	t.Logf("one machine %s; Slurm, 4 shards, with the cancel and the resubmission %s", oneTime.Round(time.Millisecond), slurmTime.Round(time.Millisecond))

	for _, f := range []string{"out.jsonl", "rejects.jsonl"} {
		a, err := os.ReadFile(filepath.Join(dir, "one", f))
		must(t, err)
		b, err := os.ReadFile(filepath.Join(dir, "cl", f))
		must(t, err)
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between the one-machine run (%d bytes) and the Slurm run (%d bytes)", f, len(a), len(b))
		}
	}
	// serve: each array-1 task started its own server (caco serve-test-llm)
	for i := 0; i < 4; i++ {
		b, err := os.ReadFile(filepath.Join(dir, "cl", fmt.Sprintf("shard-%04d-of-0004", i), "serve-served.log"))
		if err != nil || !bytes.Contains(b, []byte("serving an OpenAI-compatible test API")) {
			t.Errorf("shard %d started no server of its own for the served model: %v\n%s", i, err, b)
		}
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "cl", "slurm", "*_*.log"))
	if len(logs) < 5 {
		t.Errorf("want a log per array task in RUN_DIR/slurm, found %d", len(logs))
	}
	// complete: a third run submits nothing
	out, err = cacoRun(t, bin, dir, "slurm", "shards.yaml", "--shards", "4", "--run-dir", "cl", "--set", set, "--set", serve)
	if err != nil || !strings.Contains(out, "nothing to submit") {
		t.Errorf("caco slurm on a complete run: %v\n%s", err, out)
	}
}

func squeue() string {
	out, _ := exec.Command("squeue", "-o", "%F %i %T %r").CombinedOutput()
	return string(out)
}

// TestSlurmTaskStopsOnUSR1 checks what an array task does on SIGUSR1
// (sbatch --signal=B:USR1@120 before a time limit, or a preemption): it
// stops with some batches committed and no completion marker, exits
// non-zero, and the task run again (as Slurm runs a requeued task)
// resumes and completes. Slurm itself is not needed: the task asks
// `scontrol requeue` and reports when it cannot.
func TestSlurmTaskStopsOnUSR1(t *testing.T) {
	t.Parallel() // mostly waits on subprocesses and jobs
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := cacoBinary(t)
	dir := t.TempDir()
	writeShardFixture(t, dir, 80)
	srv := startShardServer(t, 300*time.Millisecond)
	runDir := filepath.Join(dir, "cl")
	must(t, os.MkdirAll(runDir, 0o755))
	ci, _ := json.Marshal(clusterInfo{Recipe: filepath.Join(dir, "shards.yaml"), Set: map[string]string{"url": srv.URL(), "caco": bin}, Shards: 2})
	must(t, os.WriteFile(filepath.Join(runDir, clusterFile), ci, 0o644))
	shardDir := filepath.Join(runDir, "shard-0001-of-0002")
	commits := func() int {
		m, _ := filepath.Glob(filepath.Join(shardDir, "steps", "check", "b-*.commit"))
		return len(m)
	}
	cmd := exec.Command(bin, "slurm-task", runDir, "--phase", "0", "--shard", "1")
	cmd.Env = append(os.Environ(), "SLURM_JOB_ID=", "PATH=/nonexistent")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	must(t, cmd.Start())
	deadline := time.Now().Add(time.Minute)
	for commits() == 0 {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("no batch committed in a minute:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	must(t, cmd.Process.Signal(syscall.SIGUSR1))
	err := cmd.Wait()
	if err == nil {
		t.Fatalf("the task exited 0 after SIGUSR1:\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "SIGUSR1: committing what is done and stopping") || !strings.Contains(stderr.String(), "requeue") {
		t.Errorf("the task did not say it stopped for a requeue:\n%s", stderr.String())
	}
	done := commits()
	if done == 0 || done >= 8 {
		t.Fatalf("%d of the shard's 8 batches committed after SIGUSR1, want some but not all", done)
	}
	if _, err := os.Stat(filepath.Join(shardDir, "phases", "array-0.done")); err == nil {
		t.Fatalf("the stopped task wrote its completion marker")
	}
	// the requeued task resumes: it commits only the rest
	out, err := cacoRun(t, bin, dir, "slurm-task", runDir, "--phase", "0", "--shard", "1")
	if err != nil {
		t.Fatalf("the requeued task: %v\n%s", err, out)
	}
	if commits() != 8 {
		t.Errorf("after the requeued task: %d commits, want 8", commits())
	}
	if _, err := os.Stat(filepath.Join(shardDir, "phases", "array-0.done")); err != nil {
		t.Errorf("the requeued task wrote no completion marker")
	}
	if !strings.Contains(out, "resuming") {
		t.Errorf("the requeued task did not resume from the checkpoints:\n%s", out)
	}
}

// TestSlurmDryRunDefaults checks --dry-run (no Slurm needed): the recipe's
// `slurm:` defaults, flags added after them, array specs, dependencies,
// logs, requeue and signal directives, and that nothing is submitted.
func TestSlurmDryRunDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	bin := cacoBinary(t)
	dir := t.TempDir()
	writeShardFixture(t, dir, 10)
	recipe := strings.Replace(shardRecipe, "steps:\n", "slurm:\n  shards: 2\n  array_limit: 1\n  sbatch: [--partition=p1]\nsteps:\n", 1)
	must(t, os.WriteFile(filepath.Join(dir, "shards.yaml"), []byte(recipe), 0o644))
	out, err := cacoRun(t, bin, dir, "slurm", "shards.yaml", "--run-dir", "cl", "--sbatch=--time=1:00:00", "--dry-run")
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	runDir := filepath.Join(dir, "cl")
	for _, want := range []string{
		"# array 0 shards 0,1: sbatch --partition=p1 --time=1:00:00\n",
		"#SBATCH --array=0-1%1\n",
		"#SBATCH --requeue\n#SBATCH --signal=B:USR1@120\n",
		"#SBATCH --output=" + runDir + "/slurm/%A_%a.log\n",
		"# merge 0: sbatch --partition=p1 --time=1:00:00 --dependency=afterok:<array 0 shards 0,1>\n",
		"# array 1 shards 0,1: sbatch --partition=p1 --time=1:00:00 --dependency=afterok:<merge 0>\n",
		"slurm-task " + runDir + " --phase 3\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(runDir, "slurm", "jobs.json")); err == nil {
		t.Errorf("the dry run recorded jobs")
	}
	// --shards overrides the recipe
	out, _ = cacoRun(t, bin, dir, "slurm", "shards.yaml", "--run-dir", "cl", "--shards", "1", "--dry-run")
	if !strings.Contains(out, "#SBATCH --array=0%1\n") {
		t.Errorf("--shards 1 did not override the recipe's 2:\n%s", out)
	}
}
