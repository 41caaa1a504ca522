package op

import (
	"context"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/compute"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// takeRecord gathers rows idx of rec into a new record. Strings, integers,
// floats and booleans are copied directly with buffers sized up front (the
// compute kernels grow their output buffers as they go, which dominated
// filter-heavy runs); other types go through Arrow's compute Take.
func takeRecord(alloc memory.Allocator, rec arrow.Record, idx []int) (arrow.Record, error) {
	cols := make([]arrow.Array, rec.NumCols())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	var idxArr arrow.Array
	defer func() {
		if idxArr != nil {
			idxArr.Release()
		}
	}()
	for c := range cols {
		col := rec.Column(c)
		switch a := col.(type) {
		case *array.String:
			b := array.NewStringBuilder(alloc)
			b.Reserve(len(idx))
			size := 0
			for _, i := range idx {
				size += a.ValueLen(i)
			}
			b.ReserveData(size)
			for _, i := range idx {
				if a.IsNull(i) {
					b.AppendNull()
				} else {
					b.Append(a.Value(i))
				}
			}
			cols[c] = b.NewArray()
			b.Release()
		case *array.Int64:
			cols[c] = gather(array.NewInt64Builder(alloc), a, a.Value, idx)
		case *array.Float64:
			cols[c] = gather(array.NewFloat64Builder(alloc), a, a.Value, idx)
		case *array.Boolean:
			cols[c] = gather(array.NewBooleanBuilder(alloc), a, a.Value, idx)
		default:
			if idxArr == nil {
				ib := array.NewInt64Builder(alloc)
				ib.Reserve(len(idx))
				for _, i := range idx {
					ib.UnsafeAppend(int64(i))
				}
				idxArr = ib.NewArray()
				ib.Release()
			}
			ctx := compute.WithAllocator(context.Background(), alloc)
			out, err := compute.TakeArray(ctx, col, idxArr)
			if err != nil {
				return nil, fmt.Errorf("taking rows of column %s: %w", rec.ColumnName(c), err)
			}
			cols[c] = out
		}
	}
	return array.NewRecord(rec.Schema(), cols, int64(len(idx))), nil
}

// fixedBuilder is what gather needs of Arrow's fixed-width builders.
type fixedBuilder[T any] interface {
	Reserve(int)
	AppendNull()
	UnsafeAppend(T)
	NewArray() arrow.Array
	Release()
}

// gather copies rows idx of a fixed-width array into a new array.
func gather[T any](b fixedBuilder[T], a arrow.Array, value func(int) T, idx []int) arrow.Array {
	defer b.Release()
	b.Reserve(len(idx))
	for _, i := range idx {
		if a.IsNull(i) {
			b.AppendNull()
		} else {
			b.UnsafeAppend(value(i))
		}
	}
	return b.NewArray()
}
