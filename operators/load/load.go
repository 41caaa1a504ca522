// Package load implements the `load` source: JSONL, CSV/TSV, Parquet, Arrow
// IPC files (a file or a glob of files) and Hugging Face `save_to_disk`
// folders, read as Arrow record batches of the recipe column types.
package load

import (
	"context"
	"fmt"
	"runtime"
	"strings"

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

	FieldColumnName = "name"
	FieldColumnType = "type"
)

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
JSONL keys that are not columns are ignored, with one log line per key.

Bad rows are rejects, not errors: a malformed JSON line or a line that is not an object
(bad_json), a value of the wrong type for its column (bad_type), an unreadable CSV record
(bad_row). Their Detail is FILE:LINE: message and their data the raw line (JSONL) or the
record as a JSON object (CSV). A missing file, an empty glob or an unreadable Parquet file
is an error naming the file.

JSONL lines are parsed in parallel by ` + "`workers`" + ` goroutines (all cores when the step does
not set workers); batches are still emitted in order.`,
		Version: "1",
		Fields: []op.Field{
			{Name: FieldPath, Kind: op.Path, Required: true, Example: "data/seeds.jsonl",
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

	// Set by Plan.
	files      []srcFile
	schema     *arrow.Schema
	workersSet bool
	// Set by Open.
	rc op.RunContext
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
}

// Read emits the batches, in order, from the calling goroutine. emit owns
// the records it receives (it must Release them). want is called from
// another goroutine for JSONL.
func (c *Config) Read(ctx context.Context, want func(seq uint64) bool, emit func(seq uint64, rec arrow.Record, rejects []op.Reject) error) error {
	if c.schema == nil {
		return fmt.Errorf("load %s: Read before a successful Plan", c.Path)
	}
	r := &reader{files: c.files, schema: c.schema, batchSize: c.BatchSize,
		workers: runtime.GOMAXPROCS(0), alloc: memory.DefaultAllocator, logf: func(string, ...any) {}}
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
