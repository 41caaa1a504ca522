package write_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/caco-dev/caco/engine/optest"
)

// Mostly-distinct columns are written without a dictionary (it would only
// hold memory); columns with repeated values keep one. Small batches keep
// the defaults.
func TestParquetDictionaryChoice(t *testing.T) {
	sc := optest.Schema("id", "int", "status", "string", "code", "string")
	for _, tc := range []struct {
		rows     int
		wantDict map[string]bool
	}{
		{400, map[string]bool{"id": false, "status": true, "code": false}},
		{10, map[string]bool{"id": true, "status": true, "code": true}},
	} {
		t.Run(fmt.Sprint(tc.rows), func(t *testing.T) {
			mem := checked(t)
			var lines []string
			for i := 0; i < tc.rows; i++ {
				lines = append(lines, fmt.Sprintf(`{"id": %d, "status": "s%d", "code": "print(%d)"}`, i, i%3, i))
			}
			rec := optest.Record(t, mem, sc, strings.Join(lines, "\n"))
			defer rec.Release()
			path := filepath.Join(t.TempDir(), "out.parquet")
			p, _ := optest.Plan(t, "write", "path: "+path, sc)
			if got := optest.Run(t, p, mem, nil, rec).Rows; len(got) != tc.rows {
				t.Fatalf("%d rows passed through", len(got))
			}
			r, err := file.OpenParquetFile(path, false)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if n := r.NumRows(); n != int64(tc.rows) {
				t.Fatalf("file has %d rows", n)
			}
			rg := r.MetaData().RowGroup(0)
			for i, name := range []string{"id", "status", "code"} {
				cc, err := rg.ColumnChunk(i)
				if err != nil {
					t.Fatal(err)
				}
				if cc.HasDictionaryPage() != tc.wantDict[name] {
					t.Errorf("column %s: dictionary %v, want %v", name, cc.HasDictionaryPage(), tc.wantDict[name])
				}
			}
		})
	}
}
