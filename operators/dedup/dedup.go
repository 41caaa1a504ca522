package dedup

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/zeebo/xxh3"

	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/operators/dedup/internal/index"
	"github.com/caco-dev/caco/operators/dedup/internal/minhash"
	"github.com/caco-dev/caco/operators/dedup/internal/norm"
)

// Recipe keys of the dedup operator.
const (
	FieldKey            = "key"
	FieldMethod         = "method"
	FieldNormalize      = "normalize"
	FieldReplaceNumbers = "replace_numbers"
	FieldShingle        = "shingle"
	FieldNGram          = "ngram"
	FieldNumPerm        = "num_perm"
	FieldThreshold      = "threshold"
	FieldBands          = "bands"
	FieldRows           = "rows"
	FieldFPWeight       = "fp_weight"
	FieldID             = "id"
	FieldAgainst        = "against"
)

// Methods.
const (
	MethodExact   = "exact"
	MethodMinHash = "minhash"
)

// Reason is the rejects-ledger reason of a dropped row.
const Reason = "duplicate"

// Defaults.
const (
	DefaultMethod    = MethodMinHash
	DefaultNormalize = "whitespace"
	DefaultShingle   = "word"
	DefaultNGram     = 5
	DefaultNumPerm   = 128
	DefaultThreshold = 0.8
	// DefaultFPWeight leans to recall: every LSH candidate is confirmed by
	// its estimated similarity, so a false positive costs one signature
	// comparison while a false negative is a missed duplicate. At threshold
	// 0.8 and 128 permutations it gives 12 bands of 10 rows.
	DefaultFPWeight = 0.2
)

