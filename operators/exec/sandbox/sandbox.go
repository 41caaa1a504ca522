// Package sandbox runs untrusted Python programs in isolated, warm worker
// processes. It is the runner behind the `exec` operator and `caco exec`, and
// other operators may use it directly (e.g. to run a small sympy check).
//
// # Contract
//
//	pool, err := sandbox.New(ctx, sandbox.Options{Timeout: 5 * time.Second})
//	defer pool.Close()
//	res, err := pool.Run(ctx, code, nil) // safe for concurrent use
//
// Run executes code (Python source, not a fenced text) in a fresh forked
// child of a warm interpreter, with fresh globals. When input is non-nil it is
// JSON text bound to the global `input` before the program runs. Run returns
// an error only when the sandbox itself cannot be used (pool closed, ctx
// done, a worker that cannot be restarted); everything a program does is
// described by the Result (Status is one of the Status* constants). When Run
// returns, every process the program started is dead and its private /tmp is
// gone. Programs never share an interpreter: nothing one program does
// (monkeypatching a module, files, IPC, daemons) is visible to the next.
//
// # Isolation (the default)
//
// Each worker is the current binary re-executed as a small init process
// (see MaybeInit) in new user, pid, network, mount, IPC, UTS and cgroup
// namespaces. The init makes the whole filesystem read-only, hides the home
// directories (/root, /home, the engine's $HOME) under empty read-only
// tmpfs, mounts a private tmpfs on /tmp, an empty read-only one on /dev/shm
// and a fresh /proc (hidepid=2), installs a seccomp filter (no namespaces,
// mounts, ptrace, keyrings, BPF, SysV/POSIX IPC, io_uring, ...) and execs the
// Python zygote with a scrubbed environment. The zygote is pid 1 of the
// worker's namespace and forks one child per program. The child drops to an
// unprivileged uid, sets rlimits (address space, CPU time, processes and
// threads, file size, open files), raises its oom_score_adj, and runs the
// program with /tmp as its working directory and HOME. The zygote enforces
// the wall-clock limit with SIGKILL, caps stdout, and after each program
// kills every other process of the namespace (kill(-1, SIGKILL)), reaps them
// and empties /tmp before answering. When cgroups are usable (v1 memory and
// pids hierarchies, or v2) each worker also gets a cgroup bounding the
// memory and number of all its processes together. Go keeps a backstop
// deadline and kills the whole worker namespace when the zygote does not
// answer.
//
// Requirements: Linux, running as root (to map a second uid into the user
// namespace; unprivileged user namespaces are not enough) with user, pid,
// network and mount namespaces allowed. New fails with a clear message
// otherwise. Options.Unsafe runs the zygote without any namespace
// (`sandbox: none`): limits and the scrubbed environment still apply but
// programs can read and write the host, use the network and see the engine's
// processes. Use it only for trusted code.
//
// The interpreter must be readable by an unprivileged user: a Python under
// /root (pyenv) runs, but programs cannot import modules that were not
// preloaded.
//
// # Speed
//
// Forking a zygote that has sympy and numpy loaded costs a few milliseconds
// of page-table copying and teardown; the zygote's heap is therefore moved to
// transparent huge pages after the preload, and every slot has a second,
// light zygote without the heavy modules, used for programs whose text does
// not name them (see Pool).
//
// # MaybeInit
//
// Every main() of a binary that starts a sandboxed Pool, and every TestMain
// of a package whose tests start one, must call sandbox.MaybeInit() first
// thing: it returns at once in a normal process and turns the process into
// the sandbox init when the binary was re-executed as one.
package sandbox

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"
)

//go:embed zygote.py
var zygoteSource string

// Statuses a Result can have. Code CoT rule statuses (too_short,
// unused_input, ...) are decided by the caller from the Result's facts.
const (
	StatusOK           = "ok"
	StatusException    = "exception"
	StatusTimeout      = "timeout"
	StatusMemory       = "memory"
	StatusKilled       = "killed"
	StatusOutputLimit  = "output_limit"
	StatusSandboxError = "sandbox_error"
)

