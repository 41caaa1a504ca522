package exec

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caco-dev/caco/operators/exec/sandbox"
)

// benchRunner is the unsandboxed reference runner used by the baselines:
// the Code CoT convention executed with exec() in fresh globals, stdout
// captured with redirect_stdout. "once" runs the program on stdin in a fresh
// process; "loop" is one warm interpreter (same preloads as the sandbox)
// running length-prefixed programs in-process, one after the other.
const benchRunner = `
import ast, builtins, contextlib, io, json, struct, sys
if hasattr(sys, "set_int_max_str_digits"):
    sys.set_int_max_str_digits(1000000)
def safe(v):
    if v is None or isinstance(v, (bool, str, int)): return v
    if isinstance(v, float): return v if v == v and v not in (float("inf"), float("-inf")) else str(v)
    if isinstance(v, dict): return {str(k): safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)): return [safe(x) for x in v]
    return str(v)
def run(code):
    g = {"__name__": "__main__", "__builtins__": builtins}
    buf = io.StringIO()
    res = {"status": "ok"}
    try:
        tree = ast.parse(code)
        co = compile(tree, "<code>", "exec")
        with contextlib.redirect_stdout(buf):
            exec(co, g)
        inp = g.get("input")
        out = g["output"] if "output" in g else buf.getvalue().strip()
        if isinstance(inp, dict):
            names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
            res["unused"] = [str(k) for k in inp if k not in names]
        big = 10 ** 10000
        res["input"] = None if isinstance(inp, int) and abs(inp) >= big else safe(inp)
        res["output"] = None if isinstance(out, int) and abs(out) >= big else safe(out)
    except BaseException as e:
        res = {"status": "exception", "reason": repr(e)[:200]}
    return json.dumps(res).encode()
if sys.argv[1] == "once":
    sys.stdout.buffer.write(run(sys.stdin.read()))
else:
    for m in ("math", "fractions", "itertools", "collections", "functools", "decimal", "json", "re", "random", "numpy", "sympy"):
        try: __import__(m)
        except Exception: pass
    import os
    inp = os.fdopen(os.dup(0), "rb")
    outp = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    sys.stdin = open(os.devnull)
    while True:
        n = inp.read(4)
        if len(n) < 4: break
        code = inp.read(struct.unpack(">I", n)[0]).decode()
        r = run(code)
        outp.write(struct.pack(">I", len(r)) + r)
        outp.flush()
`

// benchPrograms is the corpus minus what cannot run in a plain interpreter
// or does not run at all: timeouts, too_short (never run), and the programs
// that kill or exhaust their process (memory, killed, output_limit,
// os._exit).
func benchPrograms(b *testing.B) []string {
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.md"))
	if err != nil || len(files) == 0 {
		b.Fatalf("no corpus: %v", err)
	}
	var out []string
	for _, f := range files {
		switch expectedStatus(f) {
		case "timeout", StatusTooShort, "memory", "killed", "output_limit":
			continue
		}
		if strings.Contains(f, "os_exit") {
			continue
		}
		text, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, ExtractCode(string(text)))
	}
	return out
}

func parallel(n, workers int, f func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}

// BenchmarkCorpus compares, in one run, programs per second over the corpus
// (its timeout cases and process-killing cases left out) for the sandboxed
// warm pool, (a) one fresh python3 process per program, and (b) one warm
// unsandboxed interpreter exec-ing every program in-process. The pool and
// (a) use one worker per core; (b) is a single interpreter.
//
//	go test ./operators/exec -run '^$' -bench BenchmarkCorpus -benchtime 3x
func BenchmarkCorpus(b *testing.B) {
	progs := benchPrograms(b)
	workers := runtime.NumCPU()
	report := func(b *testing.B, start time.Time) {
		b.ReportMetric(float64(b.N*len(progs))/time.Since(start).Seconds(), "programs/s")
	}
	b.Run("sandbox", func(b *testing.B) {
		pool, err := sandbox.New(context.Background(), sandbox.Options{Workers: workers, NoHugePages: os.Getenv("CACO_BENCH_NOHUGE") != ""})
		if err != nil {
			b.Fatal(err)
		}
		defer pool.Close()
		// New returns once the light zygotes are ready; wait for the heavy
		// ones too, so that only steady-state execution is timed.
		parallel(workers, workers, func(int) {
			pool.Run(context.Background(), "import numpy, sympy\noutput = 1", nil)
		})
		b.ResetTimer()
		start := time.Now()
		// One stream of b.N passes, as a step would feed the pool.
		parallel(b.N*len(progs), workers, func(i int) {
			r, err := pool.Run(context.Background(), progs[i%len(progs)], nil)
			if err != nil || r.Status == sandbox.StatusSandboxError {
				b.Errorf("program %d: %v %s", i, err, r.Reason)
			}
		})
		report(b, start)
	})
	b.Run("fresh_python", func(b *testing.B) {
		b.ResetTimer()
		start := time.Now()
		parallel(b.N*len(progs), workers, func(i int) {
			cmd := exec.Command(sandbox.DefaultPython, "-c", benchRunner, "once")
			cmd.Stdin = strings.NewReader(progs[i%len(progs)])
			if out, err := cmd.Output(); err != nil || len(out) == 0 {
				b.Errorf("program %d: %v", i, err)
			}
		})
		report(b, start)
	})
	b.Run("warm_inprocess", func(b *testing.B) {
		cmd := exec.Command(sandbox.DefaultPython, "-c", benchRunner, "loop")
		cmd.Env = append(os.Environ(), "OPENBLAS_NUM_THREADS=1", "OMP_NUM_THREADS=1", "PYTHONHASHSEED=0")
		stdin, _ := cmd.StdinPipe()
		stdoutP, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() { stdin.Close(); cmd.Wait() }()
		r := bufio.NewReader(stdoutP)
		roundTrip := func(code string) {
			buf := make([]byte, 4+len(code))
			binary.BigEndian.PutUint32(buf, uint32(len(code)))
			copy(buf[4:], code)
			if _, err := stdin.Write(buf); err != nil {
				b.Fatal(err)
			}
			var n [4]byte
			if _, err := io.ReadFull(r, n[:]); err != nil {
				b.Fatal(err)
			}
			if _, err := io.CopyN(io.Discard, r, int64(binary.BigEndian.Uint32(n[:]))); err != nil {
				b.Fatal(err)
			}
		}
		roundTrip("x = 1") // wait for the imports
		b.ResetTimer()
		start := time.Now()
		for n := 0; n < b.N; n++ {
			for _, p := range progs {
				roundTrip(p)
			}
		}
		report(b, start)
	})
}
