package main

// cacobench verify: pairs/s of the answer checker (mathequiv.Equal on two
// raw strings, as consistency calls it) for this tree and for a base commit
// built side by side, on the same pairs, one core each, in one run.
//
//	go run ./cmd/cacobench verify [-base 7e8d7ab] [-pairs 200000] [-repeat 5]
//
// The workload is operators/verify/mathequiv/testdata/pairs232.json (the
// 232-pair table of 7e8d7ab) repeated to -pairs comparisons. The same small
// program is built in a git worktree of the base commit and in this tree;
// the two binaries run alternately, pinned to CPU 0 with GOMAXPROCS=1, and
// the medians and their ratio are printed.

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

const verifyBenchProgram = `package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/caco-dev/caco/operators/verify/mathequiv"
)

func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	buf, err := os.ReadFile(os.Args[1])
	if err != nil {
		panic(err)
	}
	var pairs [][2]string
	if err := json.Unmarshal(buf, &pairs); err != nil {
		panic(err)
	}
	n, _ := strconv.Atoi(os.Args[2])
	equal := 0
	start, cpu0 := time.Now(), cpu()
	for i := 0; i < n; i++ {
		p := pairs[i%len(pairs)]
		if ok, _ := mathequiv.Equal(p[0], p[1], mathequiv.Options{}); ok {
			equal++
		}
	}
	el, c := time.Since(start), cpu()-cpu0
	fmt.Printf("%.0f %.0f %d\n", float64(n)/c.Seconds(), float64(n)/el.Seconds(), equal)
}
`

func verifyBench(args []string) int {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	base := fs.String("base", "7e8d7ab", "commit to compare against")
	n := fs.Int("pairs", 200000, "comparisons per run")
	repeat := fs.Int("repeat", 5, "runs of each checker (alternating); medians are reported")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	root, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		fmt.Fprintf(os.Stderr, "cacobench verify: finding the repository: %v\n", err)
		return 1
	}
	repo := strings.TrimSpace(string(root))
	pairs := filepath.Join(repo, "operators", "verify", "mathequiv", "testdata", "pairs232.json")
	tmp, err := os.MkdirTemp("", "cacobench-verify-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	baseTree := filepath.Join(tmp, "base")
	if out, err := exec.Command("git", "-C", repo, "worktree", "add", "--detach", baseTree, *base).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "cacobench verify: git worktree add %s: %v\n%s", *base, err, out)
		return 1
	}
	defer exec.Command("git", "-C", repo, "worktree", "remove", "--force", baseTree).Run()

	build := func(tree, name string) (string, error) {
		dir := filepath.Join(tree, "cacobenchverifytmp")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		defer os.RemoveAll(dir)
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(verifyBenchProgram), 0o644); err != nil {
			return "", err
		}
		bin := filepath.Join(tmp, "checker-"+name)
		cmd := exec.Command("go", "build", "-o", bin, "./cacobenchverifytmp")
		cmd.Dir = tree
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("building the %s checker: %v\n%s", name, err, out)
		}
		return bin, nil
	}
	oldBin, err := build(baseTree, "base")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cacobench verify:", err)
		return 1
	}
	newBin, err := build(repo, "new")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cacobench verify:", err)
		return 1
	}
	run := func(bin string) (float64, float64, string, error) {
		argv := []string{bin, pairs, strconv.Itoa(*n)}
		if ts, err := exec.LookPath("taskset"); err == nil {
			argv = append([]string{ts, "-c", "0"}, argv...)
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
		out, err := cmd.Output()
		if err != nil {
			return 0, 0, "", fmt.Errorf("%s: %v", bin, err)
		}
		f := strings.Fields(string(out))
		if len(f) != 3 {
			return 0, 0, "", fmt.Errorf("%s: unexpected output %q", bin, out)
		}
		cpuRate, err1 := strconv.ParseFloat(f[0], 64)
		wallRate, err2 := strconv.ParseFloat(f[1], 64)
		if err1 != nil || err2 != nil {
			return 0, 0, "", fmt.Errorf("%s: unexpected output %q", bin, out)
		}
		return cpuRate, wallRate, f[2], nil
	}
	var oldCPU, newCPU, oldWall, newWall []float64
	var oldEq, newEq string
	for i := 0; i < *repeat; i++ {
		oc, ow, oe, err := run(oldBin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "cacobench verify:", err)
			return 1
		}
		nc, nw, ne, err := run(newBin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "cacobench verify:", err)
			return 1
		}
		oldCPU, newCPU, oldWall, newWall = append(oldCPU, oc), append(newCPU, nc), append(oldWall, ow), append(newWall, nw)
		oldEq, newEq = oe, ne
		fmt.Printf("run %d: base %s %.0f pairs per CPU second (%.0f per wall second), new %.0f (%.0f)\n", i+1, *base, oc, ow, nc, nw)
	}
	fmt.Printf("median over %d alternating runs of %d comparisons (the 232 pairs repeated), pinned to one core:\n", *repeat, *n)
	fmt.Printf("  %-14s %12s %12s %s\n", "", "pairs/CPU-s", "pairs/wall-s", "equal verdicts")
	fmt.Printf("  %-14s %12.0f %12.0f %s\n", "base "+*base, median(oldCPU), median(oldWall), oldEq)
	fmt.Printf("  %-14s %12.0f %12.0f %s\n", "new (tree)", median(newCPU), median(newWall), newEq)
	fmt.Printf("  %-14s %12.2f %12.2f\n", "new/base", median(newCPU)/median(oldCPU), median(newWall)/median(oldWall))
	return 0
}
