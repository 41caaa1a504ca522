package load

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/caco-dev/caco/engine/op"
)

// Schema returns the columns that load would read from pattern (a file, a
// glob or a save_to_disk folder, format by extension), learning them as load
// does. Other operators use it at Plan time.
func Schema(pattern string) (*arrow.Schema, error) {
	c := &Config{Path: pattern, ExtraKeys: ExtraIgnore}
	p := &planErrors{}
	sc := c.Plan(p, nil)
	if err := p.err(); err != nil {
		return nil, err
	}
	return sc, nil
}

// ReadFiles reads every row of pattern (a file, a glob or a save_to_disk
// folder, format by extension, columns learned as load does) and calls fn
// with each batch, in order. The record is borrowed: fn must Retain it to
// keep it. Bad rows are skipped (load's rejects are not reported here).
func ReadFiles(ctx context.Context, alloc memory.Allocator, pattern string, fn func(arrow.Record) error) error {
	c := &Config{Path: pattern, ExtraKeys: ExtraIgnore}
	p := &planErrors{}
	c.Plan(p, nil)
	if err := p.err(); err != nil {
		return err
	}
	r := &reader{files: c.files, schema: c.schema, batchSize: c.BatchSize, policy: c.policy(),
		workers: runtime.GOMAXPROCS(0), alloc: alloc, logf: func(string, ...any) {}}
	return r.read(ctx, func(uint64) bool { return true }, func(_ uint64, rec arrow.Record, _ []op.Reject) error {
		if rec == nil {
			return nil
		}
		defer rec.Release()
		return fn(rec)
	})
}

// planErrors is a PlanContext outside a recipe: it collects errors.
type planErrors struct{ errs []string }

func (p *planErrors) Step() string { return "load" }
func (p *planErrors) Errorf(field, format string, args ...any) {
	p.errs = append(p.errs, fmt.Sprintf(format, args...))
}
func (p *planErrors) ErrorAt(field string, _, _ int, format string, args ...any) {
	p.Errorf(field, format, args...)
}
func (p *planErrors) Warnf(string, string, ...any)         {}
func (p *planErrors) Has(string) bool                      { return false }
func (p *planErrors) RecipeDir() string                    { return "" }
func (p *planErrors) Model(string) (*op.ModelConfig, bool) { return nil, false }
func (p *planErrors) ModelNames() []string                 { return nil }
func (p *planErrors) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	return errors.New(strings.Join(p.errs, "; "))
}
