package generate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/caco-dev/caco/engine/op"
	"github.com/caco-dev/caco/operators/generate/internal/llm"
)

// runState is what Open acquired.
type runState struct {
	model  *modelHandle
	cache  *llm.Cache    // nil: no cache
	record *llm.Recorder // nil: not recording
	// workers caps the goroutines of one Process call.
	workers int
	budget  *budget
	// refresh: send every request and overwrite its cached reply
	refresh bool
}

// modelHandle is the run-wide client of one model, shared by every step
// that names it (through RunContext.Shared), so the concurrency limit
// holds across steps. Closing it stops the model server it started.
type modelHandle struct {
	name   string
	client *llm.Client
	replay *llm.Replay
	server *llm.Server
	conc   int
}

func (h *modelHandle) Close() error {
	var errs []error
	if h.client != nil {
		errs = append(errs, h.client.Close())
	}
	if h.server != nil {
		errs = append(errs, h.server.Stop())
	}
	return errors.Join(errs...)
}

func openModel(ctx context.Context, rc op.RunContext, m *op.ModelConfig) (*modelHandle, error) {
	h := &modelHandle{name: m.Name, conc: m.Concurrency}
	if h.conc <= 0 {
		h.conc = 64
	}
	// replay is the offline default: a URL or a server, when given, wins,
	// so `--set <model>_url=...` points a replaying recipe at a real server
	if m.Replay != "" && len(m.URLs()) == 0 && m.Serve == nil {
		rp, err := llm.LoadReplay(m.Replay)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", m.Name, err)
		}
		rc.Logf("model %s: replaying %d recorded responses from %s", m.Name, rp.Len(), m.Replay)
		h.replay = rp
		return h, nil
	}
	urls := m.URLs()
	if m.Serve != nil {
		base := m.BaseURL
		if len(m.Endpoints) > 0 {
			return nil, fmt.Errorf("model %s: serve starts one server; use base_url (or nothing), not endpoints", m.Name)
		}
		srv, err := llm.StartServer(ctx, llm.ServeConfig{
			Name:           m.Name,
			Command:        m.Serve.Command,
			Ready:          m.Serve.Ready,
			StartupTimeout: m.Serve.StartupTimeout.D(),
			StopTimeout:    m.Serve.StopTimeout.D(),
			Port:           m.Serve.Port,
			BaseURL:        base,
			LogPath:        filepath.Join(rc.RunDir(), "serve-"+m.Name+".log"),
			Secrets:        secrets(m),
			Logf:           rc.Logf,
		})
		if err != nil {
			return nil, err
		}
		h.server = srv
		urls = []string{srv.BaseURL}
	}
	c, err := llm.New(llm.Config{
		Name: m.Name, Model: m.Model, API: apiOf(m), URLs: urls, APIKey: m.APIKey,
		Concurrency: h.conc, Timeout: m.Timeout.D(), Retries: m.Retries,
		Backoff: m.Backoff.D(), MaxBackoff: m.MaxBackoff.D(),
	})
	if err != nil {
		if h.server != nil {
			h.server.Stop()
		}
		return nil, err
	}
	h.client = c
	return h, nil
}

func secrets(m *op.ModelConfig) []string {
	if m.APIKey == "" {
		return nil
	}
	return []string{m.APIKey}
}

func apiOf(m *op.ModelConfig) string {
	if m.API == "" {
		return llm.APIChat
	}
	return m.API
}

