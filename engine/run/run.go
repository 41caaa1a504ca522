// Package run executes a plan: one goroutine group per step, Arrow record
// batches over bounded channels, parallel workers with order restored,
// deterministic fan-in merges, and a checkpoint commit for every batch so
// that a killed run resumes where it stopped.
//
// Ordering: every batch carries a seq. Sources number theirs (source index
// in the high bits, batch number below); processors keep the seq of their
// input batch and emit exactly one batch (possibly empty) per input batch,
// so every stream is ordered by seq and fan-in merges by seq. Batches that
// operators emit after their input ends (Finisher) get seq FinishBase+topo.
package run

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/caco-dev/caco/engine/checkpoint"
	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/engine/plan"
)

// Seq layout.
const (
	sourceShift = 40
	// FinishBase is the first seq used for batches emitted by Finish.
	FinishBase = uint64(1) << 63
)

// Options configure a run.
type Options struct {
	RunDir string
	// Fresh discards earlier results in RunDir.
	Fresh bool
	// Shard runs only source batches with seq % ShardCount == ShardIndex.
	ShardIndex, ShardCount int
	// Flags are run-wide options for operators (cache, record).
	Flags map[string]string
	Alloc memory.Allocator
	// Log receives progress and log lines (stderr).
	Log io.Writer
	// Live redraws a progress table (for terminals); otherwise a line per
	// step is logged every LogInterval.
	Live        bool
	LogInterval time.Duration
	// Depth is the capacity of each channel between steps, in batches.
	Depth int
	// Size returns the terminal's width and height for the live table
	// (nil: 80×24).
	Size func() (w, h int)
	// Monitor, when set, gives the run's live counts to other code (the
	// metrics server).
	Monitor *Monitor
	// Command is the command line that reproduces the run and RecipeHash
	// the recipe file's sha256; both go to manifest.json for the report
	// and the dataset card.
	Command, RecipeHash string
}

// Run executes p. On success the run folder holds every step's results,
// stats.json and rejects.jsonl.
func Run(ctx context.Context, p *plan.Plan, opts Options) (*Stats, error) {
	if opts.Alloc == nil {
		opts.Alloc = memory.NewGoAllocator()
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.ShardCount <= 0 {
		opts.ShardCount = 1
	}
	if opts.Depth <= 0 {
		// two batches per edge keep every step busy; deeper channels only
		// fill up behind the slowest step and hold memory (4 cost about
		// 10 MB more peak RSS in load → filter → write, for no speed)
		opts.Depth = 2
	}
	if opts.LogInterval <= 0 {
		opts.LogInterval = 10 * time.Second
	}
	store, err := checkpoint.Open(opts.RunDir, opts.Fresh)
	if err != nil {
		return nil, &StartError{Err: err}
	}
	defer store.Close()
	r := &runner{p: p, opts: opts, store: store, shared: map[string]any{}}
	logPath := filepath.Join(opts.RunDir, "caco.log")
	if f, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o666); err == nil {
		r.logFile = f
		defer f.Close()
	}
	return r.run(ctx)
}

// StartError is a failure before the run touched its folder's results (the
// folder is locked by another run, cannot be created or written): there is
// nothing to resume.
type StartError struct{ Err error }

func (e *StartError) Error() string { return e.Err.Error() }
func (e *StartError) Unwrap() error { return e.Err }

// guard calls f, turning a panic into an error that names what panicked.
func guard[T any](what string, f func() (T, error)) (out T, err error) {
	defer op.Recover(&err, what)
	return f()
}

type runner struct {
	p       *plan.Plan
	opts    Options
	store   *checkpoint.Store
	steps   []*stepRun
	byName  map[string]*stepRun
	logMu   sync.Mutex
	logFile *os.File

	sharedMu    sync.Mutex
	shared      map[string]any
	sharedOrder []string
	start       time.Time
}

// flow is a batch in transit.
type flow struct {
	seq    uint64
	rec    arrow.Record // nil: no consumer needs the rows
	failed bool         // processing failed; the error is reported elsewhere
	// hole: the batch has rows waiting on a transient failure (op.Result.Deferred)
	// upstream or here; it is not committed and carries no rows.
	hole bool
}

func (r *runner) logf(format string, args ...any) {
	msg := r.p.Recipe.Redact(fmt.Sprintf(format, args...))
	r.logMu.Lock()
	defer r.logMu.Unlock()
	line := time.Now().Format("15:04:05") + " " + msg + "\n"
	if r.logFile != nil {
		_, _ = r.logFile.WriteString(line)
	}
	if !r.opts.Live {
		_, _ = io.WriteString(r.opts.Log, line)
	}
}

