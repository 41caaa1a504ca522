// Package write implements the `write` sink: JSONL or Parquet, written to a
// temporary file beside the target and renamed into place when the run
// finishes, so a failed run never leaves a partial file at path.
package write

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
	"github.com/caco-dev/caco/engine/op"
)

// Field names of the write operator.
const (
	FieldPath         = "path"
	FieldFormat       = "format"
	FieldCompression  = "compression"
	FieldColumns      = "columns"
	FieldRowGroupSize = "row_group_size"
)

// Formats and compressions.
const (
	FormatAuto    = "auto"
	FormatJSONL   = "jsonl"
	FormatParquet = "parquet"

	CompressionZstd   = "zstd"
	CompressionSnappy = "snappy"
	CompressionNone   = "none"
)

// DefaultRowGroupSize bounds the compressed size of a Parquet row group,
// which is buffered in memory until it is complete.
const DefaultRowGroupSize = 32 << 20

// MaxRowGroupRows closes a Parquet row group after this many rows.
const MaxRowGroupRows = 128 << 10

func init() {
	op.Register(op.Spec{
		Name:    "write",
		Summary: "Write rows to a JSONL or Parquet file, atomically.",
		Doc: `Writes every row it receives to path and passes the rows on unchanged, so steps may
follow it. The file is written to a temporary file in the same folder (.NAME.tmp-*) and
renamed to path, after an fsync, only when the run finishes: a failed or interrupted run
leaves any earlier file at path untouched and removes its temporary file (a process killed
with SIGKILL may leave one behind; the next successful write to the same path removes it).
The parent folder is created when missing.

JSONL output is deterministic: one object per line, keys in column order, json columns
embedded as JSON values, so the same rows always give the same bytes. Parquet output keeps
the Arrow schema (json columns stay json when loaded again).`,
		Version:      "1",
		NoCheckpoint: true,
		Fields: append([]op.Field{
			{Name: FieldPath, Kind: op.Path, Role: op.RoleOutput, Required: true, Example: "${run_dir}/out.parquet",
				Doc: "The output file; the format follows the extension (.jsonl .ndjson .json, .parquet .pq) unless format is set."},
			{Name: FieldFormat, Kind: op.Enum, Enum: append([]string{FormatAuto, FormatJSONL, FormatParquet}, exportFormats...), Default: FormatAuto,
				Doc: "auto tells the format from the extension of path (.md: markdown). sharegpt, alpaca and messages write LLaMA-Factory " +
					"training examples (JSONL) built by roles:; markdown writes a table of the columns."},
			{Name: FieldCompression, Kind: op.Enum, Enum: []string{CompressionZstd, CompressionSnappy, CompressionNone}, Default: CompressionZstd,
				Doc: "Parquet page compression."},
			{Name: FieldColumns, Kind: op.Strings, Example: []string{"question", "answer"},
				Doc: "Write only these columns, in this order (all columns by default)."},
			{Name: FieldRowGroupSize, Kind: op.Size, Default: "32MiB", Min: op.Bound(1 << 10),
				Doc: "Parquet: start a new row group when the current one reaches this compressed size (row groups are buffered in memory)."},
			overwriteField,
		}, exportFields...),
		Example: `save:
  op: write
  input: valid
  path: ${run_dir}/out.parquet
  columns: [question, answer]`,
		New: func() op.Planner { return &Config{} },
	})
}

// Config is the write step's configuration; it implements op.Processor,
// op.Sequential, op.Opener, op.Finisher and op.Closer.
type Config struct {
	Path         string        `yaml:"path"`
	Format       string        `yaml:"format"`
	Compression  string        `yaml:"compression"`
	Columns      op.StringList `yaml:"columns"`
	RowGroupSize op.Bytes      `yaml:"row_group_size"`
	Overwrite    bool          `yaml:"overwrite"` // protect.go

	// Export formats (export.go).
	Export `yaml:",inline"`

	// Set by Plan.
	format string
	out    *arrow.Schema // the written columns
	// Set by Open.
	w      *fileWriter
	runDir string
}

