package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/compute"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
	"github.com/caco-dev/caco/engine/op"
)

// recipeType is the recipe column type a file column is read as when no
// type is declared: strings, integers, floats and booleans keep their kind,
// lists, structs and maps are json; "" for the types caco does not read
// exactly (see supported).
func recipeType(f arrow.Field) string {
	if op.IsJSON(f) {
		return op.TypeJSON
	}
	if !supported(f.Type) {
		return ""
	}
	t := f.Type
	if d, ok := t.(*arrow.DictionaryType); ok {
		t = d.ValueType
	}
	switch t.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		return op.TypeString
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return op.TypeInt
	case arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64:
		return op.TypeFloat
	case arrow.BOOL:
		return op.TypeBool
	}
	return op.TypeJSON
}

// convertible reports whether a file column can be read as the declared type.
func convertible(from arrow.Field, to string) bool {
	have := recipeType(from)
	switch {
	case have == "":
		return false
	case have == to, to == op.TypeJSON:
		return true
	case to == op.TypeFloat && have == op.TypeInt:
		return true
	case to == op.TypeString && have == op.TypeJSON && from.Type.ID() == arrow.STRING:
		return true
	}
	return false
}

// fileSchema reads the Arrow schema of a Parquet (footer only) or Arrow IPC
// file (first message or footer).
func fileSchema(f srcFile) (_ *arrow.Schema, err error) {
	defer op.Recover(&err, "reading the schema of "+f.path)
	switch f.format {
	case FormatParquet:
		pf, err := file.OpenParquetFile(f.path, false)
		if err != nil {
			return nil, fmt.Errorf("reading Parquet file %s: %w", f.path, err)
		}
		defer pf.Close()
		fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
		if err != nil {
			return nil, fmt.Errorf("reading Parquet file %s: %w", f.path, err)
		}
		sc, err := fr.Schema()
		if err != nil {
			return nil, fmt.Errorf("reading the schema of Parquet file %s: %w", f.path, err)
		}
		return sc, nil
	default:
		ar, err := openArrow(f.path, memory.DefaultAllocator)
		if err != nil {
			return nil, err
		}
		defer ar.close()
		return ar.schema, nil
	}
}

