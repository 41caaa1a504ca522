// Package exec is the `exec` operator: it runs every row's Code CoT in the
// sandbox (package sandbox) and keeps the programs that run cleanly and
// produce a value. The same code path backs `caco exec` (see Run).
package exec

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/operators/exec/sandbox"
)

// Recipe keys.
const (
	fieldCode             = "code"
	fieldInputFrom        = "input_from"
	fieldKeepFailed       = "keep_failed"
	fieldSandbox          = "sandbox"
	fieldPython           = "python"
	fieldProcesses        = "processes"
	fieldTimeout          = "timeout"
	fieldMemory           = "memory"
	fieldMaxStdout        = "max_stdout"
	fieldStdoutColumn     = "stdout_column_limit"
	fieldMaxProcs         = "max_procs"
	fieldMaxFileSize      = "max_file_size"
	fieldMaxOpenFiles     = "max_open_files"
	fieldTmpSize          = "tmp_size"
	fieldSandboxMemory    = "sandbox_memory"
	fieldRules            = "rules"
	fieldMinLines         = "min_lines"
	fieldRequireInput     = "require_input"
	fieldCheckUnusedInput = "check_unused_input"
	fieldMaxDigits        = "max_digits"
	fieldCheckNoOutput    = "check_no_output"
	fieldCheckNoInput     = "check_no_input"
	fieldIntMaxStrDigits  = "int_max_str_digits"
	fieldTiming           = "timing"
	fieldMemoryCgroup     = "memory_cgroup"
	fieldPreload          = "preload"
)

// Output columns.
const (
	ColStatus    = "status"
	ColReason    = "reason"
	ColInput     = "input"
	ColOutput    = "output"
	ColStdout    = "stdout"
	ColExecMs    = "exec_ms"
	ColTraceback = "traceback"
)

// Exec is the operator's config.
type Exec struct {
	Code             string   `yaml:"code"`
	InputFrom        string   `yaml:"input_from"`
	KeepFailed       bool     `yaml:"keep_failed"`
	Sandbox          string   `yaml:"sandbox"`
	Python           string   `yaml:"python"`
	Processes        int      `yaml:"processes"`
	Timeout          op.Dur   `yaml:"timeout"`
	Memory           op.Bytes `yaml:"memory"`
	MaxStdout        op.Bytes `yaml:"max_stdout"`
	StdoutColumn     op.Bytes `yaml:"stdout_column_limit"`
	MaxProcs         int      `yaml:"max_procs"`
	MaxFileSize      op.Bytes `yaml:"max_file_size"`
	MaxOpenFiles     int      `yaml:"max_open_files"`
	TmpSize          op.Bytes `yaml:"tmp_size"`
	SandboxMemory    op.Bytes `yaml:"sandbox_memory"`
	Rules            string   `yaml:"rules"`
	MinLines         int      `yaml:"min_lines"`
	RequireInput     bool     `yaml:"require_input"`
	CheckUnusedInput bool     `yaml:"check_unused_input"`
	MaxDigits        int      `yaml:"max_digits"`
	CheckNoOutput    bool     `yaml:"check_no_output"`
	CheckNoInput     bool     `yaml:"check_no_input"`
	IntMaxStrDigits  int      `yaml:"int_max_str_digits"`
	Timing           bool     `yaml:"timing"`
	MemoryCgroup     string   `yaml:"memory_cgroup"`
	Preload          []string `yaml:"preload"`

	rules       Rules
	opts        sandbox.Options
	codeIdx     int
	inputIdx    int
	inputIsJSON bool
	fields      []arrow.Field

	mu   sync.Mutex
	pool *sandbox.Pool

	// Programs run and sandbox failures met, over the whole run.
	ran, failed atomic.Int64
}

// MaxSandboxFailureRate: a run in which more programs than this meet a
// sandbox failure stops (once minSandboxFailures have been seen).
const (
	MaxSandboxFailureRate = 0.01
	minSandboxFailures    = 3
)

var (
	_ op.Processor = (*Exec)(nil)
	_ op.Opener    = (*Exec)(nil)
	_ op.Closer    = (*Exec)(nil)
)

