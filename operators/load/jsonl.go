package load

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/caco-dev/caco/engine/op"
	"github.com/valyala/fastjson"
)

var bom = []byte("\xef\xbb\xbf")

// Reject reasons of load.
const (
	ReasonBadJSON = "bad_json" // a line that is not a JSON object
	ReasonBadType = "bad_type" // a value of the wrong type for its column
	ReasonBadRow  = "bad_row"  // a CSV record that cannot be read (field count, quotes)
)

// maxRejectData bounds the raw line kept in a reject.
const maxRejectData = 16 << 10

func truncData(b []byte) string {
	if len(b) <= maxRejectData {
		return string(b)
	}
	return fmt.Sprintf("%s...[%d more bytes]", b[:maxRejectData], len(b)-maxRejectData)
}

// readLine returns the next line without its line ending. The result aliases
// br's buffer (or long) and is valid until the next call. err is io.EOF after
// the last line (which may come with it).
func readLine(br *bufio.Reader, long []byte) ([]byte, error) {
	b, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		long = append(long[:0], b...)
		for errors.Is(err, bufio.ErrBufferFull) {
			b, err = br.ReadSlice('\n')
			long = append(long, b...)
		}
		b = long
	}
	if err != nil && err != io.EOF {
		return nil, err
	}
	n := len(b)
	if n > 0 && b[n-1] == '\n' {
		n--
		if n > 0 && b[n-1] == '\r' {
			n--
		}
	}
	return b[:n], err
}

func isBlank(b []byte) bool {
	if len(b) > 0 && b[0] == '{' {
		return false
	}
	return len(bytes.TrimSpace(b)) == 0
}

// chunk is the raw lines of one batch, cut by the reader goroutine and parsed
// by a worker.
type chunk struct {
	seq   uint64
	file  string
	want  bool
	n     int    // non-blank lines in the batch
	data  []byte // the lines, concatenated (only when want)
	ends  []int  // end offset of each line in data
	lines []int  // 1-based line number of each line
	res   chan chunkResult
}

type chunkResult struct {
	rec     arrow.Record
	rejects []op.Reject
	unknown map[string]int
	err     error
}

var chunkPool = sync.Pool{New: func() any { return &chunk{res: make(chan chunkResult, 1)} }}

func getChunk() *chunk {
	c := chunkPool.Get().(*chunk)
	c.data, c.ends, c.lines, c.n, c.want = c.data[:0], c.ends[:0], c.lines[:0], 0, false
	return c
}

func putChunk(c *chunk) {
	if cap(c.data) > 64<<20 {
		c.data = nil // do not keep huge buffers around
	}
	chunkPool.Put(c)
}

