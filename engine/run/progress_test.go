package run

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/caco-dev/caco/engine/op"
)

func TestFitAllDropsTheSameColumnsOnEveryLine(t *testing.T) {
	rows := [][]cell{
		{{"▸ generate_step     ", 0}, {"generate ", 5}, {"     120/400", 0}, {"out 100    ", 4}, {"   33/s", 1}, {"req 130/400", 2}, {"retry 2", 6}},
		{{"  save              ", 0}, {"write    ", 5}, {"           0", 0}, {"out 0      ", 4}, {"    0/s", 1}},
	}
	for _, tc := range []struct {
		width      int
		want, gone []string
	}{
		{200, []string{"generate ", "retry 2", "req 130/400"}, nil},
		{80, []string{"req 130/400", "33/s", "out 100"}, []string{"retry 2"}},
		{60, []string{"120/400", "33/s"}, []string{"retry 2", "out 100", "write"}},
		{20, nil, nil},
	} {
		lines := fitAll(rows, tc.width)
		for _, l := range lines {
			if n := utf8.RuneCountInString(l); n >= tc.width {
				t.Errorf("width %d: line of %d columns: %q", tc.width, n, l)
			}
		}
		all := strings.Join(lines, "\n")
		for _, w := range tc.want {
			if !strings.Contains(all, w) {
				t.Errorf("width %d: %q missing from\n%s", tc.width, w, all)
			}
		}
		for _, g := range tc.gone {
			if strings.Contains(all, g) {
				t.Errorf("width %d: %q should be dropped:\n%s", tc.width, g, all)
			}
		}
		// the op column goes on both lines or on neither
		if strings.Contains(lines[0], "generate ") != strings.Contains(lines[1], "write") {
			t.Errorf("width %d: columns differ between lines:\n%s", tc.width, all)
		}
	}
}

func TestBatchProgressCountsRowsOnce(t *testing.T) {
	l := &live{name: "s", op: "generate"}
	bp := l.batchProgress()
	p := op.ProgressFrom(withBatchProgress(context.Background(), bp))
	p.Count(op.ProgressRowsDone, 3)
	p.Count("requests_done", 5)
	p.Gauge("requests_in_flight", 2)
	p.Gauge("requests_in_flight", -1)
	p.SetGauge("concurrency", 64)
	p.Observe("request", 0.15)
	got := l.progress()
	if got.RowsDone != 3 || got.RowsIn != 0 || got.Counters["requests_done"] != 5 || got.Gauges["requests_in_flight"] != 1 || got.Gauges["concurrency"] != 64 {
		t.Fatalf("during the batch: %+v", got)
	}
	if h := got.Latency["request"]; h.N != 1 || h.Counts[7] != 1 { // bounds[7] = 0.2 >= 0.15 > bounds[6]
		t.Errorf("histogram %+v", h)
	}
	// the batch is committed: its rows now count through the commit
	bp.done()
	l.rowsIn += 4
	if got := l.progress(); got.RowsDone != 4 {
		t.Errorf("after the commit rows done = %d, want 4", got.RowsDone)
	}
	if op.ProgressFrom(context.Background()) == nil {
		t.Error("no progress outside the engine must be a no-op, not nil")
	}
}
