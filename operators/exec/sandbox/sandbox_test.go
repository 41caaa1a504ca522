package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	MaybeInit()
	os.Exit(m.Run())
}

func newPool(t testing.TB, o Options) *Pool {
	t.Helper()
	p, err := New(context.Background(), o)
	if err != nil {
		t.Fatalf("starting the sandbox: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func run(t testing.TB, p *Pool, code string, input *string) Result {
	t.Helper()
	r, err := p.Run(context.Background(), code, input)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return r
}

func jsonEq(t testing.TB, got json.RawMessage, want string) bool {
	t.Helper()
	var a, b any
	if err := json.Unmarshal(got, &a); err != nil {
		t.Errorf("invalid JSON %q: %v", got, err)
		return false
	}
	if err := json.Unmarshal([]byte(want), &b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(a) == fmt.Sprint(b)
}

func TestRun(t *testing.T) {
	for _, unsafe := range []bool{false, true} {
		t.Run(fmt.Sprintf("unsafe=%v", unsafe), func(t *testing.T) {
			p := newPool(t, Options{Workers: 1, Timeout: 2 * time.Second, Unsafe: unsafe, Preload: []string{"math"}})
			in := `{"a": 3, "b": [1, 2]}`
			cases := []struct {
				code, status, output string
				input                *string
				check                func(t *testing.T, r Result)
			}{
				{code: "output = input['a'] * 2", input: &in, status: StatusOK, output: `6`},
				{code: "print('  hi  ')\nprint('there')", status: StatusOK, output: `"hi  \nthere"`},
				{code: "output = {1: (2, 3), 'k': {4}, 'f': 1.5, 'n': None}", status: StatusOK, output: `{"1": [2, 3], "k": "{4}", "f": 1.5, "n": null}`},
				{code: "1/0", status: StatusException, check: func(t *testing.T, r Result) {
					if r.Reason != "ZeroDivisionError: division by zero" || !strings.Contains(r.Traceback, "line 1") {
						t.Errorf("reason %q traceback %q", r.Reason, r.Traceback)
					}
				}},
				{code: "input = {'x': 1, 'y': 2}\nx = input['x']\noutput = x + input['y']", status: StatusOK, output: `3`, check: func(t *testing.T, r Result) {
					if !r.HasInput || len(r.UnusedInput) != 1 || r.UnusedInput[0] != "y" {
						t.Errorf("input facts: %+v", r)
					}
				}},
				{code: "output = 10**10001", status: StatusOK, check: func(t *testing.T, r Result) {
					if r.TooLarge != "output" || r.Output != nil {
						t.Errorf("too large: %+v", r)
					}
				}},
				{code: "input = ''\noutput = None", status: StatusOK, check: func(t *testing.T, r Result) {
					if !r.InputEmpty || !r.OutputEmpty || !r.HasOutput {
						t.Errorf("empty facts: %+v", r)
					}
				}},
				{code: "import time\ntime.sleep(30)", status: StatusTimeout},
			}
			for i, c := range cases {
				r := run(t, p, c.code, c.input)
				if r.Status != c.status {
					t.Errorf("case %d: status %s (%s), want %s", i, r.Status, r.Reason, c.status)
					continue
				}
				if c.output != "" && !jsonEq(t, r.Output, c.output) {
					t.Errorf("case %d: output %s, want %s", i, r.Output, c.output)
				}
				if c.check != nil {
					c.check(t, r)
				}
			}
		})
	}
}

func TestConcurrentRuns(t *testing.T) {
	p := newPool(t, Options{Workers: 2, Timeout: 5 * time.Second})
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := run(t, p, fmt.Sprintf("import random\nx = random.random()\noutput = [%d, x]", i), nil)
			if r.Status != StatusOK || !strings.HasPrefix(string(r.Output), fmt.Sprintf("[%d,", i)) {
				t.Errorf("run %d: %+v", i, r)
			}
		}()
	}
	wg.Wait()
}

// Every child is reseeded: forked children must not repeat the zygote's
// random stream.
func TestReseed(t *testing.T) {
	p := newPool(t, Options{Workers: 1})
	seen := map[string]bool{}
	for i := 0; i < 5; i++ {
		r := run(t, p, "import random, numpy\noutput = [random.random(), float(numpy.random.random())]", nil)
		if r.Status != StatusOK {
			t.Fatalf("%+v", r)
		}
		if seen[string(r.Output)] {
			t.Fatalf("random values repeated across programs: %s", r.Output)
		}
		seen[string(r.Output)] = true
	}
}

func TestContextCancel(t *testing.T) {
	p := newPool(t, Options{Workers: 1, Timeout: 30 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := p.Run(ctx, "while True: pass", nil); err == nil {
		t.Fatal("Run after cancel: no error")
	}
	// The slot gets a fresh worker.
	if r := run(t, p, "output = 1", nil); r.Status != StatusOK {
		t.Fatalf("after cancel: %+v", r)
	}
}

func TestClosedPool(t *testing.T) {
	p := newPool(t, Options{Workers: 1})
	p.Close()
	if _, err := p.Run(context.Background(), "output = 1", nil); err != ErrClosed {
		t.Fatalf("Run after Close: %v", err)
	}
}

func TestMissingPython(t *testing.T) {
	_, err := New(context.Background(), Options{Python: "/nonexistent/python3", Workers: 1})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/python3") {
		t.Fatalf("err = %v", err)
	}
}

func TestBuildResult(t *testing.T) {
	exit0 := 0
	cases := []struct {
		h      header
		res    string
		status string
	}{
		{header{Error: "zygote: boom"}, "", StatusSandboxError},
		{header{OutputLimit: true}, `{"status":"ok"}`, StatusOutputLimit},
		{header{ResultLimit: true}, `{"status":"ok"}`, StatusOutputLimit},
		{header{Timeout: true}, "", StatusTimeout},
		{header{Signal: 24}, "", StatusTimeout}, // SIGXCPU
		{header{Signal: 11}, "", StatusKilled},
		{header{Exit: &exit0}, "", StatusException},
		{header{Exit: &exit0}, "garbage", StatusException},
		{header{Exit: &exit0}, `{"status":"memory"}`, StatusMemory},
	}
	for i, c := range cases {
		if r := buildResult(c.h, []byte(c.res), nil, codeFacts{}, 4300); r.Status != c.status {
			t.Errorf("case %d: %s (%s), want %s", i, r.Status, r.Reason, c.status)
		}
	}
}

func TestTrimPython(t *testing.T) {
	if got := TrimPython("\x1c\v\u3000 x y\u2028\t\n"); got != "x y" {
		t.Fatalf("%q", got)
	}
}

// childPids lists the processes whose parent is this one.
func childPids(t *testing.T) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(os.Getpid()) {
			out = append(out, pid)
		}
	}
	return out
}

