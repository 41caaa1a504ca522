// Package load implements the `load` source: JSONL, CSV/TSV, Parquet, Arrow
// IPC files (a file or a glob of files) and Hugging Face `save_to_disk`
// folders, read as Arrow record batches of the recipe column types.
package load

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/caco-dev/caco/engine/op"
)

// Field names of the load operator.
const (
	FieldPath      = "path"
	FieldFormat    = "format"
	FieldBatchSize = "batch_size"
	FieldColumns   = "columns"
	FieldInferRows = "infer_rows"
	FieldUTF8      = "invalid_utf8"
	FieldExtraKeys = "extra_keys"

	FieldColumnName = "name"
	FieldColumnType = "type"
)

// Values of invalid_utf8 and extra_keys.
const (
	UTF8Reject  = "reject"
	UTF8Replace = "replace"

	ExtraReject = "reject"
	ExtraKeep   = "keep"
	ExtraIgnore = "ignore"

	// ExtraColumn is the json column that extra_keys: keep adds.
	ExtraColumn = "_extra"
)

// policy is how a reader treats bad input.
type policy struct {
	invalidUTF8 string // reject or replace
	extraKeys   string // reject, keep or ignore
	columnsFrom string // for messages: where the columns came from
}

// Defaults.
const (
	DefaultBatchSize = 4096
	DefaultInferRows = 1000
)

func init() {
	op.Register(op.Spec{
		Name:    "load",
		Summary: "Read JSONL, CSV, Parquet, Arrow files or a Hugging Face save_to_disk folder.",
		Doc: `Reads a file, a glob of files (read in sorted order) or a Hugging Face ` + "`save_to_disk`" + ` folder
(state.json listing Arrow stream files) as batches of batch_size rows. Batches are numbered
0, 1, 2, ... in file order and never span two files, so the same files always give the same
batches. JSONL and CSV may be compressed (.gz, .zst).

Columns come from an explicit ` + "`columns:`" + ` declaration or are learned when the recipe is
validated: the schema of Parquet and Arrow files (integers become int, floats float, nested
and other types json), or the first infer_rows rows of JSONL and CSV files. In JSONL, keys
keep the order in which they first appear; numbers are int unless a float appears in the
sample; objects, lists, keys whose kinds differ and keys that are always null become json
columns. In CSV, a column is int, float or bool when every non-empty value in the sample
parses as one, else string; an empty field is null (empty string in string columns).
JSONL numbers are read exactly: an int column holds only integer text that fits in int64
(3.0 and 12345678901234567890123 are bad_type), a float column floats and the integers a
float64 holds exactly; when learning columns, integers beyond int64, or floats mixed with
integers a float64 cannot hold, make the column json, which keeps the number text. NaN,
Infinity and numbers beyond the float64 range are rejected. CSV values with leading zeros
(007), a sign (+1) or spaces stay strings when learning columns. JSONL keys that are not
columns follow extra_keys. Invalid UTF-8 follows invalid_utf8.

Bad rows are rejects, not errors: a malformed JSON line or a line that is not an object
(bad_json), a value of the wrong type for its column or one it cannot hold exactly (bad_type),
invalid UTF-8 (bad_utf8), a key that is not a column (extra_key), a Parquet/Arrow value
caco cannot hold (bad_value: NaN, ±Inf), an unreadable CSV record (bad_row). A CSV record
with an unclosed quote, or a quoted field spanning lines into a record with the wrong
number of fields, rejects its first line (the detail gives the start and end line, the data
the raw text) and reading resumes at the next line; TSV is read one record per line. Their Detail is FILE:LINE: message and their data the raw line (JSONL) or the
record as a JSON object (CSV). A missing file, an empty glob or an unreadable Parquet file
is an error naming the file.

JSONL lines are parsed in parallel by ` + "`workers`" + ` goroutines (all cores when the step does
not set workers); batches are still emitted in order.`,
		Version:  "1",
		RowLocal: true,
		Fields: []op.Field{
			{Name: FieldPath, Kind: op.Path, Role: op.RoleInput, Required: true, Example: "data/seeds.jsonl",
				Doc: "A file, a glob such as data/*.parquet (files in sorted order), or a save_to_disk folder."},
			{Name: FieldFormat, Kind: op.Enum, Enum: Formats, Default: FormatAuto,
				Doc: "auto tells the format from the extension (.jsonl .ndjson .json, .csv, .tsv, .parquet .pq, .arrow .arrows .feather .ipc, optionally .gz or .zst for the text formats) or from a folder's state.json (hf)."},
			{Name: FieldBatchSize, Kind: op.Int, Default: DefaultBatchSize, Min: op.Bound(1), Max: op.Bound(1 << 22),
				Doc: "Rows per batch (the unit of checkpoints and of --shard)."},
			{Name: FieldColumns, Kind: op.Objects, Example: []any{map[string]any{"name": "question", "type": "string"}, map[string]any{"name": "answer", "type": "int"}},
				Doc: "Declare the columns instead of learning them: only these are read, in this order; missing values are null.",
				Fields: []op.Field{
					{Name: FieldColumnName, Kind: op.String, Required: true, Doc: "Column name (JSON key, CSV header, Parquet/Arrow field)."},
					{Name: FieldColumnType, Kind: op.Enum, Enum: op.ColumnTypes, Required: true, Doc: "string, int, float, bool or json (nested values as JSON text)."},
				}},
			{Name: FieldInferRows, Kind: op.Int, Default: DefaultInferRows, Min: op.Bound(1),
				Doc: "Rows of JSONL/CSV read at validation to learn the columns when columns: is not given."},
			{Name: FieldUTF8, Kind: op.Enum, Enum: []string{UTF8Reject, UTF8Replace}, Default: UTF8Reject,
				Doc: "JSONL and CSV rows with invalid UTF-8 or an escaped lone surrogate (\\ud800): reject them (bad_utf8, with file and line), or replace each bad sequence by U+FFFD and keep the row (counted as " + CounterUTF8Replaced + " in stats)."},
			{Name: FieldExtraKeys, Kind: op.Enum, Enum: []string{ExtraReject, ExtraKeep, ExtraIgnore},
				Doc: "JSONL keys that are not columns (a key that first appears after the rows used to learn the columns): reject the row naming the key (extra_key; the default when columns are learned), keep them as a JSON object in a json column " + ExtraColumn + ", or ignore them (the default when columns: is declared)."},
		},
		Example: `seeds:
  op: load
  path: data/seeds.jsonl
  columns:
    - {name: question, type: string}
    - {name: answer, type: int}`,
		New: func() op.Planner { return &Config{} },
	})
}