// Open gets the model's shared client (starting its server if it has
// `serve:`), the run's response cache and, with --record, the model's
// record file.
func (g *Generate) Open(ctx context.Context, rc op.RunContext) error {
	if g.plan == nil {
		return fmt.Errorf("generate: Open before a successful Plan")
	}
	m, ok := rc.Model(g.Model)
	if !ok || m == nil {
		return fmt.Errorf("generate: no model %q", g.Model)
	}
	v, err := rc.Shared("model:"+g.Model, func() (any, error) { return openModel(ctx, rc, m) })
	if err != nil {
		return err
	}
	st := &runState{model: v.(*modelHandle), budget: &budget{lim: g.plan.maxFailed}}
	st.workers = st.model.conc
	if st.model.replay != nil {
		st.workers = min(st.workers, 8)
	}
	st.refresh = rc.Flag(FlagRefreshCache) != ""
	if g.Cache && st.model.replay == nil && rc.Flag(FlagNoCache) == "" {
		dir := rc.Flag(FlagCache)
		if dir == "" {
			dir = rc.RunDir()
		}
		if abs, err := filepath.Abs(dir); err == nil {
			dir = abs
		}
		v, err := rc.Shared("llm-cache:"+dir, func() (any, error) { return llm.OpenCache(dir) })
		if err != nil {
			return err
		}
		st.cache = v.(*llm.Cache)
	}
	if dir := rc.Flag(FlagRecord); dir != "" {
		path := llm.RecordFile(dir, g.Model)
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
		v, err := rc.Shared("llm-record:"+path, func() (any, error) { return llm.OpenRecorder(path) })
		if err != nil {
			return err
		}
		st.record = v.(*llm.Recorder)
	}
	g.run = st
	return nil
}

// Close releases nothing of its own: the model client, cache and recorder
// are run-wide and closed by the engine.
func (g *Generate) Close() error { return nil }

// job is one request: a row, a variant, a sample.
type job struct {
	row, variant, sample int
	req                  *llm.Request
	resp                 llm.Response
	err                  *llm.Error // failed: rejected, or deferred when transient
	// parsed values of the parse columns.
	parsed []any
	reject *op.Reject
	// durable waits until the reply is synced in the response cache
	durable func() error
}

type counters struct {
	requests, retries, hits, misses, replayed, promptTok, complTok, failed, truncated atomic.Int64
}

func (c *counters) toMap() map[string]int64 {
	m := map[string]int64{
		CounterRequests: c.requests.Load(), CounterRetries: c.retries.Load(),
		CounterCacheHits: c.hits.Load(), CounterCacheMisses: c.misses.Load(),
		CounterPromptTokens: c.promptTok.Load(), CounterCompletionTokens: c.complTok.Load(),
		CounterFailed: c.failed.Load(), CounterTruncated: c.truncated.Load(),
	}
	if n := c.replayed.Load(); n > 0 {
		m[CounterReplayed] = n
	}
	return m
}