// readJSONL reads JSONL files: one goroutine cuts batches of lines, workers
// parse them in parallel, and batches are emitted in order. The order queue
// holds workers batches, enough to keep every worker busy: a longer one only
// fills up behind a slower downstream step and holds memory (two more batches
// cost about 7 MB of peak RSS in load → filter → write, for no speed).
func (r *reader) readJSONL(ctx context.Context, files []srcFile, seq *uint64, want func(uint64) bool, emit emitFunc) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := r.workers
	if workers < 1 {
		workers = 1
	}
	jobs := make(chan *chunk)
	order := make(chan *chunk, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := newJSONLParser(r.alloc, r.schema)
			defer p.release()
			for c := range jobs {
				c.res <- p.parse(c)
			}
		}()
	}
	go func() {
		defer close(order)
		defer close(jobs)
		send := func(c *chunk) error {
			select {
			case order <- c:
			case <-ctx.Done():
				putChunk(c)
				return ctx.Err()
			}
			if !c.want {
				c.res <- chunkResult{}
				return nil
			}
			select {
			case jobs <- c:
				return nil
			case <-ctx.Done():
				c.res <- chunkResult{err: ctx.Err()}
				return ctx.Err()
			}
		}
		for _, f := range files {
			if err := r.cutJSONL(ctx, f, seq, want, send); err != nil {
				if ctx.Err() == nil {
					c := getChunk()
					c.res <- chunkResult{err: err}
					c.want = true
					_ = send2(ctx, order, c)
				}
				return
			}
		}
	}()
	var firstErr error
	logged := map[string]bool{}
	for c := range order {
		res := <-c.res
		if firstErr != nil {
			if res.rec != nil {
				res.rec.Release()
			}
			putChunk(c)
			continue
		}
		switch {
		case res.err != nil:
			firstErr = res.err
		case !c.want:
			firstErr = emit(c.seq, nil, nil)
		default:
			for k, line := range res.unknown {
				if !logged[k] {
					logged[k] = true
					r.logf("%s:%d: key %q is not one of the step's columns and is ignored (declare it under columns:)", c.file, line, k)
				}
			}
			firstErr = emit(c.seq, res.rec, res.rejects) // emit owns res.rec
		}
		putChunk(c)
		if firstErr != nil {
			cancel()
		}
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

// send2 queues an error chunk (its result is already set).
func send2(ctx context.Context, order chan<- *chunk, c *chunk) error {
	select {
	case order <- c:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// cutJSONL splits one file into chunks of batchSize non-blank lines.
// Unwanted chunks only count their lines.
func (r *reader) cutJSONL(ctx context.Context, f srcFile, seq *uint64, want func(uint64) bool, send func(*chunk) error) error {
	rc, err := openText(f.path)
	if err != nil {
		return fmt.Errorf("opening %s: %w", f.path, err)
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 1<<20)
	var (
		c    *chunk
		long []byte
		line int
	)
	for {
		b, rerr := readLine(br, long)
		if rerr != nil && rerr != io.EOF {
			if c != nil {
				putChunk(c)
			}
			return fmt.Errorf("reading %s: %w", f.path, rerr)
		}
		if len(b) > 0 || rerr == nil {
			line++
			if line == 1 {
				b = bytes.TrimPrefix(b, bom)
			}
			if !isBlank(b) {
				if c == nil {
					if err := ctx.Err(); err != nil {
						return err
					}
					c = getChunk()
					c.seq, c.file, c.want = *seq, f.path, want(*seq)
				}
				if c.want {
					c.data = append(c.data, b...)
					c.ends = append(c.ends, len(c.data))
					c.lines = append(c.lines, line)
				}
				c.n++
				if c.n == r.batchSize {
					*seq++
					if err := send(c); err != nil {
						return err
					}
					c = nil
				}
			}
		}
		if rerr == io.EOF {
			break
		}
	}
	if c != nil {
		*seq++
		return send(c)
	}
	return nil
}

// jsonlParser turns chunks into records; one per worker.
type jsonlParser struct {
	schema *arrow.Schema
	index  map[string]int
	types  []string
	rb     *array.RecordBuilder
	p      fastjson.Parser
	vals   []*fastjson.Value
	cells  []cell
	buf    []byte
	// dataPerRow is, per string or json column, the bytes per row of the
	// previous batch: the next batch reserves that much up front instead of
	// growing its data buffer by doubling (each step copies the buffer and
	// leaves the old one to the garbage collector).
	dataPerRow []float64
}

type cell struct {
	null  bool
	i     int64
	f     float64
	b     bool
	s     []byte
	start int // json: offset in buf
	end   int
}

func newJSONLParser(alloc memory.Allocator, sc *arrow.Schema) *jsonlParser {
	jp := &jsonlParser{schema: sc, index: map[string]int{}, rb: array.NewRecordBuilder(alloc, sc)}
	for i, f := range sc.Fields() {
		jp.index[f.Name] = i
		jp.types = append(jp.types, op.TypeName(f))
	}
	jp.vals = make([]*fastjson.Value, len(jp.types))
	jp.cells = make([]cell, len(jp.types))
	jp.dataPerRow = make([]float64, len(jp.types))
	return jp
}

func (jp *jsonlParser) release() { jp.rb.Release() }

func (jp *jsonlParser) parse(c *chunk) chunkResult {
	var res chunkResult
	for i := range jp.types {
		b := jp.rb.Field(i)
		b.Reserve(c.n)
		if sb, ok := b.(*array.StringBuilder); ok && jp.dataPerRow[i] > 0 {
			// a little more than last time, so that a slightly larger batch
			// does not double the buffer at its very end
			sb.ReserveData(int(jp.dataPerRow[i]*float64(c.n)*1.0625) + 64)
		}
	}
	start := 0
	for k, end := range c.ends {
		line := c.data[start:end]
		start = end
		if msg := jp.row(line, c, k, &res); msg != "" {
			reason := ReasonBadType
			if msg[0] == '!' {
				reason, msg = ReasonBadJSON, msg[1:]
			}
			res.rejects = append(res.rejects, op.Reject{Row: -1, Reason: reason,
				Detail: fmt.Sprintf("%s:%d: %s", c.file, c.lines[k], msg), Data: truncData(line)})
		}
	}
	if len(jp.types) > 0 && jp.rb.Field(0).Len() > 0 {
		rows := jp.rb.Field(0).Len()
		for i := range jp.types {
			if sb, ok := jp.rb.Field(i).(*array.StringBuilder); ok {
				jp.dataPerRow[i] = float64(sb.DataLen()) / float64(rows)
			}
		}
	}
	res.rec = jp.rb.NewRecord()
	return res
}

// row appends one line; it returns "" when done, or a message (starting with
// "!" for malformed JSON) when the line is a reject.
func (jp *jsonlParser) row(line []byte, c *chunk, k int, res *chunkResult) string {
	v, err := jp.p.ParseBytes(line)
	if err != nil {
		return "!malformed JSON: " + err.Error()
	}
	obj, err := v.Object()
	if err != nil {
		return "!not a JSON object: " + v.Type().String()
	}
	for i := range jp.vals {
		jp.vals[i] = nil
	}
	obj.Visit(func(key []byte, v *fastjson.Value) {
		if i, ok := jp.index[string(key)]; ok {
			jp.vals[i] = v
			return
		}
		if res.unknown == nil {
			res.unknown = map[string]int{}
		}
		if _, ok := res.unknown[string(key)]; !ok {
			res.unknown[string(key)] = c.lines[k]
		}
	})
	jp.buf = jp.buf[:0]
	for i, typ := range jp.types {
		v := jp.vals[i]
		cl := &jp.cells[i]
		*cl = cell{}
		if v == nil || v.Type() == fastjson.TypeNull {
			cl.null = true
			continue
		}
		bad := false
		switch typ {
		case op.TypeString:
			if v.Type() != fastjson.TypeString {
				bad = true
				break
			}
			cl.s = v.GetStringBytes()
		case op.TypeInt:
			if v.Type() != fastjson.TypeNumber {
				bad = true
				break
			}
			n, err := v.Int64()
			if err != nil {
				f, ferr := v.Float64()
				if ferr != nil || f != math.Trunc(f) || math.Abs(f) >= 1<<63 {
					return fmt.Sprintf("column %q: want an int, got %s", jp.schema.Field(i).Name, describe(v))
				}
				n = int64(f)
			}
			cl.i = n
		case op.TypeFloat:
			if v.Type() != fastjson.TypeNumber {
				bad = true
				break
			}
			f, err := v.Float64()
			if err != nil {
				bad = true
				break
			}
			cl.f = f
		case op.TypeBool:
			switch v.Type() {
			case fastjson.TypeTrue:
				cl.b = true
			case fastjson.TypeFalse:
			default:
				bad = true
			}
		default: // json
			cl.start = len(jp.buf)
			jp.buf = v.MarshalTo(jp.buf)
			cl.end = len(jp.buf)
		}
		if bad {
			return fmt.Sprintf("column %q: want %s, got %s", jp.schema.Field(i).Name, article(typ), describe(v))
		}
	}
	for i, typ := range jp.types {
		cl := &jp.cells[i]
		b := jp.rb.Field(i)
		if cl.null {
			b.AppendNull()
			continue
		}
		switch typ {
		case op.TypeString:
			b.(*array.StringBuilder).BinaryBuilder.Append(cl.s)
		case op.TypeInt:
			b.(*array.Int64Builder).Append(cl.i)
		case op.TypeFloat:
			b.(*array.Float64Builder).Append(cl.f)
		case op.TypeBool:
			b.(*array.BooleanBuilder).Append(cl.b)
		default:
			b.(*array.StringBuilder).BinaryBuilder.Append(jp.buf[cl.start:cl.end])
		}
	}
	return ""
}

func article(typ string) string {
	if typ == op.TypeInt {
		return "an int"
	}
	return "a " + typ
}

func describe(v *fastjson.Value) string {
	switch v.Type() {
	case fastjson.TypeString:
		s := string(v.GetStringBytes())
		if len(s) > 40 {
			s = s[:40] + "..."
		}
		return fmt.Sprintf("string %q", s)
	case fastjson.TypeNumber:
		return "number " + string(v.MarshalTo(nil))
	case fastjson.TypeTrue, fastjson.TypeFalse:
		return "bool " + v.String()
	case fastjson.TypeObject:
		return "an object"
	case fastjson.TypeArray:
		return "a list"
	}
	return v.Type().String()
}
