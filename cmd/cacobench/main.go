// Command cacobench measures caco end to end on generated data, running the
// real caco binary as a subprocess and reading its peak RSS from the kernel.
//
//	go run ./cmd/cacobench engine [-rows 100000,1000000] [-caco PATH]
//	go run ./cmd/cacobench caco [-seeds 10000] [-caco PATH]
//	go run ./cmd/cacobench verify [-base 7e8d7ab] [-pairs 200000] (see verify.go)
//
// engine: load JSONL → filter → write Parquet, reporting rows/s and peak RSS
// per size, so that flat memory from 100k to 1M rows can be seen side by
// side in one run.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: cacobench engine [-rows N,N] [-caco PATH]\n       cacobench caco [-seeds N] [-caco PATH]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "engine":
		os.Exit(engineBench(os.Args[2:]))
	case "caco":
		os.Exit(cacoBench(os.Args[2:]))
	case "verify":
		os.Exit(verifyBench(os.Args[2:]))
	default:
		fmt.Fprintf(os.Stderr, "cacobench: unknown benchmark %q\n", os.Args[1])
		os.Exit(2)
	}
}

const engineRecipe = `caco: 1
name: bench-engine
steps:
  rows:
    op: load
    path: rows.jsonl
    columns:
      - {name: id, type: int}
      - {name: code, type: string}
      - {name: status, type: string}
      - {name: exec_ms, type: float}
      - {name: source, type: string}
  valid:
    op: filter
    input: rows
    where: status == "ok" && len(code) > 0 && exec_ms < 900
    workers: 2
  save:
    op: write
    input: valid
    path: ${run_dir}/out.parquet
`

func engineBench(args []string) int {
	fs := flag.NewFlagSet("engine", flag.ExitOnError)
	sizes := fs.String("rows", "100000,1000000", "row counts, comma-separated")
	bin := fs.String("caco", "", "caco binary (default: build ./cmd/caco)")
	keep := fs.Bool("keep", false, "keep the work folder")
	memLimit := fs.String("memory-limit", "", "pass --memory-limit to caco run")
	outName := fs.String("out", "out.parquet", "output file of the write step (.parquet or .jsonl)")
	repeat := fs.Int("repeat", 3, "runs per size; the median is reported (peak RSS varies with GC timing)")
	fs.Parse(args)
	work, err := os.MkdirTemp("", "cacobench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if !*keep {
		defer os.RemoveAll(work)
	}
	if *bin == "" {
		*bin = filepath.Join(work, "caco")
		if out, err := exec.Command("go", "build", "-o", *bin, "./cmd/caco").CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building caco: %v\n%s", err, out)
			return 1
		}
	}
	fmt.Printf("%-10s %10s %12s %12s %10s\n", "rows", "seconds", "rows/s", "peak RSS", "rows out")
	fmt.Println("(medians)")
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			fmt.Fprintf(os.Stderr, "bad -rows %q\n", s)
			return 2
		}
		dir := filepath.Join(work, s)
		os.MkdirAll(dir, 0o755)
		if err := genRows(filepath.Join(dir, "rows.jsonl"), n); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		os.WriteFile(filepath.Join(dir, "bench.yaml"), []byte(strings.Replace(engineRecipe, "out.parquet", *outName, 1)), 0o644)
		var secs, rss []float64
		out := "?"
		for k := 0; k < *repeat; k++ {
			runDir := filepath.Join(dir, fmt.Sprintf("run%d", k))
			cmdArgs := []string{"run", filepath.Join(dir, "bench.yaml"), "--run-dir", runDir, "--quiet"}
			if *memLimit != "" {
				cmdArgs = append(cmdArgs, "--memory-limit", *memLimit)
			}
			cmd := exec.Command(*bin, cmdArgs...)
			cmd.Stderr = os.Stderr
			start := time.Now()
			if err := cmd.Run(); err != nil {
				fmt.Fprintf(os.Stderr, "caco run: %v\n", err)
				return 1
			}
			secs = append(secs, time.Since(start).Seconds())
			ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
			rss = append(rss, float64(ru.Maxrss)/1024)
			out = statRowsOut(filepath.Join(runDir, "stats.json"))
			os.RemoveAll(runDir)
		}
		sec, mem := median(secs), median(rss)
		fmt.Printf("%-10d %10.2f %12.0f %10.1f MB %10s   (peak RSS of %d runs: %s)\n", n, sec, float64(n)/sec, mem, out, *repeat, fmtList(rss))
		if !*keep {
			os.Remove(filepath.Join(dir, "rows.jsonl"))
		}
	}
	return 0
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func fmtList(xs []float64) string {
	var parts []string
	for _, x := range xs {
		parts = append(parts, fmt.Sprintf("%.0f", x))
	}
	return strings.Join(parts, ", ")
}

// genRows writes n Code-CoT-like rows (about 300 bytes each).
func genRows(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.New(rand.NewSource(42))
	statuses := []string{"ok", "ok", "ok", "exception", "timeout"}
	for i := 0; i < n; i++ {
		code := fmt.Sprintf("def solve(a, b):\\n    total = 0\\n    for k in range(a):\\n        total += k * %d\\n    return total + b\\n\\ninput = {\\\"a\\\": %d, \\\"b\\\": %d}\\noutput = solve(input[\\\"a\\\"], input[\\\"b\\\"])",
			r.Intn(100), r.Intn(1000), r.Intn(1000))
		fmt.Fprintf(w, `{"id": %d, "code": "%s", "status": "%s", "exec_ms": %.2f, "source": "bench-%d"}`+"\n",
			i, code, statuses[r.Intn(len(statuses))], r.Float64()*1000, i%17)
	}
	return w.Flush()
}

func statRowsOut(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "?"
	}
	s := string(b)
	i := strings.LastIndex(s, `"rows_out": `)
	if i < 0 {
		return "?"
	}
	s = s[i+len(`"rows_out": `):]
	if j := strings.IndexAny(s, ",\n"); j > 0 {
		return s[:j]
	}
	return "?"
}