// Process renders the batch's prompts, sends every sample of every
// variant (concurrently, up to the model's concurrency), and returns one
// row per answered sample.
func (g *Generate) Process(ctx context.Context, b op.Batch) (op.Result, error) {
	if g.run == nil {
		return op.Result{}, fmt.Errorf("generate: Process before Open")
	}
	pl := g.plan
	rec := b.Record
	nrows := int(rec.NumRows())
	var rejects []op.Reject
	jobs := make([]*job, 0, nrows*len(pl.variants)*g.N)
	// cache_by: prompt — with a seed, sample k is sent seed + k, and rows
	// with the same prompt share replies. cache_by: row — each row has its
	// own identity (position or id column) in its cache keys, and every
	// request a seed derived from the identity, the variant and the sample.
	var seedParams []json.RawMessage
	if g.Seed != nil && !pl.byRow {
		for k := 0; k < g.N; k++ {
			p, err := g.paramsWithSeed(*g.Seed + int64(k))
			if err != nil {
				return op.Result{}, err
			}
			seedParams = append(seedParams, p)
		}
	}
	var idCol arrow.Array
	var idField arrow.Field
	if pl.idCol >= 0 {
		idCol, idField = rec.Column(pl.idCol), rec.Schema().Field(pl.idCol)
	}
	for i := 0; i < nrows; i++ {
		row := templateRow(rec, i)
		for vi := range pl.variants {
			v := &pl.variants[vi]
			if pl.hasVar {
				row[g.VariantColumn] = v.name
			}
			base, err := g.render(v, row)
			if nulls := nullColumns(v.cols, row); len(nulls) > 0 && (err != nil || printsNoValue(base)) {
				rejects = append(rejects, op.Reject{Row: i, Reason: ReasonNullInPrompt,
					Detail: fmt.Sprintf("%scolumn %s is null and the prompt does not say what to write instead (e.g. {{or .%s \"none\"}})", g.where(-1, v.name), strings.Join(nulls, ", "), nulls[0])})
				continue
			}
			if err != nil {
				rejects = append(rejects, op.Reject{Row: i, Reason: ReasonTemplateError, Detail: g.where(-1, v.name) + err.Error()})
				continue
			}
			var identity string
			if pl.byRow {
				if idCol != nil {
					identity = "id:" + string(op.AppendCellJSON(nil, idField, idCol, i))
				} else {
					identity = fmt.Sprintf("pos:%d:%d", b.Seq, i)
				}
			}
			for k := 0; k < g.N; k++ {
				req := *base
				req.Sample = k
				switch {
				case pl.byRow:
					req.Row = identity
					p, err := g.paramsWithSeed(g.rowSeed(identity, v.name, k))
					if err != nil {
						return op.Result{}, err
					}
					req.Params = p
				case seedParams != nil:
					req.Params = seedParams[k]
				}
				jobs = append(jobs, &job{row: i, variant: vi, sample: k, req: &req})
			}
		}
	}

	var cnt counters
	if err := g.runJobs(ctx, jobs, &cnt); err != nil {
		var be *budgetError
		if errors.As(err, &be) {
			rows := map[int]bool{}
			for _, j := range jobs {
				if j.err != nil && j.err.Transient {
					rows[j.row] = true
				}
			}
			be.waiting = g.run.budget.addWaiting(len(rows))
		}
		return op.Result{}, err
	}

	// Classify.
	var keep []*job
	var deferred []op.Deferral
	waits := map[int]bool{}
	for _, j := range jobs {
		vname := pl.variants[j.variant].name
		switch {
		case j.err != nil && j.err.Transient:
			if !waits[j.row] {
				waits[j.row] = true
				deferred = append(deferred, op.Deferral{Row: j.row, Reason: DeferUnavailable, Detail: g.where(j.sample, vname) + j.err.Error()})
			}
			continue
		case j.err != nil:
			cnt.failed.Add(1)
			rejects = append(rejects, op.Reject{Row: j.row, Reason: ReasonLLMError, Detail: g.where(j.sample, vname) + j.err.Error()})
			continue
		case j.resp.FinishReason == "length" && !g.KeepTruncated:
			rejects = append(rejects, op.Reject{Row: j.row, Reason: ReasonTruncated,
				Detail: fmt.Sprintf("%sreply cut off at max_tokens after %d completion tokens: %q", g.where(j.sample, vname), j.resp.CompletionTokens, llm.Shorten(j.resp.Text, 200))})
			continue
		case j.resp.FinishReason == "content_filter" || j.resp.FinishReason == "abort":
			reason := ReasonContentFilter
			if j.resp.FinishReason == "abort" {
				reason = ReasonAborted
			}
			rejects = append(rejects, op.Reject{Row: j.row, Reason: reason,
				Detail: fmt.Sprintf("%sfinish_reason %s: %q", g.where(j.sample, vname), j.resp.FinishReason, llm.Shorten(j.resp.Text, 200))})
			continue
		}
		if pl.parseRe != nil || pl.jsonCols != nil {
			vals, err := g.parse(j.resp.Text)
			if err != nil {
				rejects = append(rejects, op.Reject{Row: j.row, Reason: ReasonParseError,
					Detail: fmt.Sprintf("%s%v; reply: %q", g.where(j.sample, vname), err, llm.Shorten(j.resp.Text, 200))})
				continue
			}
			j.parsed = vals
		}
		keep = append(keep, j)
	}
	if len(deferred) > 0 {
		// no verdict for this batch: the engine does not commit it
		g.run.budget.addWaiting(len(deferred))
		return op.Result{Deferred: deferred, Counters: cnt.toMap()}, nil
	}
	res := op.Result{Rejects: rejects, Counters: cnt.toMap()}
	if len(keep) == 0 {
		return res, nil
	}
	out, err := g.build(b, keep)
	if err != nil {
		return op.Result{}, err
	}
	res.Record = out
	return res, nil
}

