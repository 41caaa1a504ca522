package core

import (
	"context"
	"encoding/binary"
	"hash/fnv"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/caco-dev/caco/engine/op"
)

// Sample keeps a seeded pseudo-random fraction of the rows. The decision for
// a row depends only on the seed and the row's identity (its key column, or
// its batch and position), so it is the same on every run, resume and
// worker count.
type Sample struct {
	Fraction float64 `yaml:"fraction"`
	Seed     int64   `yaml:"seed"`
	Key      string  `yaml:"key"`

	keyIdx int
}

// ReasonNotSampled is the reject reason for rows left out.
const ReasonNotSampled = "not sampled"

var _ op.Processor = (*Sample)(nil)

func init() {
	op.Register(op.Spec{
		Name:    "sample",
		Summary: "Keep a seeded random fraction of the rows.",
		Doc: "Each row is kept with probability `fraction`, decided by a hash of `seed` and the row's identity: " +
			"the value of `key` when set, else its batch and position. Rows left out are rejected with reason \"" + ReasonNotSampled + "\".",
		RowLocal: true,
		Fields: []op.Field{
			{Name: "fraction", Kind: op.Float, Required: true, Min: op.Bound(0), Max: op.Bound(1), Doc: "Share of rows to keep, 0..1."},
			{Name: "seed", Kind: op.Int, Default: 0, Doc: "Changes which rows are kept."},
			{Name: "key", Kind: op.String, Doc: "Column whose value identifies a row (stable across reorderings)."},
		},
		Example: "tenth:\n  op: sample\n  input: seeds\n  fraction: 0.1\n  seed: 7\n",
		New:     func() op.Planner { return &Sample{} },
	})
}

func (s *Sample) Plan(p op.PlanContext, in *arrow.Schema) *arrow.Schema {
	s.keyIdx = -1
	if s.Key != "" {
		idx := in.FieldIndices(s.Key)
		if len(idx) == 0 {
			p.Errorf("key", "no column %q in the input", s.Key)
			return nil
		}
		s.keyIdx = idx[0]
	}
	return in
}

func (s *Sample) Process(ctx context.Context, b op.Batch) (op.Result, error) {
	n := int(b.Record.NumRows())
	keep := make([]bool, n)
	var rejects []op.Reject
	var buf []byte
	for i := 0; i < n; i++ {
		h := fnv.New64a()
		buf = binary.LittleEndian.AppendUint64(buf[:0], uint64(s.Seed))
		if s.keyIdx >= 0 {
			buf = op.AppendCellJSON(buf, b.Record.Schema().Field(s.keyIdx), b.Record.Column(s.keyIdx), i)
		} else {
			buf = binary.LittleEndian.AppendUint64(buf, b.Seq)
			buf = binary.LittleEndian.AppendUint64(buf, uint64(i))
		}
		h.Write(buf)
		u := float64(mix(h.Sum64())>>11) / float64(1<<53)
		if u < s.Fraction || s.Fraction >= 1 {
			keep[i] = true
		} else {
			rejects = append(rejects, op.Reject{Row: i, Reason: ReasonNotSampled})
		}
	}
	out, err := op.Filter(b.Alloc, b.Record, keep)
	if err != nil {
		return op.Result{}, err
	}
	return op.Result{Record: out, Rejects: rejects}, nil
}

// mix is a 64-bit finaliser (splitmix64) to spread FNV's low-entropy bits.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
