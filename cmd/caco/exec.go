package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/caco-dev/caco/engine/op"
	cotexec "github.com/caco-dev/caco/operators/exec"
	"github.com/caco-dev/caco/operators/exec/sandbox"
)

const execUsage = `usage: caco exec [--timeout D] [--memory BYTES] [--rules caco|none] [--python PATH] [--sandbox namespaces|none] [--memory-cgroup required|optional] [--timing] FILE...

Runs each file as a Code CoT, with the same code path as the exec operator,
and prints one JSON object per line, in argument order:
  {"file": ..., "status": ..., "reason": ..., "input": ..., "output": ..., "stdout": ...}
(with --timing also "exec_ms", the program's wall time).
Exit status 0 when every program was run, whatever its status; 1 when the
sandbox itself failed (a program with status sandbox_error got no verdict);
2 on a usage error.
`

// execMain implements `caco exec`. The binary's main must call
// sandbox.MaybeInit() before anything else.
func execMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("caco exec", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, execUsage); fs.PrintDefaults() }
	timeout := fs.String("timeout", "5s", "wall-clock limit per program (e.g. 500ms, 5s)")
	memory := fs.String("memory", "1GiB", "address-space limit per program process (bytes or 512MB, 1GiB)")
	rules := fs.String("rules", "caco", "caco: the Code CoT checks; none: only run the programs")
	python := fs.String("python", sandbox.DefaultPython, "Python interpreter")
	sbx := fs.String("sandbox", "namespaces", "namespaces, or none to run WITHOUT isolation (unsafe)")
	timing := fs.Bool("timing", false, "add exec_ms, each program's wall time")
	memCgroup := fs.String("memory-cgroup", "required", "required: refuse to run without a cgroup memory limit; optional: rlimits only when there is none")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	files := fs.Args()
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "caco exec: "+format+"\n", a...)
		fmt.Fprint(stderr, execUsage)
		return 2
	}
	if len(files) == 0 {
		return usage("no FILE given")
	}
	d, err := op.ParseDuration(*timeout)
	if err != nil || d <= 0 {
		return usage("--timeout: invalid duration %q", *timeout)
	}
	mem, err := op.ParseSize(*memory)
	if err != nil {
		return usage("--memory: %v", err)
	}
	var r cotexec.Rules
	switch *rules {
	case "caco":
		r = cotexec.CacoRules
	case "none":
		r = cotexec.NoRules
	default:
		return usage("--rules: want caco or none, got %q", *rules)
	}
	if *sbx != "namespaces" && *sbx != "none" {
		return usage("--sandbox: want namespaces or none, got %q", *sbx)
	}
	if *memCgroup != "required" && *memCgroup != "optional" {
		return usage("--memory-cgroup: want required or optional, got %q", *memCgroup)
	}
	texts := make([]string, len(files))
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(stderr, "caco exec: reading program: %v\n", err)
			return 2
		}
		texts[i] = string(b)
	}
	if mem == 0 {
		mem = -1
	}
	workers := runtime.NumCPU()
	if workers > len(files) {
		workers = len(files)
	}
	pool, err := sandbox.New(ctx, sandbox.Options{Python: *python, Workers: workers, Timeout: d, Memory: mem,
		Unsafe: *sbx == "none", MemoryCgroup: *memCgroup})
	if err != nil {
		fmt.Fprintf(stderr, "caco exec: %v\n", err)
		return 1
	}
	defer pool.Close()
	for _, m := range pool.MissingLimits() {
		fmt.Fprintf(stderr, "caco exec: WARNING: the sandbox runs without a cgroup limit on %s; per-process rlimits still apply\n", m)
	}

	type line struct {
		File   string          `json:"file"`
		Status string          `json:"status"`
		Reason string          `json:"reason"`
		Input  json.RawMessage `json:"input"`
		Output json.RawMessage `json:"output"`
		Stdout string          `json:"stdout"`
		ExecMs *float64        `json:"exec_ms,omitempty"`
	}
	results := make([]chan line, len(files))
	for i := range results {
		results[i] = make(chan line, 1)
	}
	var runErr error
	var errOnce sync.Once
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				o, err := cotexec.Run(ctx, pool, texts[i], nil, r)
				if err != nil {
					errOnce.Do(func() { runErr = err; cancel() })
					close(results[i])
					continue
				}
				l := line{File: files[i], Status: o.Status, Reason: o.Reason, Input: o.Input, Output: o.Output, Stdout: o.Stdout}
				if l.Input == nil {
					l.Input = json.RawMessage("null")
				}
				if l.Output == nil {
					l.Output = json.RawMessage("null")
				}
				if o.Ran && *timing {
					ms := float64(o.Elapsed.Round(time.Microsecond).Microseconds()) / 1000
					l.ExecMs = &ms
				}
				results[i] <- l
			}
		}()
	}
	go func() {
		defer close(next)
		for i := range files {
			select {
			case next <- i:
			case <-ctx.Done():
				for j := i; j < len(files); j++ {
					close(results[j])
				}
				return
			}
		}
	}()
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	sandboxFailures := 0
	for i := range files {
		l, ok := <-results[i]
		if !ok {
			break
		}
		if l.Status == sandbox.StatusSandboxError {
			sandboxFailures++
		}
		if err := enc.Encode(l); err != nil {
			fmt.Fprintf(stderr, "caco exec: writing results: %v\n", err)
			cancel()
			wg.Wait()
			return 1
		}
	}
	wg.Wait()
	if runErr != nil {
		fmt.Fprintf(stderr, "caco exec: %v\n", runErr)
		return 1
	}
	if err := parent.Err(); err != nil {
		fmt.Fprintf(stderr, "caco exec: %v\n", err)
		return 1
	}
	if sandboxFailures > 0 {
		fmt.Fprintf(stderr, "caco exec: %d program(s) met a sandbox failure and got no verdict (status sandbox_error)\n", sandboxFailures)
		return 1
	}
	return 0
}