func init() {
	op.Register(op.Spec{
		Name:    "dedup",
		Summary: "Drop exact or near-duplicate rows (MinHash LSH), keeping the first in stable order.",
		Doc: "Removes rows whose key column duplicates an earlier row: exactly (a hash of the normalised key) " +
			"or approximately (MinHash signatures over shingles, LSH band candidates confirmed by the estimated " +
			"Jaccard similarity >= threshold). The first row in stable source order is kept; every dropped row " +
			"goes to the rejects ledger with reason \"duplicate\" and detail \"dup_of=<kept id> similarity=<s>\". " +
			"The result does not depend on workers, batch size or resume points; the index is checkpointed with " +
			"the step. Numbers are part of a row's identity unless replace_numbers is set: two Code CoTs that " +
			"differ only in their constants are different problems. `against` deduplicates against earlier datasets. " +
			"After a fan-in (inputs: [a, b]) stable order is batch-id order: batches of the source declared first in " +
			"the recipe file come first, and rows of one batch reaching the step through several inputs follow inputs:.",
		Version: "1",
		Fields: []op.Field{
			{Name: FieldKey, Kind: op.String, Required: true, Example: "code",
				Doc: "The string (or JSON) column compared. Rows whose key is null are kept and not indexed."},
			{Name: FieldMethod, Kind: op.Enum, Enum: []string{MethodExact, MethodMinHash}, Default: DefaultMethod,
				Doc: "exact: a 64-bit hash of the normalised key. minhash: near-duplicates by estimated Jaccard similarity of shingle sets."},
			{Name: FieldNormalize, Kind: op.Enum, Enum: []string{"none", "whitespace", "code", "text"}, Default: DefaultNormalize,
				Doc: "none: the key as is. whitespace: runs of whitespace become one space. code: Python tokens one space apart, " +
					"one logical line per line (comments, blank lines, indentation and spacing disappear; strings are kept). " +
					"text: lower case, punctuation and symbols become spaces, whitespace collapsed."},
			{Name: FieldReplaceNumbers, Kind: op.Bool, Default: false,
				Doc: "Replace every number by 0 before hashing, so rows differing only in constants are duplicates. " +
					"When false (the default) the multiset of numbers is part of a row's identity: minhash never pairs rows whose numbers differ."},
			{Name: FieldShingle, Kind: op.Enum, Enum: []string{"word", "char", "code"}, Default: DefaultShingle,
				Doc: "minhash shingles: n-grams of words, of characters, or of Python tokens (code: comments dropped; identifiers " +
					"other than keywords, builtins, attribute names and imported names become one placeholder, so renamed variables match)."},
			{Name: FieldNGram, Kind: op.Int, Default: DefaultNGram, Min: op.Bound(1), Max: op.Bound(64),
				Doc: "Shingle length in words, characters or tokens; a key shorter than that is one shingle."},
			{Name: FieldNumPerm, Kind: op.Int, Default: DefaultNumPerm, Min: op.Bound(8), Max: op.Bound(1024),
				Doc: "MinHash permutations. Memory per kept row is about 2*num_perm bytes plus the band tables."},
			{Name: FieldThreshold, Kind: op.Float, Default: DefaultThreshold, Min: op.Bound(0.01), Max: op.Bound(1),
				Doc: "Estimated Jaccard similarity at or above which a row is a duplicate. Also picks bands x rows, minimising " +
					"fp_weight*false positives + (1-fp_weight)*false negatives of the LSH curve, unless bands/rows are set."},
			{Name: FieldFPWeight, Kind: op.Float, Default: DefaultFPWeight, Min: op.Bound(0), Max: op.Bound(1),
				Doc: "Weight of LSH false positives (pairs below threshold that become candidates) against false negatives " +
					"(pairs above it that never meet) when bands x rows are chosen. Candidates are confirmed by their estimated " +
					"similarity, so false positives only cost time: the default leans to recall (12 bands x 10 rows at 0.8, 128 permutations)."},
			{Name: FieldBands, Kind: op.Int, Min: op.Bound(1), Max: op.Bound(1024),
				Doc: "LSH bands; with rows, overrides the choice from threshold (bands*rows <= num_perm). Given alone, rows = num_perm/bands."},
			{Name: FieldRows, Kind: op.Int, Min: op.Bound(1), Max: op.Bound(1024),
				Doc: "Signature rows per band; given alone, bands = num_perm/rows."},
			{Name: FieldID, Kind: op.String, Example: "id",
				Doc: "Column naming rows in dup_of. Without it a row is named by its position SEQ:ROW (batch and row in batch), which depends on batching."},
			{Name: FieldAgainst, Kind: op.Strings, Example: []string{"../previous/output.parquet"},
				Doc: "Earlier datasets (files, globs or save_to_disk folders in any format load reads: JSONL, Parquet, CSV, Arrow, " +
					"optionally .gz/.zst; relative to the recipe) that new rows are deduplicated against: they are indexed first, with the " +
					"same key (and id) columns, and never emitted. Their rows are named by the id column or FILE:N (N counts the file's rows from 1)."},
		},
		Example: `dedup:
  op: dedup
  input: programs
  key: code
  method: minhash
  normalize: code
  shingle: code
  threshold: 0.8
  id: id
`,
		New: func() op.Planner { return &Dedup{} },
	})
}

// Dedup is the config and state of a dedup step.
type Dedup struct {
	Key            string        `yaml:"key"`
	Method         string        `yaml:"method"`
	Normalize      string        `yaml:"normalize"`
	ReplaceNumbers bool          `yaml:"replace_numbers"`
	Shingle        string        `yaml:"shingle"`
	NGram          int           `yaml:"ngram"`
	NumPerm        int           `yaml:"num_perm"`
	Threshold      float64       `yaml:"threshold"`
	Bands          int           `yaml:"bands"`
	Rows           int           `yaml:"rows"`
	FPWeight       *float64      `yaml:"fp_weight"`
	ID             string        `yaml:"id"`
	Against        op.StringList `yaml:"against"`

	// Resolved at Plan.
	method      index.Method
	normMode    norm.Mode
	shingle     minhash.Shingle
	perms       *minhash.Perms
	againstPats []string

	// Run state.
	mu      sync.Mutex
	ix      *index.Index
	ready   bool     // against loaded and pending deltas applied
	pending [][]byte // deltas restored before the index was ready
	delta   index.Delta
	workers []*worker
	feat    features
	seen    []uint32
	idBuf   []byte
	sig16   []uint16
	logf    func(string, ...any)
}

