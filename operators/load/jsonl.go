package load

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/caco-dev/caco/engine/op"
	"github.com/valyala/fastjson"
)

var bom = []byte("\xef\xbb\xbf")

// Reject reasons of load.
const (
	ReasonBadJSON  = "bad_json"  // a line that is not a JSON object
	ReasonBadType  = "bad_type"  // a value of the wrong type for its column
	ReasonBadRow   = "bad_row"   // a CSV record that cannot be read (field count, quotes)
	ReasonBadUTF8  = "bad_utf8"  // invalid UTF-8, or an escaped lone surrogate (\ud800), in a JSONL or CSV row
	ReasonExtra    = "extra_key" // a JSONL key that is not a column, with extra_keys: reject
	ReasonBadValue = "bad_value" // a Parquet or Arrow value caco cannot hold exactly (NaN, ±Inf)
)

// Counters load adds to its step's stats.
const (
	CounterUTF8Replaced = "utf8_replaced_rows" // rows whose invalid UTF-8 was replaced (invalid_utf8: replace)
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
	rec      arrow.Record
	rejects  []op.Reject
	unknown  map[string]int
	replaced int64 // rows with invalid UTF-8 replaced
	err      error
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
			p := newJSONLParser(r.alloc, r.schema, r.policy)
			defer p.release()
			for c := range jobs {
				c.res <- p.parseSafe(c)
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
			err := op.Safe("reading "+f.path, func() error { return r.cutJSONL(ctx, f, seq, want, send) })
			if err != nil {
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
					r.logf("%s:%d: key %q is not one of the step's columns and is ignored (extra_keys: ignore)", c.file, line, k)
				}
			}
			if res.replaced > 0 {
				r.count(c.seq, CounterUTF8Replaced, res.replaced)
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
	nb       []byte // number text
	names    []string
	extraMsg string // row: the extra-key reject (fields, so that row's closure allocates nothing)
	nExtra   int
	schema   *arrow.Schema
	policy   policy
	extra    int // index of the extra-keys column, or -1
	ebuf     []byte
	fixed    []byte
	index    map[string]int
	types    []string
	rb       *array.RecordBuilder
	p        fastjson.Parser
	vals     []*fastjson.Value
	cells    []cell
	buf      []byte
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

func newJSONLParser(alloc memory.Allocator, sc *arrow.Schema, pol policy) *jsonlParser {
	jp := &jsonlParser{schema: sc, policy: pol, extra: -1, index: map[string]int{}, rb: array.NewRecordBuilder(alloc, sc)}
	for i, f := range sc.Fields() {
		if pol.extraKeys == ExtraKeep && f.Name == ExtraColumn && i == sc.NumFields()-1 {
			jp.extra = i
		} else {
			jp.index[f.Name] = i
		}
		jp.types = append(jp.types, op.TypeName(f))
		jp.names = append(jp.names, f.Name)
	}
	jp.vals = make([]*fastjson.Value, len(jp.types))
	jp.cells = make([]cell, len(jp.types))
	jp.dataPerRow = make([]float64, len(jp.types))
	return jp
}

func (jp *jsonlParser) release() { jp.rb.Release() }

// parseSafe is parse that turns a panic into an error naming the file (the
// workers are goroutines of their own: a recover elsewhere does not reach
// them).
func (jp *jsonlParser) parseSafe(c *chunk) (res chunkResult) {
	defer func() {
		if v := recover(); v != nil {
			if res.rec != nil {
				res.rec.Release()
			}
			res = chunkResult{err: &op.PanicError{What: fmt.Sprintf("parsing %s (lines %d-%d)", c.file, first(c.lines), last(c.lines)), Value: v}}
		}
	}()
	return jp.parse(c)
}

func first(l []int) int {
	if len(l) == 0 {
		return 0
	}
	return l[0]
}

func last(l []int) int {
	if len(l) == 0 {
		return 0
	}
	return l[len(l)-1]
}

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
			switch msg[0] {
			case '!':
				reason, msg = ReasonBadJSON, msg[1:]
			case '~':
				reason, msg = ReasonBadUTF8, msg[1:]
			case '+':
				reason, msg = ReasonExtra, msg[1:]
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

// row appends one line; it returns "" when done, or a message when the
// line is a reject, starting with "!" for malformed JSON, "~" for bad
// UTF-8 and "+" for an extra key.
func (jp *jsonlParser) row(line []byte, c *chunk, k int, res *chunkResult) string {
	if msg, fixed := jp.checkUTF8(line); msg != "" {
		return msg
	} else if fixed != nil {
		line = fixed
		res.replaced++
	}
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
	jp.extraMsg, jp.nExtra = "", 0
	if jp.extra >= 0 {
		jp.ebuf = append(jp.ebuf[:0], '{')
	}
	obj.Visit(func(key []byte, v *fastjson.Value) {
		if i, ok := jp.index[string(key)]; ok {
			jp.vals[i] = v
			return
		}
		switch jp.policy.extraKeys {
		case ExtraReject:
			if jp.extraMsg == "" {
				jp.extraMsg = fmt.Sprintf("+key %q is not one of the step's columns (%s); set extra_keys: keep to put such keys in a json column %q, extra_keys: ignore to drop them, or declare columns:", key, jp.policy.columnsFrom, ExtraColumn)
			}
		case ExtraKeep:
			if jp.nExtra > 0 {
				jp.ebuf = append(jp.ebuf, ',')
			}
			jp.nExtra++
			jp.ebuf = op.AppendJSONString(jp.ebuf, string(key))
			jp.ebuf = append(jp.ebuf, ':')
			jp.ebuf = v.MarshalTo(jp.ebuf)
		default:
			if res.unknown == nil {
				res.unknown = map[string]int{}
			}
			if _, ok := res.unknown[string(key)]; !ok {
				res.unknown[string(key)] = c.lines[k]
			}
		}
	})
	if jp.extraMsg != "" {
		return jp.extraMsg
	}
	jp.buf = jp.buf[:0]
	for i, typ := range jp.types {
		cl := &jp.cells[i]
		*cl = cell{}
		if i == jp.extra {
			if jp.nExtra == 0 {
				cl.null = true
				continue
			}
			jp.ebuf = append(jp.ebuf, '}')
			if msg := jp.checkNumbers(jp.p2(jp.ebuf)); msg != "" {
				return fmt.Sprintf("!column %q: %s", ExtraColumn, msg)
			}
			cl.start = len(jp.buf)
			jp.buf = append(jp.buf, jp.ebuf...)
			cl.end = len(jp.buf)
			continue
		}
		v := jp.vals[i]
		if v == nil || v.Type() == fastjson.TypeNull {
			cl.null = true
			continue
		}
		bad := false
		name := jp.names[i]
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
			text := v.MarshalTo(jp.nb[:0])
			jp.nb = text[:0]
			if !validNumber(text) {
				return fmt.Sprintf("!column %q: %s is not a JSON number", name, text)
			}
			if bytes.ContainsAny(text, ".eE") {
				return fmt.Sprintf("column %q: want an int, got the float %s (an int column holds integers only; declare it float or json)", name, text)
			}
			n, err := v.Int64()
			if err != nil {
				return fmt.Sprintf("column %q: the integer %s does not fit in int64 (declare the column json to keep it exactly)", name, clip(string(text)))
			}
			cl.i = n
		case op.TypeFloat:
			if v.Type() != fastjson.TypeNumber {
				bad = true
				break
			}
			text := v.MarshalTo(jp.nb[:0])
			jp.nb = text[:0]
			if !validNumber(text) {
				return fmt.Sprintf("!column %q: %s is not a JSON number", name, text)
			}
			f, msg := floatOf(v, text)
			if msg != "" {
				return fmt.Sprintf("column %q: %s", name, msg)
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
			if msg := jp.checkNumbers(v); msg != "" {
				return fmt.Sprintf("!column %q: %s", name, msg)
			}
			cl.start = len(jp.buf)
			jp.buf = v.MarshalTo(jp.buf)
			cl.end = len(jp.buf)
		}
		if bad {
			return fmt.Sprintf("column %q: want %s, got %s", name, article(typ), describe(v))
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

// p2 parses the extra-keys object built by row (valid JSON by construction).
func (jp *jsonlParser) p2(b []byte) *fastjson.Value {
	var p fastjson.Parser
	v, err := p.ParseBytes(b)
	if err != nil {
		return nil
	}
	return v
}

// checkUTF8 returns a "~" reject message when line has invalid UTF-8 or an
// escaped lone surrogate, or, with invalid_utf8: replace, the line with
// each replaced by U+FFFD (nil when the line is fine).
func (jp *jsonlParser) checkUTF8(line []byte) (string, []byte) {
	var fixed []byte
	if !utf8.Valid(line) {
		if jp.policy.invalidUTF8 != UTF8Replace {
			return fmt.Sprintf("~invalid UTF-8 at byte %d (invalid_utf8: replace keeps the row with U+FFFD)", badUTF8At(line)+1), nil
		}
		jp.fixed = append(jp.fixed[:0], bytes.ToValidUTF8(line, []byte("\ufffd"))...)
		fixed = jp.fixed
		line = fixed
	}
	if bytes.Contains(line, []byte(`\u`)) || bytes.Contains(line, []byte(`\U`)) {
		for {
			ls := op.LoneSurrogate(line)
			if ls == "" {
				break
			}
			if jp.policy.invalidUTF8 != UTF8Replace {
				return fmt.Sprintf("~escaped lone surrogate %s has no UTF-8 form (invalid_utf8: replace keeps the row with U+FFFD)", ls), nil
			}
			i := bytes.Index(line, []byte(ls))
			fixed = append(append(append([]byte(nil), line[:i]...), `\ufffd`...), line[i+len(ls):]...)
			line = fixed
		}
	}
	return "", fixed
}

func badUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return len(b)
}

// validNumber reports whether text is a JSON number (fastjson also takes
// NaN, inf and leading zeros).
func validNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	return i == len(b)
}

// checkNumbers returns a message when a number inside v is not strict JSON
// or beyond the float64 range.
func (jp *jsonlParser) checkNumbers(v *fastjson.Value) string {
	if v == nil {
		return "not JSON"
	}
	switch v.Type() {
	case fastjson.TypeNumber:
		text := v.MarshalTo(jp.nb[:0])
		jp.nb = text[:0]
		if !validNumber(text) {
			return string(text) + " is not a JSON number"
		}
		if bytes.ContainsAny(text, ".eE") {
			if f, err := strconv.ParseFloat(string(text), 64); err != nil || math.IsInf(f, 0) {
				return clip(string(text)) + " is beyond the float64 range (caco stores only finite floats)"
			}
		}
	case fastjson.TypeArray:
		for _, it := range v.GetArray() {
			if msg := jp.checkNumbers(it); msg != "" {
				return msg
			}
		}
	case fastjson.TypeObject:
		var msg string
		v.GetObject().Visit(func(_ []byte, it *fastjson.Value) {
			if msg == "" {
				msg = jp.checkNumbers(it)
			}
		})
		return msg
	}
	return ""
}

// floatOf is exactFloat for a parsed number (text is its JSON text),
// without allocating on the common path.
func floatOf(v *fastjson.Value, text []byte) (float64, string) {
	if !bytes.ContainsAny(text, ".eE") {
		n, err := v.Int64()
		if err == nil {
			if f := float64(n); f < 1<<63 && int64(f) == n {
				return f, ""
			}
		}
		return 0, fmt.Sprintf("the integer %s has no exact float64 (declare the column json to keep it exactly)", clip(string(text)))
	}
	// strconv, not fastjson's Float64: that one is off by an ulp on some
	// inputs (TestValuesSurvive finds them)
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(text), len(text)), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Sprintf("%s is beyond the float64 range (caco stores only finite floats)", clip(string(text)))
	}
	return f, ""
}

// exactFloat parses number text for a float column: a float, or an integer
// that a float64 holds exactly; "" or a message saying why not.
func exactFloat(text string) (float64, string) {
	if op.NumberIsInt(text) {
		n, err := strconv.ParseInt(text, 10, 64)
		if err == nil {
			if f := float64(n); f < 1<<63 && int64(f) == n {
				return f, ""
			}
		}
		return 0, fmt.Sprintf("the integer %s has no exact float64 (declare the column json to keep it exactly)", clip(text))
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Sprintf("%s is beyond the float64 range (caco stores only finite floats)", clip(text))
	}
	return f, ""
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
