package write_test

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/big"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/engine/optest"
	_ "github.com/caco-dev/caco/operators/core"
	_ "github.com/caco-dev/caco/operators/load"
)

var propSeed = flag.Int64("prop.seed", 1, "seed of TestValuesSurvive (0: time-based)")

// genRow returns one random input line and, when caco must keep it, the
// row it must come out as (else the reject reason it must get).
func genRow(r *rand.Rand, id int) (line, want, reason string) {
	var i int64
	switch r.Intn(4) {
	case 0:
		i = []int64{math.MaxInt64, math.MinInt64, 0, -1, 1 << 53, 1<<53 + 1}[r.Intn(6)]
	default:
		i = int64(r.Uint64())
	}
	var f float64
	fText := ""
	switch r.Intn(8) {
	case 0:
		f = []float64{math.Copysign(0, -1), 0, 1, -1, 1e20, 5e-324, math.SmallestNonzeroFloat64 * 3, math.MaxFloat64, 0.1}[r.Intn(9)]
	case 1:
		fText = []string{"NaN", "Infinity", "-Infinity", "1e400"}[r.Intn(4)]
	default:
		for {
			f = math.Float64frombits(r.Uint64())
			if !math.IsNaN(f) && !math.IsInf(f, 0) {
				break
			}
		}
	}
	// a big integer (beyond int64 half of the time) in a json column
	b := new(big.Int).Rand(r, new(big.Int).Lsh(big.NewInt(1), uint(1+r.Intn(120))))
	if r.Intn(2) == 0 {
		b.Neg(b)
	}
	// a string of random code points, sometimes with an escaped lone surrogate
	var sb strings.Builder
	for k := r.Intn(12); k > 0; k-- {
		var c rune
		switch r.Intn(4) {
		case 0:
			c = rune(r.Intn(0x80))
		case 1:
			c = []rune{'\u2028', '\u2029', '"', '\\', '\n', 0, '\ufeff', '😀', 'é', '\U0010FFFF'}[r.Intn(10)]
		default:
			c = rune(r.Intn(0x10FFFF))
		}
		if !utf8.ValidRune(c) {
			c = '?'
		}
		sb.WriteRune(c)
	}
	s := sb.String()
	sJSON := string(op.AppendJSONString(nil, s))
	lone := r.Intn(10) == 0
	if lone {
		sJSON = sJSON[:len(sJSON)-1] + `\udc01"`
	}
	// a nested json value with key order, floats and a big integer
	j := fmt.Sprintf(`{"z":%s,"a":[%s,%s,null,true],"m":{"y":%s,"b":"%d"}}`,
		b, op.AppendJSONFloat(nil, float64(r.Intn(7))), op.AppendJSONFloat(nil, math.Copysign(0, -1)), b, id)

	fIn := fText
	if fIn == "" {
		fIn = string(op.AppendJSONFloat(nil, f))
	}
	line = fmt.Sprintf(`{"id":%d,"i":%d,"f":%s,"s":%s,"b":%s,"j":%s}`, id, i, fIn, sJSON, b, j)
	switch {
	case lone: // checked before the JSON is parsed
		return line, "", "bad_utf8"
	case fText == "1e400": // JSON, but beyond the float64 range
		return line, "", "bad_type"
	case fText != "": // NaN and Infinity are not JSON
		return line, "", "bad_json"
	}
	want = fmt.Sprintf(`{"id":%d,"i":%d,"f":%s,"s":%s,"b":%s,"j":%s}`, id, i, op.AppendJSONFloat(nil, f), sJSON, b, j)
	return line, want, ""
}

