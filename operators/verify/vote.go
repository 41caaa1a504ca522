package verify

import (
	"bytes"
	"context"
	"fmt"
	"strconv"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/operators/verify/mathequiv"
)

// Field names of vote.
const (
	fieldGroupBy      = "group_by"
	fieldAnswer       = "answer"
	fieldMinAgreement = "min_agreement"
	fieldOnlyMajority = "only_majority"
)

// Output columns of vote.
const (
	ColumnMajority  = "majority"
	ColumnAgreement = "agreement"
)

// Reject reasons of vote.
const (
	ReasonLowAgreement = "low_agreement"
	ReasonMinority     = "minority"
)

// Vote finds the majority answer of each group of rows.
//
// Vote is global: rows of a group may be anywhere in the stream, so it
// holds every batch (Process emits nothing) and emits all rows, in stream
// order, from Finish. The held batches are its checkpoint state (each
// Delta is the batch in Arrow IPC form), so a resumed run does not lose
// them. Memory use is the size of the step's input.
type Vote struct {
	GroupBy      op.StringList `yaml:"group_by"`
	Answer       string        `yaml:"answer"`
	MinAgreement float64       `yaml:"min_agreement"`
	OnlyMajority bool          `yaml:"only_majority"`
	Equiv        `yaml:",inline"`

	groupIdx []int
	ansIdx   int
	majField arrow.Field
	out      *arrow.Schema
	alloc    memory.Allocator

	recs []arrow.Record // held batches, in stream order
	last arrow.Record   // the batch of the last Process call, for Delta
}

var (
	_ op.Processor    = (*Vote)(nil)
	_ op.Sequential   = (*Vote)(nil)
	_ op.Finisher     = (*Vote)(nil)
	_ op.Checkpointer = (*Vote)(nil)
	_ op.Opener       = (*Vote)(nil)
	_ op.Closer       = (*Vote)(nil)
)

func init() {
	fields := []op.Field{
		{Name: fieldGroupBy, Kind: op.Strings, Required: true, Doc: "Column(s) whose values define a group (e.g. the problem id of n sampled solutions).", Example: "problem_id"},
		{Name: fieldAnswer, Kind: op.String, Required: true, Doc: "Answer column to vote on.", Example: "answer"},
		{Name: fieldMinAgreement, Kind: op.Float, Default: 0.0, Min: op.Bound(0), Max: op.Bound(1),
			Doc: "Reject every row of a group whose agreement is below this (reason \"" + ReasonLowAgreement + "\")."},
		{Name: fieldOnlyMajority, Kind: op.Bool, Default: false,
			Doc: "Reject the rows whose answer is not equivalent to the majority (reason \"" + ReasonMinority + "\")."},
	}
	op.Register(op.Spec{
		Name:    "vote",
		Summary: "Majority answer per group under the math-answer equivalence.",
		Doc: "Groups rows by group_by and clusters their answers with the same equivalence as `consistency` " +
			"(each answer joins the first cluster whose first answer it equals). The majority is the largest " +
			"cluster (ties: the one seen first). Every row gets `" + ColumnMajority + "` (the majority's first " +
			"answer, same type as the answer column; null when the group has no answer) and `" + ColumnAgreement +
			"` (majority size / group size, rows without an answer included, 0..1). " +
			"vote is global: it holds all rows and emits them, in stream order, after the last batch; rejects made " +
			"then carry the row as JSON.",
		Version: "1",
		Fields:  append(fields, equivFields()...),
		Example: "voted:\n  op: vote\n  input: answers\n  group_by: problem_id\n  answer: answer\n  min_agreement: 0.5\n",
		New: func() op.Planner {
			return &Vote{Equiv: defaultEquiv()}
		},
	})
}

func (v *Vote) Sequential() {}

func (v *Vote) Plan(p op.PlanContext, in *arrow.Schema) *arrow.Schema {
	if len(v.GroupBy) == 0 {
		p.Errorf(fieldGroupBy, "name at least one column")
		return nil
	}
	ok := true
	v.groupIdx = v.groupIdx[:0]
	for _, g := range v.GroupBy {
		idx, found := columnIndex(p, fieldGroupBy, g, in)
		ok = ok && found
		v.groupIdx = append(v.groupIdx, idx)
	}
	ai, found := columnIndex(p, fieldAnswer, v.Answer, in)
	if !ok || !found || !v.Equiv.plan(p) {
		return nil
	}
	af := in.Field(ai)
	switch op.TypeName(af) {
	case op.TypeString, op.TypeJSON, op.TypeInt, op.TypeFloat, op.TypeBool:
	default:
		p.Errorf(fieldAnswer, "column %q has type %s, which cannot hold an answer", af.Name, op.TypeName(af))
		return nil
	}
	v.ansIdx = ai
	md := af.Metadata
	v.majField = arrow.Field{Name: ColumnMajority, Type: af.Type, Nullable: true, Metadata: md}
	v.out = op.SchemaWith(in, v.majField, op.MustField(ColumnAgreement, op.TypeFloat))
	return v.out
}