var (
	_ op.Processor     = (*Dedup)(nil)
	_ op.Sequential    = (*Dedup)(nil)
	_ op.Checkpointer  = (*Dedup)(nil)
	_ op.Opener        = (*Dedup)(nil)
	_ op.Fingerprinter = (*Dedup)(nil)
	_ op.Closer        = (*Dedup)(nil)
)

// Sequential marks dedup as processed one batch at a time, in stream order.
func (d *Dedup) Sequential() {}

func (d *Dedup) fillDefaults() {
	if d.Method == "" {
		d.Method = DefaultMethod
	}
	if d.Normalize == "" {
		d.Normalize = DefaultNormalize
	}
	if d.Shingle == "" {
		d.Shingle = DefaultShingle
	}
	if d.NGram == 0 {
		d.NGram = DefaultNGram
	}
	if d.NumPerm == 0 {
		d.NumPerm = DefaultNumPerm
	}
	if d.Threshold == 0 {
		d.Threshold = DefaultThreshold
	}
}

// Plan checks the config against the input columns and picks the LSH shape.
func (d *Dedup) Plan(p op.PlanContext, in *arrow.Schema) *arrow.Schema {
	d.fillDefaults()
	bad := false
	errf := func(field, format string, args ...any) {
		p.Errorf(field, format, args...)
		bad = true
	}
	if in == nil {
		errf("", "dedup needs an input step")
		return nil
	}
	if idx := in.FieldIndices(d.Key); len(idx) == 0 {
		errf(FieldKey, "no column %q in the input (columns: %s)", d.Key, columnNames(in))
	} else if t := in.Field(idx[0]).Type.ID(); t != arrow.STRING && t != arrow.LARGE_STRING {
		errf(FieldKey, "column %q is %s; dedup keys must be string or json columns", d.Key, op.TypeName(in.Field(idx[0])))
	}
	if d.ID != "" && len(in.FieldIndices(d.ID)) == 0 {
		errf(FieldID, "no column %q in the input (columns: %s)", d.ID, columnNames(in))
	}
	switch d.Method {
	case MethodExact:
		d.method = index.Exact
		for _, f := range []string{FieldShingle, FieldNGram, FieldNumPerm, FieldThreshold, FieldBands, FieldRows, FieldFPWeight} {
			if p.Has(f) {
				p.Warnf(f, "%s is only used by method: minhash", f)
			}
		}
	case MethodMinHash:
		d.method = index.MinHash
	default:
		errf(FieldMethod, "unknown method %q (exact or minhash)", d.Method)
	}
	var ok bool
	if d.normMode, ok = norm.Modes[d.Normalize]; !ok {
		errf(FieldNormalize, "unknown normalize %q (none, whitespace, code or text)", d.Normalize)
	}
	if d.shingle, ok = minhash.Shingles[d.Shingle]; !ok {
		errf(FieldShingle, "unknown shingle %q (word, char or code)", d.Shingle)
	}
	if d.NGram < 1 {
		errf(FieldNGram, "ngram must be at least 1")
	}
	if d.NumPerm < 8 || d.NumPerm > 1024 {
		errf(FieldNumPerm, "num_perm must be between 8 and 1024")
	}
	if d.Threshold <= 0 || d.Threshold > 1 {
		errf(FieldThreshold, "threshold must be in (0, 1]")
	}
	if d.method == index.MinHash && !bad {
		switch {
		case d.Bands > 0 && d.Rows > 0:
			if d.Bands*d.Rows > d.NumPerm {
				errf(FieldBands, "bands*rows = %d*%d = %d exceeds num_perm %d", d.Bands, d.Rows, d.Bands*d.Rows, d.NumPerm)
			}
		case d.Bands > 0:
			d.Rows = d.NumPerm / d.Bands
			if d.Rows == 0 {
				errf(FieldBands, "bands %d exceeds num_perm %d", d.Bands, d.NumPerm)
			}
		case d.Rows > 0:
			d.Bands = d.NumPerm / d.Rows
			if d.Bands == 0 {
				errf(FieldRows, "rows %d exceeds num_perm %d", d.Rows, d.NumPerm)
			}
		default:
			w := DefaultFPWeight
			if d.FPWeight != nil {
				w = *d.FPWeight
			}
			if w < 0 || w > 1 {
				errf(FieldFPWeight, "fp_weight must be between 0 and 1")
				break
			}
			d.Bands, d.Rows = minhash.OptimalBands(d.Threshold, d.NumPerm, w, 1-w)
		}
		d.perms = minhash.NewPerms(d.NumPerm)
	}
	d.againstPats = d.againstPats[:0]
	for i, a := range d.Against {
		if a == "" {
			errf(fmt.Sprintf("%s.%d", FieldAgainst, i), "empty path")
			continue
		}
		if !filepath.IsAbs(a) && p.RecipeDir() != "" {
			a = filepath.Join(p.RecipeDir(), a)
		}
		d.againstPats = append(d.againstPats, a)
	}
	if bad {
		return nil
	}
	return in
}