// Column is one entry of `columns:`.
type Column struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"`
}

// Config is the load step's configuration; it implements op.Source,
// op.Opener and op.Fingerprinter.
type Config struct {
	Path      string   `yaml:"path"`
	Format    string   `yaml:"format"`
	BatchSize int      `yaml:"batch_size"`
	Columns   []Column `yaml:"columns"`
	InferRows int      `yaml:"infer_rows"`
	UTF8      string   `yaml:"invalid_utf8"`
	ExtraKeys string   `yaml:"extra_keys"`

	// Set by Plan.
	files      []srcFile
	schema     *arrow.Schema
	workersSet bool
	// Set by Open.
	rc op.RunContext
	// The reader of the current Read.
	cur *reader
}

var (
	_ op.Source        = (*Config)(nil)
	_ op.Opener        = (*Config)(nil)
	_ op.Fingerprinter = (*Config)(nil)
)

func (c *Config) defaults() {
	if c.Format == "" {
		c.Format = FormatAuto
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.InferRows <= 0 {
		c.InferRows = DefaultInferRows
	}
	if c.UTF8 == "" {
		c.UTF8 = UTF8Reject
	}
	if c.ExtraKeys == "" {
		c.ExtraKeys = ExtraReject
		if len(c.Columns) > 0 {
			c.ExtraKeys = ExtraIgnore
		}
	}
}

func (c *Config) policy() policy {
	from := fmt.Sprintf("learned from the first %d rows", c.InferRows)
	if len(c.Columns) > 0 {
		from = "declared under columns:"
	}
	return policy{invalidUTF8: c.UTF8, extraKeys: c.ExtraKeys, columnsFrom: from}
}

// declared returns the schema of `columns:`, or nil when none is declared.
func (c *Config) declared() (*arrow.Schema, error) {
	if len(c.Columns) == 0 {
		return nil, nil
	}
	fields := make([]arrow.Field, len(c.Columns))
	seen := map[string]bool{}
	for i, col := range c.Columns {
		if col.Name == "" {
			return nil, fmt.Errorf("column %d has no name", i+1)
		}
		if seen[col.Name] {
			return nil, fmt.Errorf("column %q is declared twice", col.Name)
		}
		seen[col.Name] = true
		f, err := op.NewField(col.Name, col.Type)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", col.Name, err)
		}
		fields[i] = f
	}
	return arrow.NewSchema(fields, nil), nil
}

