package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// cacoBench runs the full recipes/caco.yaml over generated seeds against
// `caco serve-test-llm` (scripted replies, added latency) and reports
// end-to-end rows/s and the time per step:
//
//	go run ./cmd/cacobench caco [-seeds 10000] [-latency 200ms] [-parallel 256]
//	    [-codegen 1024] [-augment 1.0] [-caco PATH] [-recipe recipes/caco.yaml]
//
// The test server answers every prompt of the recipe from rules keyed by its
// prompts' marker text (a seed "What is A times B plus C?" gets a Code CoT
// computing it, and so on), so every row passes every check: the run
// measures the engine, the sandbox and the LLM client, not rejects.
func cacoBench(args []string) int {
	fs := flag.NewFlagSet("caco", flag.ContinueOnError)
	seeds := fs.Int("seeds", 10000, "generated seed problems")
	latency := fs.Duration("latency", 200*time.Millisecond, "test server latency per request")
	parallel := fs.Int("parallel", 256, "test server max parallel requests (the recipe's models allow 256 in flight)")
	codegen := fs.Int("codegen", 1024, "CodeGen samples (codegen_samples)")
	augment := fs.Float64("augment", 1.0, "augment_fraction: share of seed programs that get the 3 variants")
	cacoBin := fs.String("caco", "", "caco binary (default: build ./cmd/caco)")
	recipePath := fs.String("recipe", "recipes/caco.yaml", "the recipe")
	keep := fs.Bool("keep", false, "keep the work folder")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	work, err := os.MkdirTemp("", "cacobench-caco-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if !*keep {
		defer os.RemoveAll(work)
	} else {
		fmt.Println("work folder:", work)
	}
	bin := *cacoBin
	if bin == "" {
		bin = filepath.Join(work, "caco")
		if out, err := exec.Command("go", "build", "-o", bin, "./cmd/caco").CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building caco: %v\n%s", err, out)
			return 1
		}
	}
	seedsPath := filepath.Join(work, "seeds.jsonl")
	if err := genSeeds(seedsPath, *seeds); err != nil {
		fmt.Fprintf(os.Stderr, "generating seeds: %v\n", err)
		return 1
	}
	rulesPath := filepath.Join(work, "rules.json")
	b, _ := json.Marshal(benchRules)
	if err := os.WriteFile(rulesPath, b, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	addr, err := freeAddr()
	if err != nil {
		fmt.Fprintf(os.Stderr, "finding a free port: %v\n", err)
		return 1
	}
	srv := exec.Command(bin, "serve-test-llm", "--addr", addr, "--latency", latency.String(),
		"--max-parallel", strconv.Itoa(*parallel), "--rules", rulesPath)
	srv.Stdout, srv.Stderr = os.Stderr, os.Stderr
	if err := srv.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "starting the test server: %v\n", err)
		return 1
	}
	defer func() { srv.Process.Signal(os.Interrupt); srv.Wait() }()
	if err := waitTCP(addr, 10*time.Second); err != nil {
		fmt.Fprintf(os.Stderr, "test server: %v\n", err)
		return 1
	}
	url := "http://" + addr + "/v1"
	runDir := filepath.Join(work, "run")
	cmdArgs := []string{"run", *recipePath, "--run-dir", runDir, "--quiet",
		"--set", "seeds=" + seedsPath, "--set", "instruct_url=" + url, "--set", "codegen_url=" + url,
		"--set", "codegen_samples=" + strconv.Itoa(*codegen), "--set", "augment_fraction=" + strconv.FormatFloat(*augment, 'g', -1, 64)}
	fmt.Printf("caco %v\n", cmdArgs)
	start := time.Now()
	run := exec.Command(bin, cmdArgs...)
	run.Stdout, run.Stderr = os.Stdout, os.Stderr
	if err := run.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "caco run: %v\n", err)
		return 1
	}
	wall := time.Since(start)
	data, err := os.ReadFile(filepath.Join(runDir, "stats.json"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var st struct {
		Seconds float64 `json:"seconds"`
		Steps   []struct {
			Step     string           `json:"step"`
			Op       string           `json:"op"`
			RowsIn   int64            `json:"rows_in"`
			RowsOut  int64            `json:"rows_out"`
			Rejected int64            `json:"rejected"`
			Seconds  float64          `json:"seconds"`
			Counters map[string]int64 `json:"counters"`
		} `json:"steps"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var requests, final int64
	fmt.Printf("\n%-24s %-12s %9s %9s %9s %9s %10s\n", "step", "op", "rows in", "rows out", "rejected", "seconds", "rows/s")
	for _, s := range st.Steps {
		rate := ""
		if s.Seconds >= 0.01 {
			rate = fmt.Sprintf("%.0f", float64(s.RowsIn)/s.Seconds)
		}
		fmt.Printf("%-24s %-12s %9d %9d %9d %9.2f %10s\n", s.Step, s.Op, s.RowsIn, s.RowsOut, s.Rejected, s.Seconds, rate)
		requests += s.Counters["requests"]
		if s.Step == "save_jsonl" {
			final = s.RowsOut
		}
	}
	fmt.Printf("\nseeds %d, LLM requests %d (latency %s, %d in flight), dataset rows %d\n", *seeds, requests, latency, *parallel, final)
	fmt.Printf("wall %.1fs: %.1f seeds/s, %.1f dataset rows/s, %.0f requests/s\n",
		wall.Seconds(), float64(*seeds)/wall.Seconds(), float64(final)/wall.Seconds(), float64(requests)/wall.Seconds())
	return 0
}

func genSeeds(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	rng := rand.New(rand.NewSource(1))
	seen := map[[3]int]bool{}
	for i := 0; i < n; {
		k := [3]int{10 + rng.Intn(990), 10 + rng.Intn(990), 1 + rng.Intn(9999)}
		if seen[k] {
			continue
		}
		seen[k] = true
		i++
		a, b, c := k[0], k[1], k[2]
		row := map[string]string{
			"id": fmt.Sprintf("bench-%06d", i), "category": "arithmetic",
			"problem":  fmt.Sprintf("What is %d times %d plus %d?", a, b, c),
			"solution": fmt.Sprintf("Step 1: %d × %d = %d.\nStep 2: %d + %d = %d.\nThe answer is %d.", a, b, a*b, a*b, c, a*b+c, a*b+c),
			"answer":   strconv.Itoa(a*b + c),
		}
		line, _ := json.Marshal(row)
		w.Write(append(line, '\n'))
	}
	return w.Flush()
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitTCP(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer within %s", addr, d)
}

type benchRule struct {
	Match string `json:"match"`
	Reply string `json:"reply"`
}

// benchRules answer recipes/caco.yaml's prompts (matched by their marker text).
var benchRules = []benchRule{
	{Match: `(?s)Rewrite the worked solution below as a Code CoT.*What is (?P<a>\d+) times (?P<b>\d+) plus (?P<c>\d+)\?`,
		Reply: "```python\ninput = {\"a\": {{index .Groups \"a\"}}, \"b\": {{index .Groups \"b\"}}, \"c\": {{index .Groups \"c\"}}}\n" +
			"a = input[\"a\"]\nb = input[\"b\"]\nc = input[\"c\"]\n# Step 1: the product\nproduct = a * b\n# Step 2: add c\ntotal = product + c\noutput = total\n```"},
	{Match: `(?s)Pattern: (?P<v>DECOMPOSE|REFORMULATE|ALTERNATIVE).*input = \{"a": (?P<a>\d+), "b": (?P<b>\d+), "c": (?P<c>\d+)\}`,
		Reply: "```python\n{{$v := index .Groups \"v\"}}" +
			"{{if eq $v \"DECOMPOSE\"}}input = {\"a\": {{index .Groups \"a\"}}, \"b\": {{index .Groups \"b\"}}, \"c\": {{index .Groups \"c\"}}}\n" +
			"def times(x, y):\n    \"\"\"The product.\"\"\"\n    return x * y\n\ndef plus(x, y):\n    \"\"\"The sum.\"\"\"\n    return x + y\n\na = input[\"a\"]\nb = input[\"b\"]\nc = input[\"c\"]\noutput = plus(times(a, b), c)\n" +
			"{{else if eq $v \"REFORMULATE\"}}input = {\"boxes\": {{index .Groups \"b\"}}, \"per_box\": {{index .Groups \"a\"}}, \"loose\": {{index .Groups \"c\"}}}\n" +
			"boxes = input[\"boxes\"]\nper_box = input[\"per_box\"]\nloose = input[\"loose\"]\n# items packed in boxes\npacked = boxes * per_box\n# plus the loose items\noutput = packed + loose\n" +
			"{{else}}input = {\"a\": {{index .Groups \"a\"}}, \"b\": {{index .Groups \"b\"}}, \"c\": {{index .Groups \"c\"}}}\n" +
			"a = input[\"a\"]\nb = input[\"b\"]\nc = input[\"c\"]\n# repeated addition instead of multiplication\ntotal = c\nfor _ in range(b):\n    total += a\noutput = total\n{{end}}```"},
	{Match: `^<\|im_start\|>system`,
		Reply: "```python\ninput = {\"k\": {{.Sample}}, \"m\": 17, \"q\": 5}\nk = input[\"k\"]\nm = input[\"m\"]\nq = input[\"q\"]\n# sum of an arithmetic progression\nterms = [m + i * q for i in range(k + 1)]\noutput = sum(terms)\n```"},
	{Match: `(?s)Write the problem that this program solves.*Output: (?P<out>[^\n]+)`,
		Reply: "Problem {{.Hash}}: the value is {{index .Groups \"out\"}}. What is the value?"},
	{Match: `(?s)Problem (?P<h>[0-9a-f]+): the value is (?P<out>-?\d+)\..*Please reason step by step`,
		Reply: "Step 1: Read the value from the statement.\nStep 2: It is {{index .Groups \"out\"}}.\n\nThe answer is $\\boxed{ {{- index .Groups \"out\" -}} }$."},
	{Match: `Check a step-by-step solution against a reference program`,
		Reply: "The solution computes the same value as the program.\nVerdict: yes"},
}