// LSHShape returns the bands and rows chosen at Plan (0, 0 for exact).
func (d *Dedup) LSHShape() (bands, rows int) {
	if d.method != index.MinHash {
		return 0, 0
	}
	return d.Bands, d.Rows
}

func columnNames(sc *arrow.Schema) string {
	s := ""
	for i, f := range sc.Fields() {
		if i > 0 {
			s += ", "
		}
		s += f.Name
	}
	return s
}

// Open loads the against datasets into the index.
func (d *Dedup) Open(ctx context.Context, rc op.RunContext) error {
	d.logf = rc.Logf
	return d.prepare(ctx, rc.Alloc())
}

// Close releases the index (it lives outside the Go heap).
func (d *Dedup) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ix != nil {
		d.ix.Free()
		d.ix = nil
	}
	d.ready, d.pending = false, nil
	return nil
}

// Fingerprint adds the size and modification time of the against files.
func (d *Dedup) Fingerprint() (string, error) {
	if len(d.againstPats) == 0 {
		return "", nil
	}
	files, err := expandAgainst(d.againstPats)
	if err != nil {
		return "", err
	}
	return fingerprintFiles(files)
}

// Restore rebuilds the index from the deltas of committed batches. The
// deltas are applied after the against datasets are loaded, so the index
// order (and thus every tie) is that of an uninterrupted run.
func (d *Dedup) Restore(deltas [][]byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.ready {
		d.pending = append(d.pending, deltas...)
		return nil
	}
	return d.applyDeltas(deltas)
}

func (d *Dedup) applyDeltas(deltas [][]byte) error {
	for i, b := range deltas {
		if err := d.ix.Apply(b); err != nil {
			return fmt.Errorf("restoring the dedup index from checkpoint delta %d: %w", i, err)
		}
	}
	return nil
}

// Delta returns the kept rows the last batch added to the index.
func (d *Dedup) Delta() ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ix == nil {
		return nil, nil
	}
	return d.ix.Take(&d.delta), nil
}

func (d *Dedup) prepare(ctx context.Context, alloc memory.Allocator) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ready {
		return nil
	}
	if d.method == 0 {
		return fmt.Errorf("dedup: Plan was not called")
	}
	d.ix = index.New(d.method, d.NumPerm, d.Bands)
	if len(d.againstPats) > 0 {
		if err := d.loadAgainst(ctx, alloc); err != nil {
			return err
		}
	}
	if err := d.applyDeltas(d.pending); err != nil {
		return err
	}
	d.pending = nil
	d.ready = true
	return nil
}

// features are the per-row hashes of one batch, computed in parallel.
type features struct {
	n      int
	null   []bool
	hashes []uint64 // exact
	sigs   []uint32 // minhash, n*numPerm
	keys   []uint32 // minhash, n*bands
	gates  []uint32 // minhash
}