var (
	_ op.Processor  = (*Config)(nil)
	_ op.Sequential = (*Config)(nil)
	_ op.Opener     = (*Config)(nil)
	_ op.Finisher   = (*Config)(nil)
	_ op.Closer     = (*Config)(nil)
)

// Sequential marks write as one-at-a-time, in stream order.
func (c *Config) Sequential() {}

func formatOf(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".jsonl", ".ndjson", ".json":
		return FormatJSONL
	case ".parquet", ".pq":
		return FormatParquet
	case ".md":
		return FormatMarkdown
	}
	return ""
}

// Plan checks the path, the format and the columns; the output schema is
// the input schema (rows pass through).
func (c *Config) Plan(p op.PlanContext, in *arrow.Schema) *arrow.Schema {
	if c.Compression == "" {
		c.Compression = CompressionZstd
	}
	if c.RowGroupSize <= 0 {
		c.RowGroupSize = DefaultRowGroupSize
	}
	ok := true
	if strings.TrimSpace(c.Path) == "" {
		p.Errorf(FieldPath, "path is empty")
		ok = false
	}
	c.format = c.Format
	if c.format == "" || c.format == FormatAuto {
		c.format = formatOf(c.Path)
		if c.format == "" && c.Path != "" {
			p.Errorf(FieldPath, "cannot tell the format of %s from its extension: use .jsonl or .parquet, or set format:", c.Path)
			ok = false
		}
	}
	if in == nil {
		p.Errorf("", "write needs an input step")
		return nil
	}
	if len(c.Columns) == 0 {
		c.out = in
	} else {
		fields := make([]arrow.Field, 0, len(c.Columns))
		seen := map[string]bool{}
		for _, name := range c.Columns {
			idx := in.FieldIndices(name)
			switch {
			case seen[name]:
				p.Errorf(FieldColumns, "column %q is listed twice", name)
				ok = false
			case len(idx) == 0:
				p.Errorf(FieldColumns, "no column %q in the input (it has: %s)", name, names(in))
				ok = false
			default:
				fields = append(fields, in.Field(idx[0]))
			}
			seen[name] = true
		}
		c.out = arrow.NewSchema(fields, nil)
	}
	if !c.Export.plan(p, c.format, in, c.out) {
		ok = false
	}
	if !ok {
		return nil
	}
	return in
}

func names(sc *arrow.Schema) string {
	var n []string
	for _, f := range sc.Fields() {
		n = append(n, f.Name)
	}
	return strings.Join(n, ", ")
}

// Open creates the parent folder and the temporary file.
func (c *Config) Open(_ context.Context, rc op.RunContext) error {
	if c.out == nil {
		return fmt.Errorf("write %s: Open before a successful Plan", c.Path)
	}
	if err := c.protect(rc); err != nil {
		return err
	}
	w, err := createFile(c.Path, c.format, c.Compression, int64(c.RowGroupSize), c.out, rc.Alloc())
	if err != nil {
		return err
	}
	c.w = w
	return nil
}

// Process writes the batch's rows and passes the batch on.
func (c *Config) Process(_ context.Context, b op.Batch) (op.Result, error) {
	if b.Record == nil {
		return op.Result{}, nil
	}
	if c.w == nil {
		return op.Result{}, fmt.Errorf("write %s: Process before Open", c.Path)
	}
	if isExport(c.format) {
		return c.Export.process(c.w, b)
	}
	if err := c.w.write(b.Record); err != nil {
		return op.Result{}, err
	}
	b.Record.Retain()
	return op.Result{Record: b.Record}, nil
}

// Finish completes the file and renames it into place.
func (c *Config) Finish(_ context.Context, _ memory.Allocator) (op.Result, error) {
	if c.w == nil {
		return op.Result{}, fmt.Errorf("write %s: Finish before Open", c.Path)
	}
	if err := c.Export.finish(c.w); err != nil {
		return op.Result{}, err
	}
	if err := c.w.commit(); err != nil {
		return op.Result{}, err
	}
	if err := c.recordOutput(); err != nil {
		return op.Result{}, err
	}
	return op.Result{}, c.Export.writeDatasetInfo(c.Path)
}

// Close removes the temporary file unless Finish committed it.
func (c *Config) Close() error {
	if c.w == nil {
		return nil
	}
	err := c.w.abort()
	c.w = nil
	return err
}

