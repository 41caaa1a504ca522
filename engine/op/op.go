package op

import (
	"context"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// Planner is implemented by every operator config. Plan is called once, at
// validation, with the schema of the step's input (nil for sources). It
// checks the config against the input columns, compiles expressions and
// templates, reports every problem through p, and returns the step's output
// schema (nil when it reported an error).
type Planner interface {
	Plan(p PlanContext, in *arrow.Schema) *arrow.Schema
}

// Source produces a step's data. Read emits the source's batches in a stable
// order numbered 0, 1, 2, ...: the same data and config must always yield the
// same batches with the same numbers (checkpoints and --shard rely on it).
// When want(seq) is false the source may skip building that batch and emit a
// nil record (its rejects are then ignored too). emit takes ownership of
// rec: the source must not use or release it afterwards. Row-level problems (a
// malformed line) are rejects with Row = -1, the raw row in Data and the
// file and line in Detail; a missing or unreadable file is an error.
type Source interface {
	Planner
	Read(ctx context.Context, want func(seq uint64) bool, emit func(seq uint64, rec arrow.Record, rejects []Reject) error) error
}

// Processor transforms batches. Unless it implements Sequential, Process
// must be safe for concurrent calls: the engine runs `workers` of them and
// restores the order itself. The input record is borrowed for the duration of
// the call (Retain it to keep or pass it on); the result's record becomes the
// engine's. A nil result record means no rows. An error fails the run: use
// rejects for problems with a row.
type Processor interface {
	Planner
	Process(ctx context.Context, b Batch) (Result, error)
}

// Sequential marks processors whose Process calls must happen one at a time,
// in stream order (limit, dedup, vote, write).
type Sequential interface {
	Sequential()
}

// Checkpointer is implemented by sequential processors with state that must
// survive a resume. After each Process call the engine asks for the state
// change that call made and stores it with the batch, atomically. On resume,
// before the first Process call, Restore receives the deltas of all
// committed batches, in order.
type Checkpointer interface {
	Delta() ([]byte, error)
	Restore(deltas [][]byte) error
}

// Finisher is implemented by processors that emit rows after the last input
// batch (global operators such as vote). Rejects made in Finish carry their
// row in Reject.Data.
type Finisher interface {
	Finish(ctx context.Context, alloc memory.Allocator) (Result, error)
}

// Opener is implemented by operators that acquire resources for a run.
type Opener interface {
	Open(ctx context.Context, rc RunContext) error
}

// Closer is implemented by operators that release resources after a run,
// whether it succeeded or not.
type Closer interface {
	Close() error
}

// Fingerprinter lets an operator add to its step's fingerprint things that
// its config alone does not show, such as the size and modification time of
// the files it reads.
type Fingerprinter interface {
	Fingerprint() (string, error)
}

// BatchCounter is implemented by sources that count things per batch (such
// as rows whose bad input was repaired): the engine adds a batch's counters
// to the step's stats when it commits the batch. It is called once per
// emitted batch, after emit receives it.
type BatchCounter interface {
	BatchCounters(seq uint64) map[string]int64
}

// Batch is one record batch flowing through a step.
type Batch struct {
	// Seq identifies the batch within the run; it is stable across runs.
	Seq    uint64
	Record arrow.Record
	Alloc  memory.Allocator
}

// Result is what a Process call returns.
type Result struct {
	Record  arrow.Record
	Rejects []Reject
	// Counters are added to the step's stats (e.g. tokens, retries, cache hits)
	// and stored with the batch, so totals survive a resume.
	Counters map[string]int64
	// Deferred lists rows that got no verdict in this run because of a
	// failure that is not about the row: an LLM request whose retries ran out
	// on a transient error (connection refused, timeout, 429, 5xx), a program
	// that met a sandbox failure. A deferred row is neither kept nor
	// rejected. The engine does not commit a batch that has deferred rows, so
	// the next run of the same command processes it again; the run goes on
	// with the other batches and then fails (exit 1), saying how many rows
	// are waiting and how to resume. Row indexes refer to the input batch.
	Deferred []Deferral
}

// Deferral is a row of Result.Deferred.
type Deferral struct {
	// Row is the index of the row in the input batch.
	Row int
	// Reason is a short stable code such as "llm_unavailable" or
	// "sandbox_error".
	Reason string
	// Detail says what failed (the endpoint and error, the worker).
	Detail string
}

// Reject is a row an operator dropped, with the reason. Every dropped row
// must be reported: the engine writes them to the rejects ledger.
type Reject struct {
	// Row is the index of the row in the input batch, or -1.
	Row int
	// Reason is a short stable code such as "where is false" or "timeout".
	Reason string
	// Detail is free text (an error message, file:line, dup_of=...).
	Detail string
	// Data is the row as JSON when Row is -1 (raw source lines, rows held
	// across batches).
	Data string
}

// RunContext is what the engine gives an operator for a run.
type RunContext interface {
	Step() string
	// RunDir is the run's folder.
	RunDir() string
	// StepDir is a folder for this step's own persistent files (caches,
	// indexes). It survives a resume and is wiped when the step's
	// fingerprint changes.
	StepDir() string
	Alloc() memory.Allocator
	Logf(format string, args ...any)
	// Shared returns the run-scoped value for key, creating it with open on
	// first use. Values implementing Closer are closed when the run ends.
	// Steps use it to share clients (one per model) and caches.
	Shared(key string, open func() (any, error)) (any, error)
	// Model returns a model declared under `models:`.
	Model(name string) (*ModelConfig, bool)
	// Shard returns this run's shard index and count (0, 1 when unsharded).
	Shard() (i, n int)
	// Workers is the step's `workers:` setting (sources may use it to parse
	// in parallel; the engine runs that many Process calls for processors).
	Workers() int
	// Flag returns a run-wide option given on the command line, e.g.
	// "cache" (--cache DIR) or "record" (--record DIR); "" when unset.
	Flag(name string) string
}

// PlanContext is what the engine gives an operator at validation.
type PlanContext interface {
	Step() string
	// Errorf reports an error at the value of field (a dotted path into the
	// step's config such as "where" or "variants.decompose"); at the step
	// itself when field is "".
	Errorf(field, format string, args ...any)
	// ErrorAt reports an error at a 1-based line and column inside the text
	// of field's value (an expression or a template).
	ErrorAt(field string, line, col int, format string, args ...any)
	Warnf(field, format string, args ...any)
	// Has reports whether the recipe set field explicitly.
	Has(field string) bool
	RecipeDir() string
	Model(name string) (*ModelConfig, bool)
	ModelNames() []string
}