// paramsWithSeed is the step's parameters with seed set.
func (g *Generate) paramsWithSeed(seed int64) (json.RawMessage, error) {
	params := make(map[string]any, len(g.plan.params)+1)
	for key, val := range g.plan.params {
		params[key] = val
	}
	params[fSeed] = seed
	return llm.CanonicalParams(params)
}

// rowSeed derives a request's seed from the step's seed (0 when unset), the
// row's identity, the variant and the sample index: a non-negative 31-bit
// integer, which every server takes.
func (g *Generate) rowSeed(identity, variant string, sample int) int64 {
	var base int64
	if g.Seed != nil {
		base = *g.Seed
	}
	h := sha256.New()
	fmt.Fprintf(h, "caco-seed-v1\x00%d\x00%s\x00%s\x00%d", base, identity, variant, sample)
	var sum [32]byte
	h.Sum(sum[:0])
	return int64(binary.BigEndian.Uint32(sum[:4]) >> 1)
}

// nullColumns returns the columns of cols that are null in row.
func nullColumns(cols []string, row map[string]any) []string {
	var out []string
	for _, c := range cols {
		if v, ok := row[c]; ok && v == nil {
			out = append(out, c)
		}
	}
	return out
}

// printsNoValue reports whether a rendered request shows text/template's
// "<no value>", which is what printing a null gives.
func printsNoValue(req *llm.Request) bool {
	if req == nil {
		return false
	}
	if strings.Contains(req.Prompt, "<no value>") {
		return true
	}
	for _, m := range req.Messages {
		if strings.Contains(m.Content, "<no value>") {
			return true
		}
	}
	return false
}

// where starts a reject detail: "sample k variant v: ".
func (g *Generate) where(sample int, variant string) string {
	var parts []string
	if sample >= 0 {
		parts = append(parts, fmt.Sprintf("sample %d", sample))
	}
	if g.plan.hasVar {
		parts = append(parts, "variant "+variant)
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, " ") + ": "
}

var renderBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func execTemplate(v *compiledVariant, i int, row map[string]any) (string, error) {
	buf := renderBufs.Get().(*bytes.Buffer)
	defer renderBufs.Put(buf)
	buf.Reset()
	t := v.prompt
	if i >= 0 {
		t = v.messages[i]
	}
	if err := t.Execute(buf, row); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// render builds a variant's request (sample 0, parameters without seed).
func (g *Generate) render(v *compiledVariant, row map[string]any) (*llm.Request, error) {
	pl := g.plan
	req := &llm.Request{API: pl.api, Model: pl.model, Params: pl.paramsJSON}
	if v.prompt != nil {
		text, err := execTemplate(v, -1, row)
		if err != nil {
			return nil, err
		}
		if pl.api == llm.APIChat {
			req.Messages = []llm.Message{{Role: "user", Content: text}}
		} else {
			req.Prompt = text
		}
		return req, nil
	}
	for i := range v.messages {
		text, err := execTemplate(v, i, row)
		if err != nil {
			return nil, err
		}
		req.Messages = append(req.Messages, llm.Message{Role: v.roles[i], Content: text})
	}
	return req, nil
}

// runJobs answers every job: from replay, cache or the server. It returns
// an error only for failures of the run (context ended, replay miss, cache
// I/O, the server down or over its error budget); a failed request is left
// in job.err. Jobs run concurrently, but the error returned is always that
// of the lowest job (row, variant, sample) that failed: once job i failed,
// jobs after i are skipped while jobs before it still run, and jobs are
// taken in order, so every job before the lowest failure has run.
func (g *Generate) runJobs(ctx context.Context, jobs []*job, cnt *counters) error {
	if len(jobs) == 0 {
		return nil
	}
	var next atomic.Int64
	var lowest atomic.Int64
	lowest.Store(math.MaxInt64)
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	workers := min(len(jobs), max(1, g.run.workers))
	prog := newJobProgress(ctx, jobs, g.run.model.conc)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(len(jobs)) || i > lowest.Load() || ctx.Err() != nil {
					return
				}
				err := g.answer(ctx, jobs[i], cnt)
				prog.done(jobs[i])
				if err != nil {
					errs[i] = err
					for {
						cur := lowest.Load()
						if i >= cur || lowest.CompareAndSwap(cur, i) {
							break
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	// every reply is durable in the cache before the batch's rows are used
	// (and even when the batch fails: what was answered is kept)
	var cacheErr error
	for _, j := range jobs {
		if j.durable != nil {
			if err := j.durable(); err != nil && cacheErr == nil {
				cacheErr = err
			}
			j.durable = nil
		}
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return cacheErr
}

func (g *Generate) answer(ctx context.Context, j *job, cnt *counters) error {
	st := g.run
	req := j.req
	if st.model.replay != nil {
		resp, err := st.model.replay.Get(req)
		if err != nil {
			return fmt.Errorf("step generate, model %s: %w", st.model.name, err)
		}
		cnt.replayed.Add(1)
		g.account(j, resp, cnt)
		return g.recordResp(req, resp)
	}
	var key llm.Key
	if st.cache != nil {
		key = req.Key()
		resp, hit, err := st.cache.Get(key)
		if err != nil {
			return err
		}
		if hit && !st.refresh {
			cnt.hits.Add(1)
			op.ProgressFrom(ctx).Count(CounterCacheHits, 1)
			g.account(j, resp, cnt)
			return g.recordResp(req, resp)
		}
		cnt.misses.Add(1)
	}
	resp, stats, err := complete(ctx, st.model.client, req)
	cnt.requests.Add(int64(stats.Attempts))
	cnt.retries.Add(int64(stats.Retries))
	if err != nil {
		var le *llm.Error
		if !errors.As(err, &le) {
			return err // the context ended, or the server is down from the start
		}
		j.err = le
		if over, failed, n := st.budget.add(le.Transient); over {
			return &budgetError{model: st.model.name, lim: st.budget.lim, failed: failed, n: n, last: le.Error()}
		}
		return nil
	}
	st.budget.add(false)
	if st.cache != nil {
		wait, err := st.cache.Put(key, resp)
		if err != nil {
			return err
		}
		j.durable = wait
	}
	g.account(j, resp, cnt)
	return g.recordResp(req, resp)
}

// budgetError stops the run when transient failures pass max_failed.
type budgetError struct {
	model     string
	lim       limit
	failed, n int
	last      string
	waiting   int64
}

func (e *budgetError) Error() string {
	return fmt.Sprintf("model %s: %d of the last %d requests failed on transient errors, more than max_failed %s allows (last: %s); %d rows of this step are waiting: run the same command again to resume once the server is healthy",
		e.model, e.failed, e.n, e.lim.text, e.last, e.waiting)
}

func (g *Generate) account(j *job, resp llm.Response, cnt *counters) {
	j.resp = resp
	cnt.promptTok.Add(int64(resp.PromptTokens))
	cnt.complTok.Add(int64(resp.CompletionTokens))
	if resp.FinishReason == "length" {
		cnt.truncated.Add(1)
	}
}

func (g *Generate) recordResp(req *llm.Request, resp llm.Response) error {
	if g.run.record == nil {
		return nil
	}
	return g.run.record.Write(req, resp)
}

// parse reads a reply into the values of the parse columns.
func (g *Generate) parse(text string) ([]any, error) {
	pl := g.plan
	if pl.parseRe != nil {
		m := pl.parseRe.FindStringSubmatchIndex(text)
		if m == nil {
			return nil, fmt.Errorf("parse: the reply does not match %s", pl.parseRe)
		}
		vals := make([]any, len(pl.groups))
		for k, gi := range pl.groupIdx {
			if m[2*gi] >= 0 {
				vals[k] = text[m[2*gi]:m[2*gi+1]]
			}
		}
		return vals, nil
	}
	obj, err := jsonObject(text)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if pl.jsonRaw {
		return []any{json.RawMessage(obj)}, nil
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(obj))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	vals := make([]any, len(pl.jsonCols))
	for k, f := range pl.jsonCols {
		v, ok := m[f.Name]
		if !ok || v == nil {
			continue
		}
		if op.TypeName(f) == op.TypeJSON {
			b, _ := json.Marshal(v)
			vals[k] = json.RawMessage(b)
			continue
		}
		if err := fits(op.TypeName(f), v); err != nil {
			return nil, fmt.Errorf("parse: key %q: %w", f.Name, err)
		}
		vals[k] = v
	}
	return vals, nil
}

// fits checks that a decoded JSON value (numbers as json.Number) can go in
// a column of type typ.
func fits(typ string, v any) error {
	switch typ {
	case op.TypeString:
		if _, ok := v.(string); ok {
			return nil
		}
	case op.TypeBool:
		if _, ok := v.(bool); ok {
			return nil
		}
	case op.TypeInt:
		if n, ok := v.(json.Number); ok {
			if _, err := n.Int64(); err == nil {
				return nil
			}
		}
	case op.TypeFloat:
		if n, ok := v.(json.Number); ok {
			if _, err := n.Float64(); err == nil {
				return nil
			}
		}
	default:
		return nil
	}
	b, _ := json.Marshal(v)
	return fmt.Errorf("want %s, got %s", typ, llm.Shorten(string(b), 60))
}

// jsonObject finds the JSON object in a reply: the whole text, or the
// inside of a ```json fence, or from the first { to the last }.
func jsonObject(text string) ([]byte, error) {
	s := strings.TrimSpace(text)
	if i := strings.Index(s, "```"); i >= 0 {
		rest := s[i+3:]
		if nl := strings.IndexByte(rest, '\n'); nl >= 0 {
			rest = rest[nl+1:]
		}
		if j := strings.Index(rest, "```"); j >= 0 {
			s = strings.TrimSpace(rest[:j])
		}
	}
	if !strings.HasPrefix(s, "{") {
		i, j := strings.IndexByte(s, '{'), strings.LastIndexByte(s, '}')
		if i < 0 || j < i {
			return nil, errors.New("no JSON object in the reply")
		}
		s = s[i : j+1]
	}
	var v map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("the reply is not a JSON object: %v", err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(s)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// build makes the output record: the input rows of the kept jobs (repeated
// per sample and variant) plus the added columns.
func (g *Generate) build(b op.Batch, keep []*job) (arrow.Record, error) {
	pl := g.plan
	idx := make([]int, len(keep))
	for i, j := range keep {
		idx[i] = j.row
	}
	taken, err := op.Take(b.Alloc, b.Record, idx)
	if err != nil {
		return nil, err
	}
	defer taken.Release()
	builders := make([]*op.ValueBuilder, len(pl.added))
	for k, f := range pl.added {
		builders[k] = op.NewValueBuilder(b.Alloc, f)
		defer builders[k].Release()
	}
	for _, j := range keep {
		k := 0
		app := func(v any) error {
			err := builders[k].Append(v)
			if err != nil {
				builders[k].AppendNull()
				err = fmt.Errorf("column %s: %w", pl.added[k].Name, err)
			}
			k++
			return err
		}
		var errs []error
		if pl.hasVar {
			errs = append(errs, app(pl.variants[j.variant].name))
		}
		if g.N > 1 {
			errs = append(errs, app(j.sample))
		}
		errs = append(errs, app(j.resp.Text))
		if pl.parseRe != nil || pl.jsonCols != nil {
			for _, v := range j.parsed {
				errs = append(errs, app(v))
			}
		}
		errs = append(errs, app(j.resp.FinishReason), app(j.resp.PromptTokens), app(j.resp.CompletionTokens))
		if err := errors.Join(errs...); err != nil {
			// parse checked the parsed values against their types.
			return nil, fmt.Errorf("building generate output: %w", err)
		}
	}
	cols := make([]arrow.Array, len(builders))
	for k, bld := range builders {
		cols[k] = bld.NewArray()
		defer cols[k].Release()
	}
	return op.WithColumns(taken, pl.added, cols), nil
}