func init() {
	op.Register(op.Spec{
		Name:    "exec",
		Summary: "Run each row's Code CoT in the sandbox; keep the programs that run cleanly and produce a value.",
		Doc: "The program is the first fenced block of the `code` column matching ```(?:python)?\\s*([\\s\\S]+?)\\s*``` " +
			"(the whole text, stripped, when there is none). It runs in fresh globals in a forked child of a warm " +
			"Python (math, fractions, itertools, numpy and sympy preloaded when installed), with the int-to-str digit " +
			"limit raised to 1,000,000. The program binds a global `input` (normally a dict); its result is the global " +
			"`output` if defined, else its stdout, stripped. Values are made JSON-safe: dict keys become strings, " +
			"lists and tuples are recursed, int/float/str/bool/None are kept, anything else becomes str(value).\n\n" +
			"Statuses, checked in this order: too_short (fewer than min_lines lines, not counting blank lines, " +
			"comments and `import` lines; checked before running), exception (the program raised, or defines no " +
			"`input`; reason is the last traceback line), timeout, unused_input (a key of `input` does not occur as " +
			"an identifier in the code; input[\"x\"] alone does not count), too_large (an int input or output with " +
			"more than max_digits digits), no_output, no_input; and the sandbox outcomes memory, killed (a signal " +
			"such as SIGSEGV), output_limit (stdout or the values passed their cap) and sandbox_error.\n\n" +
			"Columns added: status, reason, input and output (JSON), stdout (capped), traceback, and with " +
			"`timing: true` exec_ms (off by default, so that two clean runs give identical outputs). Rows " +
			"whose status is not ok are rejected with the status as reason, unless keep_failed. A program that " +
			"met a sandbox failure gets no verdict: its row is deferred (run again by the next run of the same " +
			"command), and a run in which more than 1% of programs meet one stops.\n\n" +
			"Isolation: each sandbox process has its own user, pid, network, mount and IPC namespaces, a read-only " +
			"filesystem with a private /tmp per program, a scrubbed environment, rlimits and a seccomp filter; " +
			"every process a program starts is killed before its result is reported. It needs Linux and root. " +
			"`sandbox: none` runs programs WITHOUT isolation (they can read and write your files and use the " +
			"network): only for trusted code.",
		Version:  "1",
		RowLocal: true,
		Fields: []op.Field{
			{Name: fieldCode, Kind: op.String, Default: "code", Doc: "Column holding the Code CoT text (string)."},
			{Name: fieldInputFrom, Kind: op.String, Doc: "Optional column whose JSON value is bound to the global `input` before the program runs (the program may rebind it)."},
			{Name: fieldKeepFailed, Kind: op.Bool, Default: false, Doc: "Pass rows whose status is not ok on instead of rejecting them."},
			{Name: fieldSandbox, Kind: op.Enum, Enum: []string{"namespaces", "none"}, Default: "namespaces",
				Doc: "namespaces: full isolation (needs root and namespaces). none: run programs directly as the engine's user, UNSAFE: they can read and write the host and use the network."},
			{Name: fieldPython, Kind: op.String, Default: sandbox.DefaultPython, Doc: "Python interpreter (a real executable, not a shim: the environment is scrubbed)."},
			{Name: fieldProcesses, Kind: op.Int, Default: 0, Min: op.Bound(0), Max: op.Bound(4096), Doc: "Warm sandboxed interpreters, i.e. programs run at once (0: the number of cores)."},
			{Name: fieldTimeout, Kind: op.Duration, Default: "5s", Doc: "Wall-clock limit per program, enforced with SIGKILL (CPU time is limited to this plus a second)."},
			{Name: fieldMemory, Kind: op.Size, Default: "1GiB", Doc: "Address-space limit of each program process, preloaded interpreter included."},
			{Name: fieldMaxStdout, Kind: op.Size, Default: "1MiB", Min: op.Bound(1), Doc: "Stdout cap; passing it kills the program with status output_limit."},
			{Name: fieldStdoutColumn, Kind: op.Size, Default: "16KiB", Min: op.Bound(0), Doc: "Bytes of stdout kept in the stdout column."},
			{Name: fieldMaxProcs, Kind: op.Int, Default: 64, Min: op.Bound(1), Doc: "Processes plus threads a program may have."},
			{Name: fieldMaxFileSize, Kind: op.Size, Default: "32MiB", Min: op.Bound(1), Doc: "Largest file a program may write."},
			{Name: fieldMaxOpenFiles, Kind: op.Int, Default: 256, Min: op.Bound(16), Doc: "Open files per program process."},
			{Name: fieldTmpSize, Kind: op.Size, Default: "128MiB", Min: op.Bound(1 << 20), Doc: "Size of the private /tmp of each sandbox."},
			{Name: fieldSandboxMemory, Kind: op.Size, Default: "0", Doc: "Memory of one whole sandbox (all processes of a program plus its /tmp), enforced with a cgroup when cgroups are usable; 0: twice `memory` plus 256MiB."},
			{Name: fieldRules, Kind: op.Enum, Enum: []string{"caco", "none"}, Default: "caco",
				Doc: "caco: the Code CoT checks below with their defaults. none: only run the programs (status is ok, exception, timeout or a sandbox outcome); checks set explicitly still apply."},
			{Name: fieldMinLines, Kind: op.Int, Default: 6, Min: op.Bound(0), Doc: "too_short below this many counted lines; 0 switches it off."},
			{Name: fieldRequireInput, Kind: op.Bool, Default: true, Doc: "A program that defines no global `input` is an exception."},
			{Name: fieldCheckUnusedInput, Kind: op.Bool, Default: true, Doc: "unused_input when a key of a dict `input` is not an identifier in the code."},
			{Name: fieldMaxDigits, Kind: op.Int, Default: 4300, Min: op.Bound(0), Max: op.Bound(4300), Doc: "too_large when an int input or output has more digits (counted in the serialised value); 0 switches it off. At most 4300, Python's own limit, so that Python's json module can read every value caco writes."},
			{Name: fieldCheckNoOutput, Kind: op.Bool, Default: true, Doc: "no_output when the result is None or \"\"."},
			{Name: fieldCheckNoInput, Kind: op.Bool, Default: true, Doc: "no_input when `input` is None or \"\"."},
			{Name: fieldIntMaxStrDigits, Kind: op.Int, Default: 1000000, Min: op.Bound(640), Doc: "Python's int-to-str digit limit inside programs."},
			{Name: fieldMemoryCgroup, Kind: op.Enum, Enum: []string{"required", "optional"}, Default: "required",
				Doc: "required: refuse to run unless a cgroup memory limit bounds each sandbox (one caco creates inside its own cgroup, or one on an enclosing cgroup). optional: run with per-process rlimits only when there is none; the log says which limit is missing."},
			{Name: fieldPreload, Kind: op.Strings, Doc: "Modules the warm interpreter imports before forking programs (default: math, fractions, itertools, collections, functools, decimal, json, re, random, numpy, sympy). Each must be installed: the step checks at start (importlib.util.find_spec) and fails naming the missing module and the Debian package."},
			{Name: fieldTiming, Kind: op.Bool, Default: false, Doc: "Add the exec_ms column (each program's wall time in milliseconds). Off by default: timings differ from run to run."},
		},
		Example: "run:\n  op: exec\n  input: generated\n  code: code_cot\n  timeout: 5s\n  memory: 1GiB\n",
		New:     func() op.Planner { return &Exec{} },
	})
}