// DefaultMaxDigits is Options.MaxDigits's default: Python's default
// int_max_str_digits, above which Python's json module refuses to read an
// integer.
const DefaultMaxDigits = 4300

// DefaultPython is the interpreter used when Options.Python is empty.
const DefaultPython = "/usr/bin/python3"

// DefaultPreload are the modules the zygote imports before forking. New
// checks that the interpreter has each one and fails otherwise.
var DefaultPreload = []string{"math", "fractions", "itertools", "collections", "functools", "decimal", "json", "re", "random", "numpy", "sympy"}

// Options configure a Pool. Zero values take the documented defaults.
type Options struct {
	// Python is the interpreter (default /usr/bin/python3). It must be a real
	// executable: the environment is scrubbed, so wrapper scripts such as
	// pyenv shims do not work.
	Python string
	// Workers is the number of warm zygotes, i.e. programs run in parallel
	// (default: the number of cores).
	Workers int
	// Timeout is the wall-clock limit per program (default 5s). CPU time is
	// limited to Timeout rounded up plus one second.
	Timeout time.Duration
	// Memory is the address-space limit (RLIMIT_AS) of every program process,
	// including the preloaded interpreter (default 1 GiB; negative: none).
	Memory int64
	// WorkerMemory limits the memory (RSS, page cache and /tmp files) of a
	// whole sandbox, zygote and every process of the running program
	// together, through a cgroup when cgroups are usable (default: twice
	// Memory plus 256 MiB; negative: no cgroup).
	WorkerMemory int64
	// MaxStdout caps a program's stdout (default 1 MiB); passing it kills the
	// program with status output_limit.
	MaxStdout int64
	// MaxProcs limits processes plus threads of a program (default 64).
	MaxProcs int
	// MaxFileSize limits the size of a file a program writes (default 32 MiB).
	MaxFileSize int64
	// MaxOpenFiles limits a program's open files (default 256).
	MaxOpenFiles int
	// TmpSize is the size of the private /tmp (default 128 MiB).
	TmpSize int64
	// MaxDigits: an int `input` or `output` with more digits is reported as
	// Result.TooLarge (default 4300, Python's own int-to-str limit, so that
	// every value caco writes can be read back by Python's json module).
	MaxDigits int
	// IntMaxStrDigits is Python's int-to-str digit limit in programs
	// (default 1000000).
	IntMaxStrDigits int
	// Preload lists the modules imported by the zygote when installed
	// (default DefaultPreload).
	Preload []string
	// NoHugePages keeps the zygote's heap on 4 KiB pages. By default it is
	// moved to transparent huge pages after the preload, which makes every
	// fork and exit cheaper.
	NoHugePages bool
	// Unsafe runs without namespaces (`sandbox: none`). See the package doc.
	Unsafe bool
	// StartTimeout bounds the start of a worker, imports included (default 2m).
	StartTimeout time.Duration
	// MemoryCgroup: "required" (the default) makes New fail when no cgroup
	// memory limit bounds the sandbox (neither one caco can create nor one
	// on an enclosing cgroup); "optional" runs with rlimits only and reports
	// the missing limit in Pool.MissingLimits.
	MemoryCgroup string

	missingLimits int // set by New: the number of limits found missing
}

// cgroupFS prefixes the cgroup mount points (tests point it at a fake tree).
var cgroupFS = ""

