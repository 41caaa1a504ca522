package op

import (
	"fmt"
	"github.com/caco-dev/caco/engine/diag"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/types"
	"github.com/expr-lang/expr/vm"
)

// Expression is an expr-lang program compiled once, at validation, against
// the typed columns of a step's input. Evaluate it with an Evaluator, one per
// goroutine.
type Expression struct {
	Source  string
	Program *vm.Program
	// Columns are the input columns the expression reads.
	Columns []string
	// Type is the static result type (interface{} when unknown).
	Type reflect.Type
}

// ExprEnv returns the typed environment for a schema: each column is a
// variable of its Go type (string, int, float64, bool), JSON and nested
// columns are untyped.
func ExprEnv(sc *arrow.Schema) types.Map {
	env := types.Map{}
	if sc == nil {
		return env
	}
	for _, f := range sc.Fields() {
		switch TypeName(f) {
		case TypeString:
			env[f.Name] = types.String
		case TypeInt:
			env[f.Name] = types.Int
		case TypeFloat:
			env[f.Name] = types.Float64
		case TypeBool:
			env[f.Name] = types.Bool
		default:
			env[f.Name] = types.Any
		}
	}
	return env
}

var unknownName = regexp.MustCompile(`unknown name ([A-Za-z_][A-Za-z0-9_]*)`)

// CompileExpr compiles src, the value of field, against the input schema.
// With asBool the result must be a boolean. Errors are reported through p at
// their position inside the expression; it returns nil after an error.
func CompileExpr(p PlanContext, field, src string, in *arrow.Schema, asBool bool) *Expression {
	if strings.TrimSpace(src) == "" {
		p.Errorf(field, "empty expression")
		return nil
	}
	env := ExprEnv(in)
	opts := append([]expr.Option{expr.Env(env)}, exprNumOptions()...)
	if asBool {
		opts = append(opts, expr.AsBool())
	}
	prog, err := expr.Compile(src, opts...)
	if err != nil {
		var fe *file.Error
		msg := err.Error()
		line, col := 1, 1
		if e, ok := err.(*file.Error); ok {
			fe = e
			msg = fe.Message
			line, col = fe.Line, fe.Column+1
			if line == 0 {
				line = 1
			}
		}
		if m := unknownName.FindStringSubmatch(msg); m != nil {
			var names []string
			for n := range env {
				names = append(names, n)
			}
			sort.Strings(names)
			msg = fmt.Sprintf("no column %q in the input of this step", m[1])
			if c := closest(m[1], names); c != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", c)
			} else if len(names) > 0 {
				msg += fmt.Sprintf(" (columns: %s)", strings.Join(names, ", "))
			}
		}
		p.ErrorAt(field, line, col, "%s", msg)
		return nil
	}
	e := &Expression{Source: src, Program: prog, Type: prog.Node().Type()}
	seen := map[string]bool{}
	node := prog.Node()
	ast.Walk(&node, identVisitor(func(name string) {
		if _, ok := env[name]; ok && !seen[name] {
			seen[name] = true
			e.Columns = append(e.Columns, name)
		}
	}))
	if e.Type == nil {
		e.Type = reflect.TypeOf((*any)(nil)).Elem()
	}
	return e
}

type identVisitor func(string)

func (v identVisitor) Visit(n *ast.Node) {
	if id, ok := (*n).(*ast.IdentifierNode); ok {
		v(id.Value)
	}
}

// ColumnType returns the recipe column type that holds the expression's
// results: string, int, float, bool, or json for anything else.
func (e *Expression) ColumnType() string {
	if e.Type == nil {
		return TypeJSON
	}
	switch e.Type.Kind() {
	case reflect.String:
		return TypeString
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return TypeInt
	case reflect.Float32, reflect.Float64:
		return TypeFloat
	case reflect.Bool:
		return TypeBool
	}
	return TypeJSON
}

// Evaluator runs an Expression over the rows of records. It is not safe for
// concurrent use: make one per goroutine.
type Evaluator struct {
	e      *Expression
	ko     KeyOrder
	vm     vm.VM
	env    map[string]any
	fields []arrow.Field
	cols   []arrow.Array
}

// NewEvaluator makes an evaluator.
func (e *Expression) NewEvaluator() *Evaluator {
	return &Evaluator{e: e, env: make(map[string]any, len(e.Columns))}
}

// Bind points the evaluator at a record; it must have the planned columns.
func (ev *Evaluator) Bind(rec arrow.Record) error {
	ev.fields = ev.fields[:0]
	ev.cols = ev.cols[:0]
	sc := rec.Schema()
	for _, name := range ev.e.Columns {
		idx := sc.FieldIndices(name)
		if len(idx) == 0 {
			return fmt.Errorf("expression %q: column %q missing from batch", ev.e.Source, name)
		}
		ev.fields = append(ev.fields, sc.Field(idx[0]))
		ev.cols = append(ev.cols, rec.Column(idx[0]))
	}
	return nil
}

// Eval evaluates the expression on row i of the bound record.
// JSON values are decoded exactly (see DecodeJSON); the key order of their
// objects stays known to KeyOrder until the next Eval.
func (ev *Evaluator) Eval(i int) (any, error) {
	ev.ko.Reset()
	for k, name := range ev.e.Columns {
		ev.env[name] = ValueOrdered(ev.fields[k], ev.cols[k], i, &ev.ko)
	}
	return ev.vm.Run(ev.e.Program, ev.env)
}

// KeyOrder returns the key order of the objects decoded by the last Eval,
// for ValueBuilder.AppendOrdered.
func (ev *Evaluator) KeyOrder() *KeyOrder { return &ev.ko }

// closest returns the candidate within a plausible typo of s, or "".
func closest(s string, cands []string) string {
	return diag.Closest(s, cands)
}