// fileWriter writes one output file through a temporary file.
type fileWriter struct {
	path, tmp string
	format    string
	schema    *arrow.Schema
	started   time.Time
	f         *os.File
	bw        *bufio.Writer
	pq        *pqarrow.FileWriter
	codec     compress.Compression
	alloc     memory.Allocator
	rgRows    int64
	rgSize    int64
	buf       []byte
	done      bool
	sum       hash.Hash
}

func createFile(path, format, compression string, rgSize int64, sc *arrow.Schema, alloc memory.Allocator) (*fileWriter, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, fmt.Errorf("creating the folder of %s: %w", path, err)
	}
	f, err := createTemp(dir, "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return nil, fmt.Errorf("creating a temporary file for %s: %w", path, err)
	}
	sum := sha256.New() // the content hash recorded in the run folder (protect.go)
	w := &fileWriter{path: path, tmp: f.Name(), format: format, schema: sc, started: time.Now(),
		f: f, bw: bufio.NewWriterSize(io.MultiWriter(f, sum), 1<<20), rgSize: rgSize, sum: sum}
	if format == FormatParquet {
		w.codec = compress.Codecs.Zstd
		switch compression {
		case CompressionSnappy:
			w.codec = compress.Codecs.Snappy
		case CompressionNone:
			w.codec = compress.Codecs.Uncompressed
		}
		w.alloc = alloc
		if sc.NumFields() == 0 {
			// no batch will tell the columns apart: start the file now
			if err := w.startParquet(nil); err != nil {
				w.abort()
				return nil, err
			}
		}
	}
	return w, nil
}

// project returns rec's columns in the writer's schema (a new reference).
func (w *fileWriter) project(rec arrow.Record) (arrow.Record, error) {
	in := rec.Schema()
	cols := make([]arrow.Array, w.schema.NumFields())
	for i, f := range w.schema.Fields() {
		idx := in.FieldIndices(f.Name)
		if len(idx) == 0 {
			return nil, fmt.Errorf("writing %s: the batch has no column %q", w.path, f.Name)
		}
		col := rec.Column(idx[0])
		if !arrow.TypeEqual(col.DataType(), f.Type) {
			return nil, fmt.Errorf("writing %s: column %q is %s in the batch, %s in the plan", w.path, f.Name, col.DataType(), f.Type)
		}
		cols[i] = col
	}
	return array.NewRecord(w.schema, cols, rec.NumRows()), nil
}

// dataPageSize is the target size of a Parquet data page. Arrow's default of
// 1 MiB holds several page-sized buffers per column (values, uncompressed
// page, compressed page, each grown by doubling); 256 KiB took about 20 MB off
// the peak RSS of load → filter → write for a file 1% larger.
const dataPageSize = 256 << 10

// startParquet starts the Parquet file. first, the first batch (nil when
// there is none), picks the columns written without a dictionary (see
// plainColumns). Starting at the first batch rather than in Open does not
// change when the file appears: it is renamed into place only in commit.
func (w *fileWriter) startParquet(first arrow.Record) error {
	opts := []parquet.WriterProperty{parquet.WithCompression(w.codec), parquet.WithAllocator(w.alloc), parquet.WithDataPageSize(dataPageSize)}
	for _, name := range plainColumns(first) {
		opts = append(opts, parquet.WithDictionaryFor(name, false))
	}
	pw, err := pqarrow.NewFileWriter(w.schema, w.bw, parquet.NewWriterProperties(opts...),
		pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema(), pqarrow.WithAllocator(w.alloc)))
	if err != nil {
		return fmt.Errorf("starting Parquet file %s: %w", w.path, err)
	}
	w.pq = pw
	return nil
}

// minDictSample is the fewest rows from which a column is judged unsuited to
// dictionary encoding.
const minDictSample = 256