// planArrow learns or checks the columns of Parquet/Arrow files.
func planArrow(files []srcFile, decl *arrow.Schema) (*arrow.Schema, error) {
	var out *arrow.Schema
	for i, f := range files {
		sc, err := fileSchema(f)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			out = decl
			if out == nil {
				fields := make([]arrow.Field, sc.NumFields())
				for k, fl := range sc.Fields() {
					t := recipeType(fl)
					if t == "" {
						return nil, unsupportedError(f.path, fl)
					}
					fields[k] = op.MustField(fl.Name, t)
				}
				out = arrow.NewSchema(fields, nil)
			}
		}
		if err := checkFileSchema(f.path, sc, out, decl != nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// checkFileSchema checks that a file holds the step's columns with
// compatible types (and, when columns are learned, no others).
func checkFileSchema(path string, sc, want *arrow.Schema, declared bool) error {
	for _, w := range want.Fields() {
		idx := sc.FieldIndices(w.Name)
		if len(idx) == 0 {
			return fmt.Errorf("%s has no column %q (its columns: %s)", path, w.Name, columnList(sc))
		}
		if len(idx) > 1 {
			return fmt.Errorf("%s has several columns named %q", path, w.Name)
		}
		have := sc.Field(idx[0])
		if recipeType(have) == "" {
			return unsupportedError(path, have)
		}
		if !convertible(have, op.TypeName(w)) {
			return fmt.Errorf("%s: column %q is %s, not %s", path, w.Name, have.Type, op.TypeName(w))
		}
	}
	if !declared && sc.NumFields() != want.NumFields() {
		return fmt.Errorf("%s has columns %s, but the first file has %s", path, columnList(sc), columnList(want))
	}
	return nil
}

func unsupportedError(path string, f arrow.Field) error {
	return fmt.Errorf("%s: column %q is %s, which caco cannot hold exactly (it reads strings, integers, floats, booleans, and lists, structs and maps of those as json); declare columns: without it, or convert it to one of those first", path, f.Name, f.Type)
}

// arrowFile reads Arrow IPC files in either the stream or the file format.
type arrowFile struct {
	f      *os.File
	schema *arrow.Schema
	stream *ipc.Reader
	file   *ipc.FileReader
	next   int
}

func openArrow(path string, alloc memory.Allocator) (*arrowFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	magic := make([]byte, 6)
	n, _ := io.ReadFull(f, magic)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	af := &arrowFile{f: f}
	if n == 6 && bytes.Equal(magic, []byte("ARROW1")) {
		af.file, err = ipc.NewFileReader(f, ipc.WithAllocator(alloc))
		if err == nil {
			af.schema = af.file.Schema()
		}
	} else {
		af.stream, err = ipc.NewReader(f, ipc.WithAllocator(alloc))
		if err == nil {
			af.schema = af.stream.Schema()
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading Arrow file %s: %w", path, err)
	}
	return af, nil
}

// nextRecord returns the next record (owned by the caller), or nil at the end.
func (af *arrowFile) nextRecord() (arrow.Record, error) {
	if af.file != nil {
		if af.next >= af.file.NumRecords() {
			return nil, nil
		}
		rec, err := af.file.RecordAt(af.next)
		af.next++
		return rec, err
	}
	if !af.stream.Next() {
		if err := af.stream.Err(); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		return nil, nil
	}
	rec := af.stream.Record()
	rec.Retain()
	return rec, nil
}

func (af *arrowFile) close() {
	if af.file != nil {
		af.file.Close()
	}
	if af.stream != nil {
		af.stream.Release()
	}
	af.f.Close()
}

func (r *reader) readArrow(ctx context.Context, f srcFile, seq *uint64, want func(uint64) bool, emit emitFunc) (err error) {
	defer op.Recover(&err, "reading Arrow file "+f.path)
	af, err := openArrow(f.path, r.alloc)
	if err != nil {
		return err
	}
	defer af.close()
	if err := checkFileSchema(f.path, af.schema, r.schema, true); err != nil {
		return err
	}
	b := r.newBatcher(f.path, seq, want, emit)
	defer b.release()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, err := af.nextRecord()
		if err != nil {
			return fmt.Errorf("reading Arrow file %s: %w", f.path, err)
		}
		if rec == nil {
			break
		}
		err = b.add(rec)
		rec.Release()
		if err != nil {
			return err
		}
	}
	return b.flush()
}

// readParquet reads a Parquet file. Its column readers run in this
// goroutine (Parallel: false), so that the recover below catches a panic of
// the Parquet library on a corrupt file: a recover does not reach
// goroutines a library starts.
func (r *reader) readParquet(ctx context.Context, f srcFile, seq *uint64, want func(uint64) bool, emit emitFunc) (err error) {
	defer op.Recover(&err, "reading Parquet file "+f.path+" (corrupt?)")
	pf, err := file.OpenParquetFile(f.path, false)
	if err != nil {
		return fmt.Errorf("reading Parquet file %s: %w", f.path, err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: int64(r.batchSize), Parallel: false}, r.alloc)
	if err != nil {
		return fmt.Errorf("reading Parquet file %s: %w", f.path, err)
	}
	sc, err := fr.Schema()
	if err != nil {
		return fmt.Errorf("reading the schema of Parquet file %s: %w", f.path, err)
	}
	if err := checkFileSchema(f.path, sc, r.schema, true); err != nil {
		return err
	}
	if pf.NumRows() == 0 {
		return nil
	}
	// Read only the step's columns.
	var leaves []int
	for _, w := range r.schema.Fields() {
		leaves = appendLeaves(leaves, &fr.Manifest.Fields[sc.FieldIndices(w.Name)[0]])
	}
	if len(leaves) == 0 {
		return nil
	}
	// Row groups whose batches are all unwanted are counted, not read.
	b := r.newBatcher(f.path, seq, want, emit)
	defer b.release()
	bs, seq0 := int64(r.batchSize), *seq
	nrg := pf.NumRowGroups()
	need := make([]bool, nrg)
	var off int64
	for rg := 0; rg < nrg; rg++ {
		n := pf.MetaData().RowGroup(rg).NumRows()
		for k := off / bs; n > 0 && k <= (off+n-1)/bs; k++ {
			if want(seq0 + uint64(k)) {
				need[rg] = true
				break
			}
		}
		off += n
	}
	for i := 0; i < nrg; {
		if !need[i] {
			if err := b.skip(pf.MetaData().RowGroup(i).NumRows()); err != nil {
				return err
			}
			i++
			continue
		}
		j := i
		var groups []int
		for ; j < nrg && need[j]; j++ {
			groups = append(groups, j)
		}
		if err := r.readRowGroups(ctx, fr, f.path, leaves, groups, b); err != nil {
			return err
		}
		i = j
	}
	return b.flush()
}

func (r *reader) readRowGroups(ctx context.Context, fr *pqarrow.FileReader, path string, leaves, groups []int, b *batcher) error {
	rr, err := fr.GetRecordReader(ctx, leaves, groups)
	if err != nil {
		return fmt.Errorf("reading Parquet file %s: %w", path, err)
	}
	defer rr.Release()
	for rr.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := b.add(rr.Record()); err != nil {
			return err
		}
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading Parquet file %s: %w", path, err)
	}
	return nil
}

func appendLeaves(out []int, sf *pqarrow.SchemaField) []int {
	if len(sf.Children) == 0 { // group fields may carry a zero ColIndex: trust children
		return append(out, sf.ColIndex)
	}
	for i := range sf.Children {
		out = appendLeaves(out, &sf.Children[i])
	}
	return out
}

// batcher cuts a file's records into batches of exactly batchSize rows (the
// last one may be shorter), converts them to the step's columns and emits
// them. Unwanted batches are counted, not built.
type batcher struct {
	r       *reader
	path    string
	seq     *uint64
	want    func(uint64) bool
	emit    emitFunc
	pending []arrow.Record
	n       int64
	rows    int64 // rows of the file before the pending ones
}

func (r *reader) newBatcher(path string, seq *uint64, want func(uint64) bool, emit emitFunc) *batcher {
	return &batcher{r: r, path: path, seq: seq, want: want, emit: emit}
}

func (b *batcher) add(rec arrow.Record) error {
	size := int64(b.r.batchSize)
	for off := int64(0); off < rec.NumRows(); {
		take := min(size-b.n, rec.NumRows()-off)
		if b.want(*b.seq) {
			b.pending = append(b.pending, rec.NewSlice(off, off+take))
		}
		b.n += take
		off += take
		if b.n == size {
			if err := b.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// skip counts rows of unwanted batches without reading them.
func (b *batcher) skip(rows int64) error {
	size := int64(b.r.batchSize)
	for rows > 0 {
		take := min(size-b.n, rows)
		b.n += take
		rows -= take
		if b.n == size {
			if err := b.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *batcher) flush() error {
	if b.n == 0 {
		return nil
	}
	seq := *b.seq
	*b.seq++
	defer func(n int64) { b.rows += n }(b.n)
	b.n = 0
	if len(b.pending) == 0 {
		return b.emit(seq, nil, nil)
	}
	rec, rejects, err := b.build()
	b.release()
	if err != nil {
		return err
	}
	return b.emit(seq, rec, rejects) // emit owns rec
}

func (b *batcher) release() {
	for _, p := range b.pending {
		p.Release()
	}
	b.pending = b.pending[:0]
}

// build concatenates the pending slices and converts their columns. Rows
// holding a non-finite float (NaN, ±Inf; also inside lists and structs) are
// rejects (bad_value): caco stores only finite floats.
func (b *batcher) build() (arrow.Record, []op.Reject, error) {
	alloc := b.r.alloc
	want := b.r.schema
	src := b.pending[0].Schema()
	cols := make([]arrow.Array, want.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	var rows int64
	for _, p := range b.pending {
		rows += p.NumRows()
	}
	bad := map[int]string{}
	for i, w := range want.Fields() {
		k := src.FieldIndices(w.Name)[0]
		var whole arrow.Array
		if len(b.pending) == 1 {
			whole = b.pending[0].Column(k)
			whole.Retain()
		} else {
			parts := make([]arrow.Array, len(b.pending))
			for j, p := range b.pending {
				parts[j] = p.Column(k)
			}
			var err error
			whole, err = array.Concatenate(parts, alloc)
			if err != nil {
				return nil, nil, fmt.Errorf("reading %s: column %q: %w", b.path, w.Name, err)
			}
		}
		c, err := convertArray(alloc, whole, src.Field(k), w, bad)
		whole.Release()
		if err != nil {
			return nil, nil, fmt.Errorf("reading %s: column %q: %w", b.path, w.Name, err)
		}
		cols[i] = c
	}
	rec := array.NewRecord(want, cols, rows)
	if len(bad) == 0 {
		return rec, nil, nil
	}
	defer rec.Release()
	keep := make([]bool, rows)
	var rejects []op.Reject
	for r := range keep {
		msg, isBad := bad[r]
		keep[r] = !isBad
		if isBad {
			rejects = append(rejects, op.Reject{Row: -1, Reason: ReasonBadValue,
				Detail: fmt.Sprintf("%s: row %d: %s", b.path, b.rows+int64(r)+1, msg), Data: op.RowJSON(rec, r)})
		}
	}
	out, err := op.Filter(alloc, rec, keep)
	if err != nil {
		return nil, nil, err
	}
	return out, rejects, nil
}

// convertArray returns arr as the recipe type of to (a new reference);
// rows that cannot be held exactly are noted in bad (row → message).
func convertArray(alloc memory.Allocator, arr arrow.Array, from, to arrow.Field, bad map[int]string) (arrow.Array, error) {
	typ := op.TypeName(to)
	if typ == op.TypeJSON {
		if op.IsJSON(from) && arr.DataType().ID() == arrow.STRING {
			arr.Retain()
			return arr, nil
		}
		return toJSONText(alloc, arr, to.Name, bad)
	}
	var out arrow.Array
	if arrow.TypeEqual(arr.DataType(), to.Type) {
		arr.Retain()
		out = arr
	} else {
		ctx := compute.WithAllocator(context.Background(), alloc)
		var err error
		out, err = compute.CastArray(ctx, arr, compute.SafeCastOptions(to.Type))
		if err != nil {
			return nil, fmt.Errorf("converting %s to %s: %w", arr.DataType(), typ, err)
		}
	}
	if fl, ok := out.(*array.Float64); ok {
		for i := 0; i < fl.Len(); i++ {
			if f := fl.Value(i); fl.IsValid(i) && (math.IsNaN(f) || math.IsInf(f, 0)) {
				if _, seen := bad[i]; !seen {
					bad[i] = fmt.Sprintf("column %q: %v", to.Name, &op.NonFiniteError{F: f})
				}
			}
		}
	}
	return out, nil
}

// toJSONText renders each value as exact JSON text (nulls stay null).
func toJSONText(alloc memory.Allocator, arr arrow.Array, name string, bad map[int]string) (arrow.Array, error) {
	sb := array.NewStringBuilder(alloc)
	defer sb.Release()
	sb.Reserve(arr.Len())
	var buf []byte
	for i := 0; i < arr.Len(); i++ {
		if arr.IsNull(i) {
			sb.AppendNull()
			continue
		}
		var err error
		buf, err = appendArrowJSON(buf[:0], arr, i)
		if err != nil {
			if _, ok := err.(*op.NonFiniteError); !ok {
				return nil, fmt.Errorf("rendering row %d as JSON: %w", i, err)
			}
			if _, seen := bad[i]; !seen {
				bad[i] = fmt.Sprintf("column %q: %v", name, err)
			}
			sb.AppendNull()
			continue
		}
		sb.BinaryBuilder.Append(buf)
	}
	return sb.NewArray(), nil
}
