package generate_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/engine/optest"
	"github.com/caco-dev/caco/operators/generate/llmtest"
)

// The "done when" fault-injection test: 2,000 rows against a server that
// fails 20% of requests with 5xx, 5% with 429 and hangs on 2%. A row whose
// retries run out waits (its batch is deferred, not rejected); processing
// the deferred batches again, as a rerun does, sends exactly the requests
// that failed, until every row is answered exactly once — none lost, none
// duplicated, none rejected — and the retry counts are in the counters.
func TestGenerateFaultInjection(t *testing.T) {
	// With 6 retries nearly every row gets an answer; with 2, about 2% of
	// the rows run out of retries and wait for the next pass.
	for _, retries := range []int{6, 2} {
		t.Run(fmt.Sprintf("retries=%d", retries), func(t *testing.T) { faultInjection(t, retries) })
	}
}

func faultInjection(t *testing.T, retries int) {
	const rows, batch, workers = 2000, 250, 2
	srv := startLLM(t, llmtest.Config{
		Fail5xx: 0.20, Fail429: 0.05, Hang: 0.02, Cut: 0.01,
		RetryAfter: 20 * time.Millisecond, Seed: 7,
		Rules: []llmtest.Rule{{Match: `row (?P<id>\d+)`, Reply: "answer for row {{.Groups.id}}"}},
	})
	mem := checkedMem(t)
	p := mustPlan(t, model(srv.URL(), "completions",
		"concurrency: 64", "timeout: 600ms", fmt.Sprintf("retries: %d", retries), "backoff: 5ms", "max_backoff: 50ms", "max_failed: 50%"),
		"model: m\nprompt: 'row {{.id}}: {{.question}}'\ntemperature: 0\n", inSchema)
	rc := p.runCtx(t, mem)
	proc := p.step.(op.Processor)
	if err := p.step.(op.Opener).Open(bg, rc); err != nil {
		t.Fatal(err)
	}
	defer p.step.(op.Closer).Close()

	var recs []arrow.Record
	for b := 0; b < rows/batch; b++ {
		var lines []string
		for i := b * batch; i < (b+1)*batch; i++ {
			lines = append(lines, fmt.Sprintf(`{"id": %d, "question": "q%d"}`, i, i))
		}
		recs = append(recs, optest.Record(t, mem, inSchema, strings.Join(lines, "\n")))
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()

	// Batches are processed by concurrent workers, as the engine does. A
	// batch with deferred rows is not committed by the engine: it goes
	// into the next pass, as in a rerun of the same command.
	var mu sync.Mutex
	answered := map[int]int{}
	rejected := map[int]int{}
	var rejectList []op.Reject
	counters := map[string]int64{}
	pass := func(batches []int) (again []int, deferredRows int, misses int64) {
		next := make(chan int)
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := range next {
					res, err := proc.Process(bg, op.Batch{Seq: uint64(b), Record: recs[b], Alloc: mem})
					if err != nil {
						t.Error(err)
						continue
					}
					mu.Lock()
					for k, v := range res.Counters {
						counters[k] += v
					}
					misses += res.Counters["cache_misses"]
					if len(res.Deferred) > 0 {
						if res.Record != nil || len(res.Rejects) > 0 {
							t.Errorf("batch %d: deferred rows with a record or rejects", b)
						}
						for _, d := range res.Deferred {
							if d.Reason != "llm_unavailable" || !strings.Contains(d.Detail, fmt.Sprintf("after %d attempt(s)", retries+1)) {
								t.Errorf("deferral %+v", d)
							}
						}
						deferredRows += len(res.Deferred)
						again = append(again, b)
						mu.Unlock()
						continue
					}
					ids := recs[b].Column(0).(*array.Int64)
					for _, rj := range res.Rejects {
						if rj.Reason == "" || rj.Detail == "" || rj.Row < 0 {
							t.Errorf("reject without reason or row: %+v", rj)
							continue
						}
						rejected[int(ids.Value(rj.Row))]++
						rejectList = append(rejectList, rj)
					}
					if res.Record != nil {
						out := res.Record
						oid := out.Column(0).(*array.Int64)
						text := out.Column(out.Schema().FieldIndices("text")[0]).(*array.String)
						for i := 0; i < int(out.NumRows()); i++ {
							id := int(oid.Value(i))
							answered[id]++
							if want := fmt.Sprintf("answer for row %d", id); text.Value(i) != want {
								t.Errorf("row %d: text %q", id, text.Value(i))
							}
						}
						out.Release()
					}
					mu.Unlock()
				}
			}()
		}
		for _, b := range batches {
			next <- b
		}
		close(next)
		wg.Wait()
		return again, deferredRows, misses
	}
	todo := make([]int, len(recs))
	for b := range todo {
		todo[b] = b
	}
	passes, prevDeferred, totalDeferred := 0, 0, 0
	for len(todo) > 0 && passes < 10 {
		again, deferredRows, misses := pass(todo)
		// a rerun sends only what never got an answer: the failed requests
		if passes > 0 && misses != int64(prevDeferred) {
			t.Errorf("pass %d sent %d requests; %d had failed", passes, misses, prevDeferred)
		}
		todo, prevDeferred = again, deferredRows
		totalDeferred += deferredRows
		passes++
	}
	if len(todo) > 0 {
		t.Fatalf("rows still waiting after %d passes", passes)
	}

	for id := 0; id < rows; id++ {
		a, r := answered[id], rejected[id]
		if a+r != 1 {
			t.Errorf("row %d answered %d times, rejected %d times", id, a, r)
		}
	}
	if len(answered)+len(rejected) != rows {
		t.Errorf("%d answered + %d rejected != %d", len(answered), len(rejected), rows)
	}
	st := srv.Stats()
	t.Logf("answered %d, rejected %d after %d passes (%d rows deferred); counters %v; server %+v", len(answered), len(rejected), passes, totalDeferred, counters, st)
	if counters["requests"] != st.Requests {
		t.Errorf("client counted %d requests, server %d", counters["requests"], st.Requests)
	}
	if counters["retries"] != counters["requests"]-counters["cache_misses"] || counters["retries"] == 0 {
		t.Errorf("retries %d, requests %d", counters["retries"], counters["requests"])
	}
	// transient failures are never rejects
	if counters["llm_errors"] != 0 || len(rejected) != 0 || counters["cache_misses"] != rows+int64(totalDeferred) {
		t.Errorf("counters %v", counters)
	}
	if retries == 2 && totalDeferred == 0 {
		t.Error("no row ran out of retries")
	}
	if st.Failed5xx == 0 || st.Failed429 == 0 || st.Hung == 0 {
		t.Errorf("faults not injected: %+v", st)
	}
}
