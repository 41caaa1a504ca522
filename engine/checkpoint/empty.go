package checkpoint

import (
	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

func emptyRecord(sc *arrow.Schema, alloc memory.Allocator) arrow.Record {
	b := array.NewRecordBuilder(alloc, sc)
	defer b.Release()
	return b.NewRecord()
}