func (f *features) reset(n, numPerm, bands int, m index.Method) {
	f.n = n
	f.null = grow(f.null, n)
	if m == index.Exact {
		f.hashes = grow(f.hashes, n)
		return
	}
	f.sigs = grow(f.sigs, n*numPerm)
	f.keys = grow(f.keys, n*bands)
	f.gates = grow(f.gates, n)
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// worker holds one goroutine's scratch space.
type worker struct {
	norm   norm.Normalizer
	hasher minhash.Hasher
	buf    []byte
}

func (d *Dedup) newWorker() *worker {
	w := &worker{}
	w.norm.Mode = d.normMode
	w.norm.ReplaceNumbers = d.ReplaceNumbers
	w.hasher.Perms = d.perms
	w.hasher.Shingle = d.shingle
	w.hasher.NGram = d.NGram
	return w
}

// row computes the features of row i from its key.
func (d *Dedup) row(w *worker, f *features, i int, key string) {
	w.buf = w.norm.Append(w.buf[:0], key)
	if d.method == index.Exact {
		f.hashes[i] = xxh3.Hash(w.buf)
		return
	}
	var gate uint32
	if !d.ReplaceNumbers {
		gate = norm.NumbersHash(w.buf)
	}
	sig := f.sigs[i*d.NumPerm : (i+1)*d.NumPerm]
	w.hasher.Sign(sig, w.hasher.Shingles(w.buf))
	minhash.BandKeys(f.keys[i*d.Bands:(i+1)*d.Bands], sig, d.Rows, gate)
	f.gates[i] = gate
}

// compute fills d.feat for n keys, in parallel over the cores.
func (d *Dedup) compute(ctx context.Context, n int, key func(i int) (string, bool)) error {
	f := &d.feat
	f.reset(n, d.NumPerm, d.Bands, d.method)
	const chunk = 64
	nw := runtime.GOMAXPROCS(0)
	if c := (n + chunk - 1) / chunk; c < nw {
		nw = c
	}
	for len(d.workers) < nw {
		d.workers = append(d.workers, d.newWorker())
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for wi := 0; wi < nw; wi++ {
		wg.Add(1)
		go func(w *worker) {
			defer wg.Done()
			for {
				lo := int(next.Add(chunk)) - chunk
				if lo >= n || ctx.Err() != nil {
					return
				}
				hi := min(lo+chunk, n)
				for i := lo; i < hi; i++ {
					s, ok := key(i)
					f.null[i] = !ok
					if ok {
						d.row(w, f, i, s)
					}
				}
			}
		}(d.workers[wi])
	}
	wg.Wait()
	return ctx.Err()
}

// decision is the outcome for one row.
type decision struct {
	dup bool
	of  int
	sim float64
}

// decide looks row i of d.feat up in the index and, when it is new, adds it
// under id (recording it in the delta when record is set).
func (d *Dedup) decide(i int, id []byte, record bool) decision {
	f := &d.feat
	if d.method == index.Exact {
		if of, ok := d.ix.LookupExact(f.hashes[i]); ok {
			return decision{dup: true, of: of, sim: 1}
		}
		d.ix.AddExact(id, f.hashes[i])
		if record {
			d.delta.AppendExact(id, f.hashes[i])
		}
		return decision{}
	}
	sig := f.sigs[i*d.NumPerm : (i+1)*d.NumPerm]
	keys := f.keys[i*d.Bands : (i+1)*d.Bands]
	if of, sim, ok := d.ix.Best(keys, sig, f.gates[i], d.Threshold, &d.seen); ok {
		return decision{dup: true, of: of, sim: sim}
	}
	sig16 := grow(d.sig16, d.NumPerm)
	d.sig16 = sig16
	minhash.Low16(sig16, sig)
	d.ix.AddMinHash(id, f.gates[i], keys, sig16)
	if record {
		d.delta.AppendMinHash(id, f.gates[i], keys, sig16)
	}
	return decision{}
}

// keyReader returns the key of row i of a string column.
func keyReader(col arrow.Array) (func(i int) (string, bool), error) {
	switch a := col.(type) {
	case *array.String:
		return func(i int) (string, bool) {
			if a.IsNull(i) {
				return "", false
			}
			return a.Value(i), true
		}, nil
	case *array.LargeString:
		return func(i int) (string, bool) {
			if a.IsNull(i) {
				return "", false
			}
			return a.Value(i), true
		}, nil
	}
	return nil, fmt.Errorf("key column is %s, not a string column", col.DataType())
}

// appendID appends the id of row i: the id column's value, or SEQ:ROW.
func appendID(dst []byte, idField arrow.Field, idCol arrow.Array, seq uint64, i int) []byte {
	if idCol != nil && !idCol.IsNull(i) {
		switch a := idCol.(type) {
		case *array.String:
			return append(dst, a.Value(i)...)
		case *array.LargeString:
			return append(dst, a.Value(i)...)
		case *array.Int64:
			return strconv.AppendInt(dst, a.Value(i), 10)
		}
		return op.AppendCellJSON(dst, idField, idCol, i)
	}
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, ':')
	return strconv.AppendInt(dst, int64(i), 10)
}

// Process drops the rows of the batch that duplicate a kept row.
func (d *Dedup) Process(ctx context.Context, b op.Batch) (op.Result, error) {
	if err := d.prepare(ctx, b.Alloc); err != nil {
		return op.Result{}, err
	}
	rec := b.Record
	n := int(rec.NumRows())
	if n == 0 {
		rec.Retain()
		return op.Result{Record: rec}, nil
	}
	sc := rec.Schema()
	ki := sc.FieldIndices(d.Key)
	if len(ki) == 0 {
		return op.Result{}, fmt.Errorf("dedup: batch %d has no column %q", b.Seq, d.Key)
	}
	key, err := keyReader(rec.Column(ki[0]))
	if err != nil {
		return op.Result{}, fmt.Errorf("dedup: batch %d: %w", b.Seq, err)
	}
	var idField arrow.Field
	var idCol arrow.Array
	if d.ID != "" {
		ii := sc.FieldIndices(d.ID)
		if len(ii) == 0 {
			return op.Result{}, fmt.Errorf("dedup: batch %d has no column %q", b.Seq, d.ID)
		}
		idField, idCol = sc.Field(ii[0]), rec.Column(ii[0])
	}
	if err := d.compute(ctx, n, key); err != nil {
		return op.Result{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	keep := make([]bool, n)
	var rejects []op.Reject
	var nulls int64
	for i := 0; i < n; i++ {
		if d.feat.null[i] {
			keep[i] = true
			nulls++
			continue
		}
		d.idBuf = appendID(d.idBuf[:0], idField, idCol, b.Seq, i)
		dec := d.decide(i, d.idBuf, true)
		if !dec.dup {
			keep[i] = true
			continue
		}
		rejects = append(rejects, op.Reject{Row: i, Reason: Reason, Detail: detail(d.ix.ID(dec.of), dec.sim)})
	}
	out, err := op.Filter(b.Alloc, rec, keep)
	if err != nil {
		return op.Result{}, fmt.Errorf("dedup: batch %d: %w", b.Seq, err)
	}
	res := op.Result{Record: out, Rejects: rejects, Counters: map[string]int64{
		"dedup_kept":       int64(n - len(rejects)),
		"dedup_duplicates": int64(len(rejects)),
	}}
	if nulls > 0 {
		res.Counters["dedup_null_keys"] = nulls
	}
	return res, nil
}

// detail formats the ledger detail of a dropped row.
func detail(of string, sim float64) string {
	return "dup_of=" + of + " similarity=" + strconv.FormatFloat(math.Round(sim*1000)/1000, 'f', 3, 64)
}

// IndexedRows returns the number of rows in the index (kept rows and
// against rows).
func (d *Dedup) IndexedRows() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ix == nil {
		return 0
	}
	return d.ix.Len()
}

// IndexBytes estimates the memory of the index.
func (d *Dedup) IndexBytes() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ix == nil {
		return 0
	}
	return d.ix.MemoryBytes()
}
