package load_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/engine/optest"
)

// The readers never panic and never lose a row: every non-blank JSONL line
// is a row or a reject; CSV and Parquet input gives rows, rejects or an
// error naming the file. Seeds live in testdata/fuzz and run with the
// normal tests; explore with go test ./operators/load -fuzz FuzzJSONL.

// fuzzRead plans and reads data saved as name; it returns the rows, the
// rejects and the error (planning or reading).
func fuzzRead(t *testing.T, name string, data []byte, cfg string) (optest.Output, error) {
	dir := t.TempDir()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	p, _, diags := optest.PlanDiags(t, "load", "path: "+path+"\nbatch_size: 3\n"+cfg, nil)
	if diags.HasErrors() {
		if !strings.Contains(diags.Error(), path) && !strings.Contains(diags.Error(), "empty") {
			t.Errorf("plan error does not name the file: %v", diags)
		}
		return optest.Output{}, diags
	}
	var out optest.Output
	rc := optest.NewRunContext(t, mem)
	rc.NWorker = 2
	err := p.(op.Source).Read(context.Background(), nil, func(_ uint64, rec arrow.Record, rj []op.Reject) error {
		out.Rejects = append(out.Rejects, rj...)
		if rec != nil {
			out.Rows = append(out.Rows, optest.Rows(rec)...)
			rec.Release()
		}
		return nil
	})
	if err != nil && !strings.Contains(err.Error(), path) {
		t.Errorf("read error does not name the file: %v", err)
	}
	return out, err
}

func FuzzJSONL(f *testing.F) {
	f.Add([]byte("{\"a\": 1, \"b\": \"x\"}\n{\"a\": 2.5}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := fuzzRead(t, "f.jsonl", data, "")
		if err != nil {
			return
		}
		lines := 0
		for i, l := range bytes.Split(data, []byte("\n")) {
			if i == 0 {
				l = bytes.TrimPrefix(l, []byte("\xef\xbb\xbf"))
			}
			if len(bytes.TrimSpace(bytes.TrimSuffix(l, []byte("\r")))) > 0 || (len(l) > 0 && l[0] == '{') {
				lines++
			}
		}
		if got := len(out.Rows) + len(out.Rejects); got != lines {
			t.Fatalf("%d lines gave %d rows and %d rejects", lines, len(out.Rows), len(out.Rejects))
		}
	})
}

func FuzzCSV(f *testing.F) {
	f.Add([]byte("a,b\n1,x\n2,\"y\nz\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := fuzzRead(t, "f.csv", data, "")
		if err != nil {
			return
		}
		for _, r := range out.Rejects {
			if r.Data == "" {
				t.Fatalf("reject without data: %+v", r)
			}
		}
	})
}

func FuzzParquet(f *testing.F) {
	good, err := os.ReadFile(fixture(f, "seeds.parquet"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRead(t, "f.parquet", data, "")
	})
}
