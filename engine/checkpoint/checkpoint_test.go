package checkpoint_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/caco-dev/caco/engine/checkpoint"
	"github.com/caco-dev/caco/engine/optest"
)

func TestCommitLoadAndTornFiles(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	st, err := checkpoint.Open(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	info := checkpoint.StepInfo{Fingerprint: "fp1", Op: "map"}
	ss, err := st.Step("s", info)
	if err != nil {
		t.Fatal(err)
	}
	sc := optest.Schema("id", "int", "text", "string")
	rec := optest.Record(t, mem, sc, "{\"id\": 1, \"text\": \"a\"}\n{\"id\": 2, \"text\": null}")
	defer rec.Release()
	ledger := []byte(`{"step":"s","reason":"x"}` + "\n")
	for seq := uint64(0); seq < 3; seq++ {
		c := &checkpoint.Commit{Seq: seq, RowsIn: 2, RowsOut: 2, Rejects: map[string]int64{"x": 1}, Delta: []byte{byte(seq)}}
		if err := ss.Commit(c, rec, ledger); err != nil {
			t.Fatal(err)
		}
	}
	// an empty batch commits without data
	if err := ss.Commit(&checkpoint.Commit{Seq: 3}, nil, nil); err != nil {
		t.Fatal(err)
	}
	// a leftover temporary file and a torn commit (as after a crash of the
	// disk, not of the process: renames are atomic)
	os.WriteFile(filepath.Join(ss.Dir, "b-0000000000000009.commit.tmp"), []byte("partial"), 0o644)
	torn := filepath.Join(ss.Dir, "b-0000000000000002.commit")
	b, _ := os.ReadFile(torn)
	os.WriteFile(torn, b[:len(b)-5], 0o644)
	st.Close()

	// a second open of the same folder while locked fails
	st2, err := checkpoint.Open(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := checkpoint.Open(dir, false); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second open: %v", err)
	}
	ss, err = st2.Step("s", info)
	if err != nil {
		t.Fatal(err)
	}
	if !ss.Reused || len(ss.Done) != 3 || ss.Done[2] != nil {
		t.Fatalf("reused=%v done=%v", ss.Reused, ss.Done)
	}
	if _, err := os.Stat(filepath.Join(ss.Dir, "b-0000000000000009.commit.tmp")); err == nil {
		t.Fatal("temporary file left behind")
	}
	got, err := ss.Load(1, sc, mem)
	if err != nil {
		t.Fatal(err)
	}
	if rows := optest.Rows(got); len(rows) != 2 || rows[1] != `{"id":2,"text":null}` {
		t.Fatalf("loaded %v", rows)
	}
	got.Release()
	empty, err := ss.Load(3, sc, mem)
	if err != nil || empty.NumRows() != 0 {
		t.Fatalf("empty batch: %v", err)
	}
	empty.Release()
	rj, err := ss.Rejects(ss.Done[1])
	if err != nil || string(rj) != string(ledger) {
		t.Fatalf("rejects %q %v", rj, err)
	}
	if d := ss.Done[1].Delta; len(d) != 1 || d[0] != 1 {
		t.Fatalf("delta %v", d)
	}
	// another fingerprint wipes the step
	ss, err = st2.Step("s", checkpoint.StepInfo{Fingerprint: "fp2", Op: "map"})
	if err != nil || ss.Reused || len(ss.Done) != 0 {
		t.Fatalf("after a fingerprint change: reused=%v done=%d err=%v", ss.Reused, len(ss.Done), err)
	}
	st2.Close()
}