func (e *Exec) Plan(p op.PlanContext, in *arrow.Schema) *arrow.Schema {
	if in == nil {
		p.Errorf("", "exec needs an input step")
		return nil
	}
	ok := true
	e.codeIdx = stringColumn(p, in, fieldCode, e.Code, &ok)
	e.inputIdx = -1
	if e.InputFrom != "" {
		e.inputIdx = stringColumn(p, in, fieldInputFrom, e.InputFrom, &ok)
		if e.inputIdx >= 0 {
			e.inputIsJSON = op.IsJSON(in.Field(e.inputIdx))
		}
	}
	if e.Rules == "none" {
		e.rules = NoRules
		set := func(field string, apply func()) {
			if p.Has(field) {
				apply()
			}
		}
		set(fieldMinLines, func() { e.rules.MinLines = e.MinLines })
		set(fieldRequireInput, func() { e.rules.RequireInput = e.RequireInput })
		set(fieldCheckUnusedInput, func() { e.rules.CheckUnusedInput = e.CheckUnusedInput })
		set(fieldMaxDigits, func() { e.rules.CheckTooLarge = e.MaxDigits > 0 })
		set(fieldCheckNoOutput, func() { e.rules.CheckNoOutput = e.CheckNoOutput })
		set(fieldCheckNoInput, func() { e.rules.CheckNoInput = e.CheckNoInput })
	} else {
		e.rules = Rules{MinLines: e.MinLines, RequireInput: e.RequireInput, CheckUnusedInput: e.CheckUnusedInput,
			CheckTooLarge: e.MaxDigits > 0, CheckNoOutput: e.CheckNoOutput, CheckNoInput: e.CheckNoInput}
	}
	if e.Timeout.D() <= 0 {
		p.Errorf(fieldTimeout, "timeout must be positive")
		ok = false
	}
	if e.Sandbox == "none" {
		p.Warnf(fieldSandbox, "sandbox: none runs untrusted programs without isolation (unsafe)")
	}
	if !ok {
		return nil
	}
	mem := int64(e.Memory)
	if mem == 0 {
		mem = -1
	}
	e.opts = sandbox.Options{
		Python: e.Python, Workers: e.Processes, Timeout: e.Timeout.D(), Memory: mem,
		MaxStdout: int64(e.MaxStdout), MaxProcs: e.MaxProcs, MaxFileSize: int64(e.MaxFileSize),
		MaxOpenFiles: e.MaxOpenFiles, TmpSize: int64(e.TmpSize), MaxDigits: e.MaxDigits, WorkerMemory: int64(e.SandboxMemory),
		IntMaxStrDigits: e.IntMaxStrDigits, Unsafe: e.Sandbox == "none",
		MemoryCgroup: e.MemoryCgroup, Preload: e.Preload,
	}
	e.fields = []arrow.Field{
		op.MustField(ColStatus, op.TypeString),
		op.MustField(ColReason, op.TypeString),
		op.JSONField(ColInput),
		op.JSONField(ColOutput),
		op.MustField(ColStdout, op.TypeString),
		op.MustField(ColTraceback, op.TypeString),
	}
	if e.Timing {
		e.fields = append(e.fields, op.MustField(ColExecMs, op.TypeFloat))
	}
	return op.SchemaWith(in, e.fields...)
}