func (v *Vote) Open(ctx context.Context, rc op.RunContext) error {
	v.alloc = rc.Alloc()
	return v.Equiv.open(ctx, rc)
}

func (v *Vote) Process(ctx context.Context, b op.Batch) (op.Result, error) {
	b.Record.Retain()
	v.recs = append(v.recs, b.Record)
	v.last = b.Record
	return op.Result{}, nil
}

// Delta returns the batch held by the last Process call, in Arrow IPC form.
func (v *Vote) Delta() ([]byte, error) {
	rec := v.last
	v.last = nil
	if rec == nil || rec.NumRows() == 0 {
		return nil, nil
	}
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(rec.Schema()), ipc.WithAllocator(memory.DefaultAllocator))
	if err := w.Write(rec); err != nil {
		return nil, fmt.Errorf("vote: encoding held batch: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("vote: encoding held batch: %w", err)
	}
	return buf.Bytes(), nil
}

// Restore reloads the batches held before a resume.
func (v *Vote) Restore(deltas [][]byte) error {
	alloc := v.alloc
	if alloc == nil {
		alloc = memory.DefaultAllocator
	}
	for _, r := range v.recs {
		r.Release()
	}
	v.recs = nil
	for k, d := range deltas {
		if len(d) == 0 {
			continue
		}
		rd, err := ipc.NewReader(bytes.NewReader(d), ipc.WithAllocator(alloc))
		if err != nil {
			return fmt.Errorf("vote: reading checkpoint delta %d: %w", k, err)
		}
		for rd.Next() {
			rec := rd.Record()
			rec.Retain()
			v.recs = append(v.recs, rec)
		}
		err = rd.Err()
		rd.Release()
		if err != nil {
			return fmt.Errorf("vote: reading checkpoint delta %d: %w", k, err)
		}
	}
	return nil
}

func (v *Vote) Close() error {
	for _, r := range v.recs {
		r.Release()
	}
	v.recs = nil
	v.last = nil
	return nil
}

// member is one row of a group.
type member struct {
	rec, row int
	ans      *mathequiv.Answer
	cluster  int // -1: no answer
}

type group struct {
	members  []*member
	clusters []int // size of each cluster
	reps     []*member
	majority int // cluster index, -1 when none
}