// plainColumns returns the int, float and string columns whose values in rec
// are mostly distinct (more than half): for them a Parquet dictionary only
// costs memory — a hash table and every page of the row group held back until
// the dictionary page is written — and does not shrink the file. Columns with
// repeated values (labels, statuses, sources) keep the dictionary.
func plainColumns(rec arrow.Record) []string {
	if rec == nil || rec.NumRows() < minDictSample {
		return nil
	}
	var out []string
	for i, f := range rec.Schema().Fields() {
		if mostlyDistinct(rec.Column(i)) {
			out = append(out, f.Name)
		}
	}
	return out
}

func mostlyDistinct(col arrow.Array) bool {
	n := col.Len()
	limit := n / 2
	switch a := col.(type) {
	case *array.Int64:
		return countDistinct(n, limit, a.IsNull, a.Value)
	case *array.Float64:
		return countDistinct(n, limit, a.IsNull, a.Value)
	case *array.String:
		return countDistinct(n, limit, a.IsNull, a.Value)
	}
	return false
}

// countDistinct reports whether more than limit of the n values are distinct.
func countDistinct[T comparable](n, limit int, isNull func(int) bool, value func(int) T) bool {
	seen := make(map[T]struct{}, limit+1)
	for i := 0; i < n; i++ {
		if isNull(i) {
			continue
		}
		seen[value(i)] = struct{}{}
		if len(seen) > limit {
			return true
		}
	}
	return false
}

func (w *fileWriter) write(rec arrow.Record) error {
	if rec.NumRows() == 0 {
		return nil
	}
	p, err := w.project(rec)
	if err != nil {
		return err
	}
	defer p.Release()
	if w.format == FormatParquet && w.pq == nil {
		if err := w.startParquet(p); err != nil {
			return err
		}
	}
	if w.pq != nil {
		if err := w.pq.WriteBuffered(p); err != nil {
			return fmt.Errorf("writing Parquet file %s: %w", w.path, err)
		}
		w.rgRows += p.NumRows()
		// a row group is held in memory until it closes: bound it by size
		// and by rows (well-compressed data never reaches the size)
		if w.rgRows >= MaxRowGroupRows || w.pq.RowGroupTotalCompressedBytes()+w.pq.RowGroupTotalBytesWritten() >= w.rgSize {
			w.pq.NewBufferedRowGroup()
			w.rgRows = 0
		}
		return nil
	}
	buf := w.buf[:0]
	for i := 0; i < int(p.NumRows()); i++ {
		buf = op.AppendRowJSON(buf, p, i)
		buf = append(buf, '\n')
	}
	w.buf = buf
	if _, err := w.bw.Write(buf); err != nil {
		return fmt.Errorf("writing %s: %w", w.tmp, err)
	}
	return nil
}

// commit completes the temporary file, syncs it and renames it to path.
func (w *fileWriter) commit() error {
	if w.done {
		return nil
	}
	if w.format == FormatParquet && w.pq == nil {
		// no rows came: an empty file with the schema
		if err := w.startParquet(nil); err != nil {
			return err
		}
	}
	if w.pq != nil {
		if err := w.pq.Close(); err != nil {
			return fmt.Errorf("finishing Parquet file %s: %w", w.path, err)
		}
	}
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", w.tmp, err)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", w.tmp, err)
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", w.tmp, err)
	}
	w.f = nil
	if err := os.Rename(w.tmp, w.path); err != nil {
		return fmt.Errorf("renaming %s to %s: %w", w.tmp, w.path, err)
	}
	w.done = true
	syncDir(filepath.Dir(w.path))
	w.removeStale()
	return nil
}

// abort removes the temporary file unless the file was committed.
func (w *fileWriter) abort() error {
	if w.done {
		return nil
	}
	w.done = true
	if w.pq != nil {
		_ = w.pq.Close() // releases its buffers; the file is discarded anyway
	}
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	if err := os.Remove(w.tmp); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("removing %s: %w", w.tmp, err)
	}
	return nil
}

// removeStale removes temporary files of earlier runs that were killed
// before they could clean up: those not modified since this run started.
func (w *fileWriter) removeStale() {
	m, _ := filepath.Glob(filepath.Join(filepath.Dir(w.path), "."+escapeGlob(filepath.Base(w.path))+".tmp-*"))
	for _, p := range m {
		if st, err := os.Stat(p); err == nil && st.ModTime().Before(w.started) {
			os.Remove(p)
		}
	}
}

func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