// Plan resolves the files and learns or checks the columns, reading only
// schemas and the first infer_rows rows.
func (c *Config) Plan(p op.PlanContext, _ *arrow.Schema) *arrow.Schema {
	c.defaults()
	c.workersSet = p.Has(op.KeyWorkers)
	decl, err := c.declared()
	if err != nil {
		p.Errorf(FieldColumns, "%v", err)
		return nil
	}
	files, err := resolveFiles(c.Path, c.Format)
	if err != nil {
		p.Errorf(FieldPath, "%v", err)
		return nil
	}
	var sc *arrow.Schema
	switch files[0].format {
	case FormatJSONL:
		sc = decl
		if sc == nil {
			var rows int
			sc, rows, err = inferJSONL(files, c.InferRows)
			if err == nil && sc.NumFields() == 0 {
				if rows == 0 {
					p.Warnf(FieldPath, "%s has no rows to learn columns from; declare them under columns:", c.Path)
				} else {
					err = fmt.Errorf("no JSON object among the first %d lines of %s to learn columns from", rows, c.Path)
				}
			}
		}
	case FormatCSV, FormatTSV:
		sc, err = planCSV(files, decl, c.InferRows)
	default:
		sc, err = planArrow(files, decl)
	}
	if err != nil {
		p.Errorf(FieldPath, "%v", err)
		return nil
	}
	if c.ExtraKeys == ExtraKeep {
		if files[0].format != FormatJSONL {
			p.Errorf(FieldExtraKeys, "extra_keys: keep is for JSONL files (CSV, Parquet and Arrow columns come from the file's header or schema)")
			return nil
		}
		if len(sc.FieldIndices(ExtraColumn)) > 0 {
			p.Errorf(FieldExtraKeys, "extra_keys: keep adds a column %q, but the data already has one", ExtraColumn)
			return nil
		}
		sc = op.SchemaWith(sc, op.JSONField(ExtraColumn))
	}
	c.files, c.schema = files, sc
	return sc
}

// Fingerprint covers the names, sizes and modification times of the files.
func (c *Config) Fingerprint() (string, error) {
	c.defaults()
	return fingerprint(c.Path, c.Format)
}

// Open keeps the run context for the allocator, the log and workers.
func (c *Config) Open(_ context.Context, rc op.RunContext) error {
	c.rc = rc
	return nil
}

type emitFunc func(seq uint64, rec arrow.Record, rejects []op.Reject) error

// reader holds what one Read needs.
type reader struct {
	files     []srcFile
	schema    *arrow.Schema
	batchSize int
	workers   int
	alloc     memory.Allocator
	logf      func(format string, args ...any)
	policy    policy

	mu       sync.Mutex
	counters map[uint64]map[string]int64
}

// count adds to a batch's counters (taken by BatchCounters).
func (r *reader) count(seq uint64, name string, n int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.counters == nil {
		r.counters = map[uint64]map[string]int64{}
	}
	if r.counters[seq] == nil {
		r.counters[seq] = map[string]int64{}
	}
	r.counters[seq][name] += n
}

// BatchCounters returns (and forgets) the counters of a batch this source
// emitted: rows whose invalid UTF-8 was replaced.
func (c *Config) BatchCounters(seq uint64) map[string]int64 {
	r := c.cur
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.counters[seq]
	delete(r.counters, seq)
	return m
}

// Read emits the batches, in order, from the calling goroutine. emit owns
// the records it receives (it must Release them). want is called from
// another goroutine for JSONL.
func (c *Config) Read(ctx context.Context, want func(seq uint64) bool, emit func(seq uint64, rec arrow.Record, rejects []op.Reject) error) error {
	if c.schema == nil {
		return fmt.Errorf("load %s: Read before a successful Plan", c.Path)
	}
	r := &reader{files: c.files, schema: c.schema, batchSize: c.BatchSize, policy: c.policy(),
		workers: runtime.GOMAXPROCS(0), alloc: memory.DefaultAllocator, logf: func(string, ...any) {}}
	c.cur = r
	if c.rc != nil {
		r.alloc, r.logf = c.rc.Alloc(), c.rc.Logf
		if w := c.rc.Workers(); c.workersSet || w > 1 {
			r.workers = w
		}
	}
	if want == nil {
		want = func(uint64) bool { return true }
	}
	return r.read(ctx, want, emit)
}

func (r *reader) read(ctx context.Context, want func(uint64) bool, emit emitFunc) error {
	var seq uint64
	if len(r.files) == 0 {
		return nil
	}
	if r.files[0].format == FormatJSONL {
		return r.readJSONL(ctx, r.files, &seq, want, emit)
	}
	for _, f := range r.files {
		if err := ctx.Err(); err != nil {
			return err
		}
		var err error
		switch f.format {
		case FormatCSV, FormatTSV:
			err = r.readCSV(ctx, f, &seq, want, emit)
		case FormatParquet:
			err = r.readParquet(ctx, f, &seq, want, emit)
		case FormatArrow:
			err = r.readArrow(ctx, f, &seq, want, emit)
		default:
			err = fmt.Errorf("%s: unknown format %q", f.path, f.format)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// columnList names the columns of sc, for messages.
func columnList(sc *arrow.Schema) string {
	var names []string
	for _, f := range sc.Fields() {
		names = append(names, f.Name)
	}
	return strings.Join(names, ", ")
}