func (v *Vote) Finish(ctx context.Context, alloc memory.Allocator) (op.Result, error) {
	opts := v.Equiv.options(ctx)
	groups := map[string]*group{}
	var order []*group
	var keyBuf []byte
	byRow := make([][]*member, len(v.recs))
	for ri, rec := range v.recs {
		sc := rec.Schema()
		n := int(rec.NumRows())
		byRow[ri] = make([]*member, n)
		af, acol := sc.Field(v.ansIdx), rec.Column(v.ansIdx)
		for i := 0; i < n; i++ {
			keyBuf = keyBuf[:0]
			for _, gi := range v.groupIdx {
				keyBuf = op.AppendCellJSON(keyBuf, sc.Field(gi), rec.Column(gi), i)
				keyBuf = append(keyBuf, 0)
			}
			g := groups[string(keyBuf)]
			if g == nil {
				g = &group{majority: -1}
				groups[string(keyBuf)] = g
				order = append(order, g)
			}
			m := &member{rec: ri, row: i, ans: answerAt(af, acol, i), cluster: -1}
			g.members = append(g.members, m)
			byRow[ri][i] = m
		}
	}
	mgroup := map[*member]*group{}
	for _, g := range order {
		if err := ctx.Err(); err != nil {
			return op.Result{}, err
		}
		for _, m := range g.members {
			mgroup[m] = g
			if m.ans.Empty() {
				continue
			}
			for c, rep := range g.reps {
				if eq, _ := mathequiv.Compare(rep.ans, m.ans, opts); eq {
					m.cluster = c
					g.clusters[c]++
					break
				}
			}
			if m.cluster < 0 {
				m.cluster = len(g.reps)
				g.reps = append(g.reps, m)
				g.clusters = append(g.clusters, 1)
			}
		}
		for c, size := range g.clusters {
			if g.majority < 0 || size > g.clusters[g.majority] {
				g.majority = c
			}
		}
	}
	if v.checker != nil {
		if err := v.checker.err(); err != nil {
			return op.Result{}, err
		}
	}

	var outs []arrow.Record
	defer func() {
		for _, r := range outs {
			r.Release()
		}
	}()
	var rejects []op.Reject
	counters := map[string]int64{"groups": int64(len(order))}
	for ri, rec := range v.recs {
		n := int(rec.NumRows())
		mb := array.NewBuilder(alloc, v.majField.Type)
		fb := array.NewFloat64Builder(alloc)
		keep := make([]bool, n)
		reasons := make([]string, n)
		details := make([]string, n)
		for i := 0; i < n; i++ {
			m := byRow[ri][i]
			g := mgroup[m]
			agreement := 0.0
			if g.majority >= 0 {
				rep := g.reps[g.majority]
				appendCell(mb, v.recs[rep.rec].Column(v.ansIdx), rep.row)
				agreement = float64(g.clusters[g.majority]) / float64(len(g.members))
			} else {
				mb.AppendNull()
			}
			fb.Append(agreement)
			switch {
			case agreement < v.MinAgreement:
				reasons[i] = ReasonLowAgreement
				details[i] = fmt.Sprintf("agreement %s < min_agreement %s", ftoa(agreement), ftoa(v.MinAgreement))
			case v.OnlyMajority && (m.cluster < 0 || m.cluster != g.majority):
				reasons[i] = ReasonMinority
				details[i] = fmt.Sprintf("answer %s, majority %s", clip(m.ans.Norm()), clip(majorityNorm(g)))
			default:
				keep[i] = true
			}
		}
		cols := []arrow.Array{mb.NewArray(), fb.NewArray()}
		mb.Release()
		fb.Release()
		full := op.WithColumns(rec, []arrow.Field{v.majField, op.MustField(ColumnAgreement, op.TypeFloat)}, cols)
		cols[0].Release()
		cols[1].Release()
		for i := 0; i < n; i++ {
			if !keep[i] {
				rejects = append(rejects, op.Reject{Row: -1, Reason: reasons[i], Detail: details[i], Data: op.RowJSON(full, i)})
				counters["rejected_"+reasons[i]]++
			}
		}
		kept, err := op.Filter(alloc, full, keep)
		full.Release()
		if err != nil {
			return op.Result{}, fmt.Errorf("vote: %w", err)
		}
		outs = append(outs, kept)
	}
	rec, err := concatRecords(alloc, v.out, outs)
	if err != nil {
		return op.Result{}, err
	}
	return op.Result{Record: rec, Rejects: rejects, Counters: counters}, nil
}

func majorityNorm(g *group) string {
	if g.majority < 0 {
		return ""
	}
	return g.reps[g.majority].ans.Norm()
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', 4, 64) }

// appendCell copies arr[i] to b (same type).
func appendCell(b array.Builder, arr arrow.Array, i int) {
	if arr.IsNull(i) {
		b.AppendNull()
		return
	}
	switch c := arr.(type) {
	case *array.String:
		b.(*array.StringBuilder).Append(c.Value(i))
	case *array.LargeString:
		b.(*array.LargeStringBuilder).Append(c.Value(i))
	case *array.Int64:
		b.(*array.Int64Builder).Append(c.Value(i))
	case *array.Float64:
		b.(*array.Float64Builder).Append(c.Value(i))
	case *array.Boolean:
		b.(*array.BooleanBuilder).Append(c.Value(i))
	default:
		if err := b.AppendValueFromString(arr.ValueStr(i)); err != nil {
			b.AppendNull()
		}
	}
}

// concatRecords joins records of one schema into one; nil when there are
// no rows.
func concatRecords(alloc memory.Allocator, sc *arrow.Schema, recs []arrow.Record) (arrow.Record, error) {
	var nonEmpty []arrow.Record
	rows := int64(0)
	for _, r := range recs {
		if r.NumRows() > 0 {
			nonEmpty = append(nonEmpty, r)
			rows += r.NumRows()
		}
	}
	switch len(nonEmpty) {
	case 0:
		return nil, nil
	case 1:
		nonEmpty[0].Retain()
		return nonEmpty[0], nil
	}
	cols := make([]arrow.Array, sc.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	parts := make([]arrow.Array, len(nonEmpty))
	for c := range cols {
		for k, r := range nonEmpty {
			parts[k] = r.Column(c)
		}
		a, err := array.Concatenate(parts, alloc)
		if err != nil {
			return nil, fmt.Errorf("vote: joining batches: %w", err)
		}
		cols[c] = a
	}
	return array.NewRecord(nonEmpty[0].Schema(), cols, rows), nil
}