func stringColumn(p op.PlanContext, in *arrow.Schema, field, name string, ok *bool) int {
	idx := in.FieldIndices(name)
	if len(idx) == 0 {
		p.Errorf(field, "no column %q in the input of this step", name)
		*ok = false
		return -1
	}
	f := in.Field(idx[0])
	if f.Type.ID() != arrow.STRING && f.Type.ID() != arrow.LARGE_STRING {
		p.Errorf(field, "column %q is %s, want a string column", name, op.TypeName(f))
		*ok = false
		return -1
	}
	return idx[0]
}

// Open starts the step's sandbox pool.
func (e *Exec) Open(ctx context.Context, rc op.RunContext) error {
	pool, err := sandbox.New(ctx, e.opts)
	if err != nil {
		return fmt.Errorf("starting the exec sandbox: %w", err)
	}
	e.mu.Lock()
	e.pool = pool
	e.mu.Unlock()
	mods, py := pool.Preloaded()
	rc.Logf("exec: %d sandboxed Python %s processes, preloaded %v", pool.Options().Workers, py, mods)
	for _, m := range pool.MissingLimits() {
		rc.Logf("exec: WARNING: the sandbox runs without a cgroup limit on %s; per-process rlimits still apply", m)
	}
	return nil
}

// Close stops the pool.
func (e *Exec) Close() error {
	e.mu.Lock()
	pool := e.pool
	e.pool = nil
	e.mu.Unlock()
	if pool != nil {
		return pool.Close()
	}
	return nil
}

func cellString(arr arrow.Array, i int) (string, bool) {
	if arr.IsNull(i) {
		return "", false
	}
	switch a := arr.(type) {
	case *array.String:
		return a.Value(i), true
	case *array.LargeString:
		return a.Value(i), true
	}
	return "", false
}

// Process runs the batch's programs concurrently over the pool.
func (e *Exec) Process(ctx context.Context, b op.Batch) (op.Result, error) {
	e.mu.Lock()
	pool := e.pool
	e.mu.Unlock()
	if pool == nil {
		return op.Result{}, fmt.Errorf("exec: the sandbox is not open")
	}
	rec := b.Record
	n := int(rec.NumRows())
	outs := make([]Outcome, n)
	errs := make([]error, n)
	codeCol := rec.Column(e.codeIdx)
	var inCol arrow.Array
	if e.inputIdx >= 0 {
		inCol = rec.Column(e.inputIdx)
	}
	par := pool.Options().Workers
	if par > n {
		par = n
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < par; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				text, _ := cellString(codeCol, i)
				var input *string
				if inCol != nil {
					if s, ok := cellString(inCol, i); ok {
						// A string column (or text that is not JSON) is
						// bound as a Python str.
						if !e.inputIsJSON || !json.Valid([]byte(s)) {
							b, _ := json.Marshal(s)
							s = string(b)
						}
						input = &s
					}
				}
				outs[i], errs[i] = Run(ctx, pool, text, input, e.rules)
				reportProgram(ctx, outs[i], errs[i])
				if errs[i] != nil {
					cancel()
				}
			}
		}()
	}