func (r *runner) run(ctx context.Context) (st *Stats, err error) {
	r.start = time.Now()
	r.byName = map[string]*stepRun{}
	// fingerprints and step stores, in topological order
	fps := map[string]string{}
	started := false // the manifest says "running": every way out records why it ended
	defer func() {
		if v := recover(); v != nil {
			err = &op.PanicError{What: "caco", Value: v, Stack: debug.Stack()}
		}
		if err != nil && started {
			err = r.fail(err, fps)
		}
	}()
	for _, n := range r.p.Nodes {
		fp, info, err := fingerprint(r.p, n, fps, r.store.SecretKey)
		if err != nil {
			return nil, fmt.Errorf("step %s: %w", n.Name(), err)
		}
		fps[n.Name()] = fp
		ss, err := r.store.Step(n.Name(), info)
		if err != nil {
			return nil, &StartError{Err: err}
		}
		s := &stepRun{r: r, node: n, store: ss, stats: newLive(n)}
		s.spec = n.Step.Spec
		if s.spec.NoCheckpoint {
			ss.Forget()
		}
		_, isFin := n.Step.Config.(op.Finisher)
		_, isCk := n.Step.Config.(op.Checkpointer)
		if _, done := ss.Done[FinishBase+uint64(n.Topo)]; isFin && !isCk && !done {
			// without state deltas the operator must see every batch again
			ss.Forget()
		}
		r.steps = append(r.steps, s)
		r.byName[n.Name()] = s
	}
	if err := r.writeManifest("running", fps, ""); err != nil {
		return nil, &StartError{Err: err}
	}
	started = true
	// channels: one per edge
	for _, s := range r.steps {
		for range s.node.Outputs {
			s.outs = append(s.outs, make(chan flow, r.opts.Depth))
		}
	}
	for _, s := range r.steps {
		for _, in := range s.node.Inputs {
			up := r.byName[in.Name()]
			for k, o := range up.node.Outputs {
				if o == s.node {
					s.ins = append(s.ins, up.outs[k])
				}
			}
		}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// open operators
	var opened []*stepRun
	closeAll := func() {
		for i := len(opened) - 1; i >= 0; i-- {
			if c, ok := opened[i].node.Step.Config.(op.Closer); ok {
				if err := c.Close(); err != nil {
					r.logf("step %s: close: %v", opened[i].node.Name(), err)
				}
			}
		}
		r.closeShared()
	}
	for _, s := range r.steps {
		s.rc = &runContext{r: r, s: s}
		if o, ok := s.node.Step.Config.(op.Opener); ok {
			if err := op.Safe("", func() error { return o.Open(ctx, s.rc) }); err != nil {
				opened = append(opened, s)
				closeAll()
				return nil, fmt.Errorf("step %s: opening: %s", s.node.Name(), r.p.Recipe.Redact(err.Error()))
			}
		}
		opened = append(opened, s)
	}
	resumed := 0
	for _, s := range r.steps {
		resumed += len(s.store.Done)
	}
	if resumed > 0 {
		r.logf("resuming %s: %d committed batches reused", r.p.Recipe.Name, resumed)
		for _, s := range r.steps {
			if n := len(s.store.Done); n > 0 {
				r.logf("step %s: reusing %d committed %s from an earlier run (same fingerprint)", s.node.Name(), n, plural(n, "batch", "batches"))
			}
		}
	}
	if r.opts.Monitor != nil {
		r.opts.Monitor.attach(r)
	}
	stopProgress := r.progress(ctx)
	var wg sync.WaitGroup
	var firstErr atomic.Pointer[error]
	for _, s := range r.steps {
		wg.Add(1)
		go func(s *stepRun) {
			defer wg.Done()
			defer s.closeOuts()
			err := op.Safe("", func() error { return s.run(ctx) })
			s.stats.finish()
			if err != nil && !errors.Is(err, context.Canceled) {
				e := fmt.Errorf("step %s: %w", s.node.Name(), err)
				firstErr.CompareAndSwap(nil, &e)
				cancel(e)
			} else if err != nil {
				cancel(err)
			}
		}(s)
	}
	wg.Wait()
	stopProgress()
	// release whatever is left in channels after a failure
	for _, s := range r.steps {
		for _, c := range s.outs {
			for f := range c {
				if f.rec != nil {
					f.rec.Release()
				}
			}
		}
	}
	closeAll()
	if e := firstErr.Load(); e != nil {
		return nil, *e
	}
	if err := ctx.Err(); err != nil {
		return nil, &interrupted{cause: context.Cause(ctx)}
	}
	stats, err := r.finish()
	if err != nil {
		return nil, err
	}
	if we := r.waiting(); we != nil {
		// rows wait on transient failures: not complete, resumable (the
		// deferred fail logs it and records it in the manifest)
		return stats, we
	}
	if err := r.writeManifest("complete", fps, ""); err != nil {
		return nil, err
	}
	return stats, nil
}

// interrupted is the error of a run stopped by its context (a signal).
type interrupted struct{ cause error }

func (e *interrupted) Error() string {
	if e.cause == nil || errors.Is(e.cause, context.Canceled) {
		return "interrupted"
	}
	return "interrupted: " + e.cause.Error()
}
func (e *interrupted) Unwrap() error { return e.cause }

// fail records why a started run ended without completing — the error text
// (what caco prints on stderr) in the manifest and caco.log, and the stats
// and rejects ledger of the batches committed so far — and returns the
// error, redacted.
func (r *runner) fail(err error, fps map[string]string) error {
	text := r.p.Recipe.Redact(err.Error())
	status := "failed"
	var ie *interrupted
	if errors.As(err, &ie) {
		status = "interrupted"
	}
	r.logf("%s: %s", status, text)
	var pe *op.PanicError
	if errors.As(err, &pe) && len(pe.Stack) > 0 {
		r.logf("%s", pe.Stack)
	}
	if _, ferr := r.finish(); ferr != nil {
		r.logf("writing the stats and rejects so far: %v", ferr)
	}
	if merr := r.writeManifest(status, fps, text); merr != nil {
		r.logf("writing the manifest: %v", merr)
	}
	if ie != nil {
		return &interrupted{cause: ie.cause}
	}
	return redacted{text: text, err: err}
}

// redacted is an error whose text has had the recipe's secrets removed.
type redacted struct {
	text string
	err  error
}

func (e redacted) Error() string { return e.text }
func (e redacted) Unwrap() error { return e.err }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// fingerprint hashes what determines a step's output: its operator and
// version, its resolved config (without secrets), what the operator adds
// (input files' sizes and times), and its inputs' fingerprints.
//
// Values from the environment are secrets: the config shows them as
// ${env:NAME}, and they (with what the operator adds, which may hold them,
// such as a path) enter the hash through an HMAC keyed by the run folder's
// secret key, never as text a reader of the fingerprint could test guesses
// against.
func fingerprint(p *plan.Plan, n *plan.Node, fps map[string]string, key func() ([]byte, error)) (string, checkpoint.StepInfo, error) {
	s := n.Step
	h := sha256.New()
	// a source's index is part of its batches' ids
	fmt.Fprintf(h, "caco-step-v1\x00%s\x00%s\x00src%d\x00", s.Op, s.Spec.Version, n.SourceIndex)
	h.Write(s.Canonical)
	var mac hash.Hash
	if len(s.Env) > 0 {
		k, err := key()
		if err != nil {
			return "", checkpoint.StepInfo{}, fmt.Errorf("fingerprinting: %w", err)
		}
		mac = hmac.New(sha256.New, k)
		for _, e := range s.Env {
			fmt.Fprintf(mac, "env\x00%s\x00%d:%s\x00", e.Name, len(e.Value), e.Value)
		}
	}
	if f, ok := s.Config.(op.Fingerprinter); ok {
		extra, err := f.Fingerprint()
		if err != nil {
			return "", checkpoint.StepInfo{}, fmt.Errorf("fingerprinting: %w", err)
		}
		if mac != nil {
			fmt.Fprintf(mac, "extra\x00%s", extra)
		} else {
			fmt.Fprintf(h, "\x00%s", extra)
		}
	}
	if mac != nil {
		fmt.Fprintf(h, "\x00hmac:%x", mac.Sum(nil))
	}
	var inputs []string
	for _, in := range n.Inputs {
		fmt.Fprintf(h, "\x00in:%s=%s", in.Name(), fps[in.Name()])
		inputs = append(inputs, in.Name())
	}
	fp := hex.EncodeToString(h.Sum(nil))[:32]
	cfg := s.Canonical // secret fields left out, environment values as ${env:NAME}
	info := checkpoint.StepInfo{Fingerprint: fp, Op: s.Op, Version: s.Spec.Version, Config: cfg, Inputs: inputs}
	if len(cfg) == 0 {
		info.Config = nil
	}
	return fp, info, nil
}

type manifest struct {
	Recipe   string            `json:"recipe"`
	File     string            `json:"file"`
	Status   string            `json:"status"`
	Shard    string            `json:"shard,omitempty"`
	Started  time.Time         `json:"started"`
	Updated  time.Time         `json:"updated"`
	Steps    []string          `json:"steps"`
	Prints   map[string]string `json:"fingerprints"`
	CacoPID  int               `json:"pid"`
	GoArch   string            `json:"arch"`
	Finished bool              `json:"finished"`
	// Error is why a failed or interrupted run ended: the text caco printed.
	Error   string            `json:"error,omitempty"`
	Command string            `json:"command,omitempty"`
	Hash    string            `json:"recipe_sha256,omitempty"`
	Models  map[string]string `json:"models,omitempty"`
}

func (r *runner) writeManifest(status string, fps map[string]string, errText string) error {
	m := manifest{Recipe: r.p.Recipe.Name, File: r.p.Recipe.File, Status: status, Started: r.start, Updated: time.Now(),
		Prints: fps, CacoPID: os.Getpid(), GoArch: runtime.GOARCH, Finished: status == "complete", Error: errText,
		Command: r.p.Recipe.Redact(r.opts.Command), Hash: r.opts.RecipeHash}
	for name, mc := range r.p.Recipe.Models {
		if mc != nil {
			if m.Models == nil {
				m.Models = map[string]string{}
			}
			m.Models[name] = r.p.Recipe.Redact(mc.Model)
		}
	}
	if r.opts.ShardCount > 1 {
		m.Shard = fmt.Sprintf("%d/%d", r.opts.ShardIndex, r.opts.ShardCount)
	}
	for _, n := range r.p.Nodes {
		m.Steps = append(m.Steps, n.Name())
	}
	return checkpoint.WriteJSON(filepath.Join(r.opts.RunDir, "manifest.json"), m)
}

func (r *runner) closeShared() {
	r.sharedMu.Lock()
	defer r.sharedMu.Unlock()
	for i := len(r.sharedOrder) - 1; i >= 0; i-- {
		k := r.sharedOrder[i]
		if c, ok := r.shared[k].(op.Closer); ok {
			if err := c.Close(); err != nil {
				r.logMu.Lock()
				fmt.Fprintf(r.opts.Log, "closing %s: %v\n", k, r.p.Recipe.Redact(err.Error()))
				r.logMu.Unlock()
			}
		}
	}
	r.shared = map[string]any{}
	r.sharedOrder = nil
}

// runContext is the op.RunContext of one step.
type runContext struct {
	r *runner
	s *stepRun
}

var _ op.RunContext = (*runContext)(nil)

func (c *runContext) Step() string            { return c.s.node.Name() }
func (c *runContext) RunDir() string          { return c.r.opts.RunDir }
func (c *runContext) StepDir() string         { return c.s.store.StateDir() }
func (c *runContext) Alloc() memory.Allocator { return c.r.opts.Alloc }
func (c *runContext) Logf(format string, args ...any) {
	c.r.logf("%s: %s", c.s.node.Name(), fmt.Sprintf(format, args...))
}
func (c *runContext) Shard() (int, int) { return c.r.opts.ShardIndex, c.r.opts.ShardCount }
func (c *runContext) Workers() int      { return c.s.node.Step.Workers }
func (c *runContext) Flag(name string) string {
	return c.r.opts.Flags[name]
}
func (c *runContext) Model(name string) (*op.ModelConfig, bool) {
	m, ok := c.r.p.Recipe.Models[name]
	return m, ok && m != nil
}
func (c *runContext) Shared(key string, open func() (any, error)) (any, error) {
	c.r.sharedMu.Lock()
	defer c.r.sharedMu.Unlock()
	if v, ok := c.r.shared[key]; ok {
		return v, nil
	}
	v, err := open()
	if err != nil {
		return nil, err
	}
	c.r.shared[key] = v
	c.r.sharedOrder = append(c.r.sharedOrder, key)
	return v, nil
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func shortSeq(seq uint64) string {
	if seq >= FinishBase {
		return fmt.Sprintf("finish+%d", seq-FinishBase)
	}
	return fmt.Sprintf("%d:%d", seq>>sourceShift, seq&(1<<sourceShift-1))
}
