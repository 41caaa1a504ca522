package core

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/caco-dev/caco/engine/op"
)

// Limit passes the first N rows of the stream and rejects the rest.
type Limit struct {
	N int64 `yaml:"n"`

	seen    int64 // rows passed so far
	lastOut int64 // rows passed by the last Process call
}

// ReasonLimit is the reject reason for rows past the limit.
const ReasonLimit = "over limit"

var (
	_ op.Processor    = (*Limit)(nil)
	_ op.Sequential   = (*Limit)(nil)
	_ op.Checkpointer = (*Limit)(nil)
)

func init() {
	op.Register(op.Spec{
		Name:    "limit",
		Summary: "Pass the first n rows in stream order.",
		Doc: "Rows after the first n are rejected with reason \"" + ReasonLimit + "\". The count survives a resume. " +
			"After a fan-in (inputs: [a, b]) the first rows are those of the batches with the lowest ids: batches of the source " +
			"declared first in the recipe file come first, and rows of one batch reaching the step through several inputs " +
			"follow the order of inputs:.",
		Fields: []op.Field{
			{Name: "n", Kind: op.Int, Required: true, Min: op.Bound(0), Doc: "How many rows to pass."},
		},
		Example: "first100:\n  op: limit\n  input: seeds\n  n: 100\n",
		New:     func() op.Planner { return &Limit{} },
	})
}

func (l *Limit) Sequential() {}

func (l *Limit) Plan(p op.PlanContext, in *arrow.Schema) *arrow.Schema { return in }

func (l *Limit) Process(ctx context.Context, b op.Batch) (op.Result, error) {
	n := b.Record.NumRows()
	take := l.N - l.seen
	if take < 0 {
		take = 0
	}
	if take > n {
		take = n
	}
	l.seen += take
	l.lastOut = take
	var rejects []op.Reject
	for i := take; i < n; i++ {
		rejects = append(rejects, op.Reject{Row: int(i), Reason: ReasonLimit})
	}
	if take == n {
		b.Record.Retain()
		return op.Result{Record: b.Record, Rejects: rejects}, nil
	}
	return op.Result{Record: b.Record.NewSlice(0, take), Rejects: rejects}, nil
}

func (l *Limit) Delta() ([]byte, error) {
	return binary.AppendVarint(nil, l.lastOut), nil
}

func (l *Limit) Restore(deltas [][]byte) error {
	l.seen = 0
	for _, d := range deltas {
		v, n := binary.Varint(d)
		if n <= 0 {
			return fmt.Errorf("limit: corrupt checkpoint delta")
		}
		l.seen += v
	}
	return nil
}

func arrowNewRecord(sc *arrow.Schema, cols []arrow.Array, n int64) arrow.Record {
	return array.NewRecord(sc, cols, n)
}