func (o Options) withDefaults() Options {
	if o.Python == "" {
		o.Python = DefaultPython
	}
	if o.Workers <= 0 {
		o.Workers = runtime.NumCPU()
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Memory == 0 {
		o.Memory = 1 << 30
	}
	if o.WorkerMemory == 0 {
		if o.Memory > 0 {
			o.WorkerMemory = 2*o.Memory + 256<<20
		} else {
			o.WorkerMemory = 4 << 30
		}
	}
	if o.MaxStdout <= 0 {
		o.MaxStdout = 1 << 20
	}
	if o.MaxProcs <= 0 {
		o.MaxProcs = 64
	}
	if o.MaxFileSize <= 0 {
		o.MaxFileSize = 32 << 20
	}
	if o.MaxOpenFiles <= 0 {
		o.MaxOpenFiles = 256
	}
	if o.TmpSize <= 0 {
		o.TmpSize = 128 << 20
	}
	if o.MaxDigits <= 0 {
		o.MaxDigits = DefaultMaxDigits
	}
	if o.IntMaxStrDigits <= 0 {
		o.IntMaxStrDigits = 1000000
	}
	if o.Preload == nil {
		o.Preload = DefaultPreload
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 2 * time.Minute
	}
	if o.MemoryCgroup == "" {
		o.MemoryCgroup = "required"
	}
	return o
}

// Result is what happened to one program.
type Result struct {
	// Status is one of the Status* constants.
	Status string
	// Reason: for exceptions the last traceback line
	// ("ZeroDivisionError: division by zero"); otherwise a short explanation.
	Reason string
	// Traceback is the whole traceback of an exception.
	Traceback string
	// HasInput reports whether the program ended with a global `input`;
	// Input is its JSON-safe value as JSON text (nil when absent or too large).
	HasInput bool
	Input    json.RawMessage
	// InputEmpty: `input` is None or "".
	InputEmpty bool
	// HasOutput reports whether the program defined a global `output`.
	// Output is the result as JSON text: the JSON-safe global `output` when
	// defined, else the captured stdout stripped of surrounding whitespace (a
	// JSON string). Nil when the program did not finish normally or the value
	// is too large.
	HasOutput bool
	Output    json.RawMessage
	// OutputEmpty: the result is None or "".
	OutputEmpty bool
	// UnusedInput lists the keys of a dict `input` that occur nowhere in the
	// code as an identifier (ast.Name).
	UnusedInput []string
	// TooLarge is "input" or "output" when that value is an int with more
	// than MaxDigits digits.
	TooLarge string
	// Stdout is what the program wrote to fd 1 (at most MaxStdout bytes),
	// with invalid UTF-8 replaced by U+FFFD.
	Stdout string
	// Elapsed is the wall time of the program.
	Elapsed time.Duration
}

// Pool is a set of warm sandboxed workers. It is safe for concurrent use.
//
// Each slot has two zygotes, each in a sandbox of its own: one with every
// module of Options.Preload, and, when that list holds heavy modules (numpy,
// sympy, ...), a light one with only the others. A program whose text names
// none of the heavy modules (nor __import__ or importlib) is forked from the
// light zygote, which forks and exits several times faster; it can still
// import anything, only more slowly. At most Options.Workers programs run at
// once.
type Pool struct {
	opts    Options
	slots   chan struct{}
	classes []*workerClass // [heavy] or [heavy, light]
	info    readyInfo
	missing []string

	mu     sync.Mutex
	closed bool
}

// workerClass is a set of interchangeable workers with the same preload.
type workerClass struct {
	opts Options
	idle chan *worker // nil entries are slots whose worker must be (re)started
}

// heavyModules are the preloads that make a zygote slow to fork.
var heavyModules = map[string]bool{"numpy": true, "sympy": true, "scipy": true, "mpmath": true, "pandas": true,
	"torch": true, "networkx": true, "matplotlib": true}

// needsHeavy reports whether code may import a heavy module: it names one,
// or imports dynamically.
func needsHeavy(code string) bool {
	for m := range heavyModules {
		if strings.Contains(code, m) {
			return true
		}
	}
	return strings.Contains(code, "__import__") || strings.Contains(code, "importlib")
}

// ErrClosed is returned by Run after Close.
var ErrClosed = errors.New("sandbox pool is closed")

// New starts opts.Workers warm workers. It fails when the sandbox cannot be
// set up (namespaces not allowed, Python missing, ...).
func New(ctx context.Context, opts Options) (*Pool, error) {
	opts = opts.withDefaults()
	if err := checkSupport(opts); err != nil {
		return nil, err
	}
	if err := checkModules(opts.Python, opts.Preload); err != nil {
		return nil, err
	}
	if opts.MemoryCgroup != "required" && opts.MemoryCgroup != "optional" {
		return nil, fmt.Errorf("exec sandbox: memory_cgroup must be required or optional, not %q", opts.MemoryCgroup)
	}
	missing, raw, err := checkLimits(opts)
	if err != nil {
		return nil, err
	}
	opts.missingLimits = raw
	p := &Pool{opts: opts, slots: make(chan struct{}, opts.Workers), missing: missing}
	heavy := &workerClass{opts: opts, idle: make(chan *worker, opts.Workers)}
	p.classes = []*workerClass{heavy}
	var light []string
	for _, m := range opts.Preload {
		if !heavyModules[m] {
			light = append(light, m)
		}
	}
	if len(light) < len(opts.Preload) {
		lo := opts
		lo.Preload = light
		lo.NoHugePages = true
		p.classes = append(p.classes, &workerClass{opts: lo, idle: make(chan *worker, opts.Workers)})
	}
	type started struct {
		c   *workerClass
		w   *worker
		err error
	}
	// With a light class, New waits only for it: programs that import
	// nothing heavy run at once while the heavy zygotes import numpy and
	// sympy in the background (a heavy program waits for its worker in
	// Run). A heavy worker that fails to start leaves its slot empty, and
	// Run starts one again (and reports why if it cannot).
	wait := p.classes
	if len(p.classes) > 1 {
		wait = p.classes[1:]
		for i := 0; i < opts.Workers; i++ {
			go func() {
				w, err := startWorker(ctx, heavy.opts)
				p.mu.Lock()
				defer p.mu.Unlock()
				if err != nil || p.closed {
					if w != nil {
						w.kill()
					}
					heavy.idle <- nil
					return
				}
				heavy.idle <- w
			}()
		}
	}
	ch := make(chan started, opts.Workers*len(wait))
	for _, c := range wait {
		for i := 0; i < opts.Workers; i++ {
			go func() {
				w, err := startWorker(ctx, c.opts)
				ch <- started{c, w, err}
			}()
		}
	}
	var firstErr error
	for i := 0; i < cap(ch); i++ {
		s := <-ch
		if s.err != nil {
			if firstErr == nil {
				firstErr = s.err
			}
			s.c.idle <- nil
			continue
		}
		p.info = s.w.info
		s.c.idle <- s.w
	}
	if firstErr != nil {
		p.Close()
		return nil, firstErr
	}
	return p, nil
}

// checkLimits tries the cgroup limits once, as a worker would get them, and
// decides: the limits that cannot be set, or an error when the memory limit
// is missing and not optional.
func checkLimits(o Options) (missing []string, raw int, err error) {
	if o.Unsafe || o.WorkerMemory <= 0 {
		return nil, 0, nil
	}
	s := setupCgroups(cgroupFS)
	cg, missing := newCgroup(s, o.WorkerMemory, o.MaxProcs+16)
	cg.close()
	raw = len(missing)
	memMissing := ""
	for _, m := range missing {
		if strings.HasPrefix(m, "memory") {
			memMissing = m
		}
	}
	if memMissing != "" && s.enclosing > 0 {
		// An enclosing cgroup's limit (a Slurm job's, a container's) still
		// bounds the sandbox: not missing, only coarser.
		var rest []string
		for _, m := range missing {
			if !strings.HasPrefix(m, "memory") {
				rest = append(rest, m)
			}
		}
		missing, memMissing = rest, ""
	}
	if memMissing != "" && o.MemoryCgroup != "optional" {
		return nil, raw, fmt.Errorf("exec sandbox: no cgroup memory limit can bound the sandbox: %s, and no enclosing cgroup has a "+
			"memory limit. Run caco where it may create cgroups (root, or a delegated cgroup such as a Slurm job's), or accept "+
			"per-process rlimits only with `memory_cgroup: optional` (caco exec --memory-cgroup optional)", memMissing)
	}
	return missing, raw, nil
}

// MissingLimits lists the cgroup limits the sandbox runs without, each with
// why (empty when every limit is set). Only possible with MemoryCgroup
// "optional" for the memory limit.
func (p *Pool) MissingLimits() []string { return p.missing }

// Preloaded returns the modules the zygotes import (New checked that the
// interpreter has each one), and the Python version.
func (p *Pool) Preloaded() (modules []string, pythonVersion string) {
	return p.opts.Preload, p.info.Python
}

// Options returns the pool's options with defaults filled in.
func (p *Pool) Options() Options { return p.opts }

func (p *Pool) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// Run executes one program; see the package doc for the contract.
func (p *Pool) Run(ctx context.Context, code string, input *string) (Result, error) {
	if input != nil && !json.Valid([]byte(*input)) {
		return Result{}, fmt.Errorf("sandbox: the input bound to the program is not JSON: %.80q", *input)
	}
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	defer func() { <-p.slots }()
	c := p.classes[0]
	if len(p.classes) > 1 && !needsHeavy(code) {
		c = p.classes[1]
	}
	var w *worker
	select {
	case w = <-c.idle:
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	if p.isClosed() {
		if w != nil {
			w.kill()
		}
		c.idle <- nil
		return Result{}, ErrClosed
	}
	if w == nil || w.dead() {
		if w != nil {
			w.kill()
		}
		var err error
		w, err = startWorkerRetrying(ctx, c.opts)
		if err != nil {
			c.idle <- nil
			return Result{}, err
		}
	}
	res, err := w.run(ctx, c.opts, code, input)
	if err != nil {
		w.kill()
		c.idle <- nil
		if ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
		// The worker broke (crashed, stopped answering): the program is
		// reported as a sandbox error and the slot gets a fresh worker.
		if res.Status == "" {
			res = Result{Status: StatusSandboxError, Reason: err.Error()}
		}
		return res, nil
	}
	if p.isClosed() || w.retire != "" {
		// A worker whose state is in doubt is replaced; that is routine.
		w.kill()
		c.idle <- nil
	} else {
		c.idle <- w
	}
	return res, nil
}

// MaxStartFailures is how many sandbox workers in a row may fail to start
// before Run gives up with an error (replacing a worker is routine; a
// sandbox that cannot start is not).
const MaxStartFailures = 3

func startWorkerRetrying(ctx context.Context, o Options) (*worker, error) {
	var err error
	for i := 0; i < MaxStartFailures; i++ {
		var w *worker
		if w, err = startWorker(ctx, o); err == nil {
			return w, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return nil, fmt.Errorf("%d sandbox workers in a row failed to start: %w", MaxStartFailures, err)
}

// Close stops the idle workers; workers busy in Run stop when their program
// ends. Run fails with ErrClosed afterwards.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	for _, c := range p.classes {
		n := 0
	drain:
		for {
			select {
			case w := <-c.idle:
				if w != nil {
					w.kill()
				}
				n++
			default:
				break drain
			}
		}
		for ; n > 0; n-- {
			c.idle <- nil
		}
	}
	return nil
}

// trimPython strips like Python's str.strip(): every character for which
// str.isspace() is true.
func trimPython(s string) string {
	return strings.TrimFunc(s, IsPythonSpace)
}

// IsPythonSpace reports whether r is whitespace for Python's str.isspace()
// (and for \s in Python's re module).
func IsPythonSpace(r rune) bool {
	switch {
	case r >= '\t' && r <= '\r', r >= 0x1c && r <= ' ', r == 0x85, r == 0xa0, r == 0x1680,
		r >= 0x2000 && r <= 0x200a, r == 0x2028, r == 0x2029, r == 0x202f, r == 0x205f, r == 0x3000:
		return true
	}
	return false
}

// TrimPython strips s like Python's str.strip().
func TrimPython(s string) string { return trimPython(s) }