// TestWorkerKilled: a worker killed with SIGKILL under a running program
// gives that program a sandbox_error (not a verdict on it), and the next
// program runs on a fresh worker.
func TestWorkerKilled(t *testing.T) {
	before := map[int]bool{}
	for _, p := range childPids(t) {
		before[p] = true
	}
	p := newPool(t, Options{Workers: 1, Timeout: 20 * time.Second, Preload: []string{"math"}})
	done := make(chan Result, 1)
	go func() { done <- run(t, p, "import time\ntime.sleep(15)\noutput = 1", nil) }()
	time.Sleep(500 * time.Millisecond)
	killed := 0
	for _, pid := range childPids(t) {
		if !before[pid] {
			syscall.Kill(pid, syscall.SIGKILL)
			killed++
		}
	}
	if killed == 0 {
		t.Fatal("found no worker to kill")
	}
	select {
	case r := <-done:
		if r.Status != StatusSandboxError {
			t.Fatalf("program under a killed worker: %s (%s), want %s", r.Status, r.Reason, StatusSandboxError)
		}
	case <-time.After(12 * time.Second):
		t.Fatal("Run did not return after its worker was killed")
	}
	if r := run(t, p, "output = 2", nil); r.Status != StatusOK || string(r.Output) != "2" {
		t.Fatalf("after the kill: %+v", r)
	}
}

// TestMissingModule: a preloaded module the interpreter lacks stops New
// with its name and the Debian package, instead of turning every program
// that imports it into a rejected row.
func TestMissingModule(t *testing.T) {
	_, err := New(context.Background(), Options{Workers: 1, Preload: []string{"math", "caco_no_such_module", "numpy"}, Unsafe: true})
	if err == nil {
		t.Fatal("New with a missing module: no error")
	}
	for _, want := range []string{"caco_no_such_module", "python3-caco-no-such-module"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "python3-numpy") {
		t.Errorf("error names numpy, which is installed: %v", err)
	}
	if got := debianPackage("numpy.linalg"); got != "python3-numpy" {
		t.Errorf("debianPackage(numpy.linalg) = %s", got)
	}
}

// TestCloseDuringWarmup: New returns once the light zygotes are ready;
// a pool closed while the heavy ones are still importing leaves no worker
// behind, and a light program runs before the heavy class is needed.
func TestCloseDuringWarmup(t *testing.T) {
	before := map[int]bool{}
	for _, p := range childPids(t) {
		before[p] = true
	}
	p, err := New(context.Background(), Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r := run(t, p, "output = 6 * 7", nil); r.Status != StatusOK || string(r.Output) != "42" {
		t.Fatalf("light program: %+v", r)
	}
	p.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var left []int
		for _, pid := range childPids(t) {
			if !before[pid] {
				left = append(left, pid)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("workers left after Close: %v", left)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