feed:
	for i := 0; i < n; i++ {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	for i := range errs {
		if errs[i] != nil {
			return op.Result{}, fmt.Errorf("exec: running row %d: %w", i, errs[i])
		}
	}
	if err := parent.Err(); err != nil {
		return op.Result{}, err
	}
	if err := e.checkFailureRate(outs); err != nil {
		return op.Result{}, err
	}
	return e.build(b, outs)
}

func (e *Exec) build(b op.Batch, outs []Outcome) (op.Result, error) {
	rec := b.Record
	n := len(outs)
	bs := make([]*op.ValueBuilder, len(e.fields))
	for i, f := range e.fields {
		bs[i] = op.NewValueBuilder(b.Alloc, f)
		defer bs[i].Release()
	}
	keep := make([]bool, n)
	var rejects []op.Reject
	counters := map[string]int64{}
	limit := int(e.StdoutColumn)
	var deferred []op.Deferral
	for i, o := range outs {
		counters["status_"+o.Status]++
		if o.Status == sandbox.StatusSandboxError {
			// Not a verdict on the program: the row runs again next time.
			deferred = append(deferred, op.Deferral{Row: i, Reason: sandbox.StatusSandboxError, Detail: o.Reason})
		} else {
			keep[i] = o.Status == sandbox.StatusOK || e.KeepFailed
			if !keep[i] {
				rejects = append(rejects, op.Reject{Row: i, Reason: o.Status, Detail: o.Reason})
			}
		}
		bs[0].Append(o.Status)
		bs[1].Append(o.Reason)
		appendRaw(bs[2], o.Input)
		appendRaw(bs[3], o.Output)
		stdout := o.Stdout
		if len(stdout) > limit {
			stdout = truncUTF8(stdout, limit)
		}
		bs[4].Append(stdout)
		if o.Traceback != "" {
			bs[5].Append(o.Traceback)
		} else {
			bs[5].AppendNull()
		}
		if e.Timing {
			if o.Ran {
				bs[6].Append(float64(o.Elapsed.Microseconds()) / 1000)
			} else {
				bs[6].AppendNull()
			}
		}
	}
	cols := make([]arrow.Array, len(bs))
	for i, vb := range bs {
		cols[i] = vb.NewArray()
		defer cols[i].Release()
	}
	full := op.WithColumns(rec, e.fields, cols)
	defer full.Release()
	out, err := op.Filter(b.Alloc, full, keep)
	if err != nil {
		return op.Result{}, err
	}
	return op.Result{Record: out, Rejects: rejects, Counters: counters, Deferred: deferred}, nil
}

// checkFailureRate counts a batch's programs and sandbox failures and
// fails when the run's failures pass MaxSandboxFailureRate.
func (e *Exec) checkFailureRate(outs []Outcome) error {
	var ran, failed int64
	last := ""
	for _, o := range outs {
		if o.Ran {
			ran++
		}
		if o.Status == sandbox.StatusSandboxError {
			failed++
			last = o.Reason
		}
	}
	r, f := e.ran.Add(ran), e.failed.Add(failed)
	if f >= minSandboxFailures && float64(f) > MaxSandboxFailureRate*float64(r) {
		return fmt.Errorf("exec: %d of %d programs met a sandbox failure (more than %.0f%%), so the sandbox is not working; the last: %s",
			f, r, 100*MaxSandboxFailureRate, last)
	}
	return nil
}

func appendRaw(vb *op.ValueBuilder, raw []byte) {
	if raw == nil {
		vb.AppendNull()
		return
	}
	vb.Append(jsonRaw(raw))
}

// truncUTF8 cuts s to at most n bytes without splitting a character.
func truncUTF8(s string, n int) string {
	if n <= 0 {
		return ""
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

func jsonRaw(b []byte) json.RawMessage { return json.RawMessage(b) }