// TestValuesSurvive: random int64, big integers, floats (-0.0, subnormals,
// ±Inf, NaN) and unicode go through load → map → filter → write JSONL and
// Parquet → load, and come out unchanged, or are rejected with the reason.
func TestValuesSurvive(t *testing.T) {
	seed := *propSeed
	if seed == 0 {
		seed = rand.Int63()
	}
	t.Logf("seed %d (go test ./operators/write -run TestValuesSurvive -prop.seed %d)", seed, seed)
	r := rand.New(rand.NewSource(seed))
	const n = 400
	var in []string
	want := map[int]string{}
	reasons := map[int]string{}
	for id := 0; id < n; id++ {
		line, w, reason := genRow(r, id)
		in = append(in, line)
		if reason != "" {
			reasons[id] = reason
		} else {
			want[id] = w
		}
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "in.jsonl")
	if err := os.WriteFile(src, []byte(strings.Join(in, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	cols := "columns: [{name: id, type: int}, {name: i, type: int}, {name: f, type: float}, {name: s, type: string}, {name: b, type: json}, {name: j, type: json}]"
	loadP, sc := optest.Plan(t, "load", "path: "+src+"\nbatch_size: 64\n"+cols, nil)
	recs, rejects := readAll(t, loadP, mem)
	defer func() {
		for _, rec := range recs {
			rec.Release()
		}
	}()
	// every dropped line has the reason it must have
	got := map[int]string{}
	for _, rj := range rejects {
		var id int
		fmt.Sscanf(rj.Data, `{"id":%d`, &id)
		got[id] = rj.Reason
	}
	for id, reason := range reasons {
		if got[id] != reason {
			t.Errorf("row %d: reject reason %q, want %q (%s)", id, got[id], reason, in[id])
		}
	}
	if len(rejects) != len(reasons) {
		t.Errorf("%d rejects, want %d", len(rejects), len(reasons))
	}
	// map every column through an expression, then filter on all of them
	mapP, msc := optest.Plan(t, "map", "columns:\n  i: i\n  f: f\n  s: s\n  b: b\n  j: j\n", sc)
	filterP, _ := optest.Plan(t, "filter", "where: i == i && (f == f) && s == s && b == b && j != nil", msc)
	outJSONL, outPQ := filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "out.parquet")
	var writers []op.Planner
	for _, path := range []string{outJSONL, outPQ} {
		w, _ := optest.Plan(t, "write", "path: "+path, msc)
		if err := w.(op.Opener).Open(context.Background(), optest.NewRunContext(t, mem)); err != nil {
			t.Fatal(err)
		}
		writers = append(writers, w)
	}
	for _, rec := range recs {
		m := process(t, mapP, mem, rec)
		f := process(t, filterP, mem, m)
		m.Release()
		for _, w := range writers {
			process(t, w, mem, f).Release()
		}
		f.Release()
	}
	for _, w := range writers {
		if _, err := w.(op.Finisher).Finish(context.Background(), mem); err != nil {
			t.Fatal(err)
		}
		w.(op.Closer).Close()
	}
	for _, path := range []string{outJSONL, outPQ} {
		cfg := "path: " + path
		if path == outJSONL {
			cfg += "\n" + cols
		}
		p, _ := optest.Plan(t, "load", cfg, nil)
		out, _ := optest.ReadSource(t, p, mem, nil, nil)
		if len(out.Rejects) > 0 {
			t.Errorf("%s: rejects on reload: %+v", path, out.Rejects[0])
		}
		if len(out.Rows) != len(want) {
			t.Errorf("%s: %d rows, want %d", path, len(out.Rows), len(want))
		}
		bad := 0
		for _, row := range out.Rows {
			var id int
			fmt.Sscanf(row, `{"id":%d`, &id)
			if row != want[id] && bad < 5 {
				bad++
				t.Errorf("%s: row %d changed:\n got %s\nwant %s", path, id, row, want[id])
			}
		}
	}
}

func readAll(t *testing.T, p op.Planner, mem memory.Allocator) ([]arrow.Record, []op.Reject) {
	var recs []arrow.Record
	var rejects []op.Reject
	err := p.(op.Source).Read(context.Background(), nil, func(_ uint64, rec arrow.Record, rj []op.Reject) error {
		if rec != nil {
			recs = append(recs, rec)
		}
		rejects = append(rejects, rj...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return recs, rejects
}

func process(t *testing.T, p op.Planner, mem memory.Allocator, rec arrow.Record) arrow.Record {
	t.Helper()
	res, err := p.(op.Processor).Process(context.Background(), op.Batch{Record: rec, Alloc: mem})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rejects) > 0 {
		t.Fatalf("%T rejected %+v", p, res.Rejects[0])
	}
	return res.Record
}
