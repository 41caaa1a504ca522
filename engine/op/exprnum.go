package op

import (
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm/runtime"
)

// Exact integer arithmetic in expressions.
//
// expr-lang's int arithmetic wraps around on overflow and its int() turns a
// float beyond the int64 range into an arbitrary number. caco replaces +, -,
// * and unary minus on integers (and on untyped values, such as the contents
// of json columns) by checked versions, and int() by one that refuses values
// it cannot hold: the row fails with an "integer overflow" error, which
// filter and map turn into a reject. Big integers (*big.Int, decoded from
// json columns beyond int64) take part in +, - and *, exactly; results that
// fit in int64 become ints again.

const (
	fnAdd = "_caco_add"
	fnSub = "_caco_sub"
	fnMul = "_caco_mul"
	fnNeg = "_caco_neg"
)

// ErrOverflow is the error of an integer operation whose result int64
// cannot hold.
type ErrOverflow struct{ Op string }

func (e *ErrOverflow) Error() string {
	return "integer overflow in " + e.Op + " (ints are 64-bit; numbers beyond come from json columns as exact big integers)"
}

// operatorSigs are the operand types overloaded, each by a function of its
// own (a function with several signatures would be resolved by expr's
// checker to its first one when an operand is untyped): typed operands keep
// their static result type.
var operatorSigs = []struct {
	suffix string
	sig    any
}{
	{"ii", new(func(int, int) int)},
	{"ff", new(func(float64, float64) float64)},
	{"if", new(func(int, float64) float64)},
	{"fi", new(func(float64, int) float64)},
	{"ss", new(func(string, string) string)},
	{"aa", new(func(any, any) any)},
}

func exprNumOptions() []expr.Option {
	var opts []expr.Option
	for _, o := range []struct {
		op, name string
		fn       func(...any) (any, error)
	}{
		{"+", fnAdd, binary("+", runtime.Add, addInt, (*big.Int).Add)},
		{"-", fnSub, binary("-", runtime.Subtract, subInt, (*big.Int).Sub)},
		{"*", fnMul, binary("*", runtime.Multiply, mulInt, (*big.Int).Mul)},
	} {
		var names []string
		for _, s := range operatorSigs {
			if s.suffix == "ss" && o.op != "+" {
				continue
			}
			name := o.name + "_" + s.suffix
			names = append(names, name)
			opts = append(opts, expr.Function(name, o.fn, s.sig))
		}
		opts = append(opts, expr.Operator(o.op, names...))
	}
	return append(opts,
		expr.Function(fnNeg+"_i", negate, new(func(int) int)),
		expr.Function(fnNeg+"_a", negate, new(func(any) any)),
		expr.Patch(negPatcher{}),
		expr.DisableBuiltin("int"),
		expr.Function("int", toInt, new(func(any) int)),
		expr.DisableBuiltin("string"),
		expr.Function("string", toString, new(func(any) string)),
	)
}

func addInt(a, b int64) (int64, bool) {
	s := a + b
	return s, (a >= 0) == (b >= 0) && (s >= 0) != (a >= 0)
}

func subInt(a, b int64) (int64, bool) {
	s := a - b
	return s, (a >= 0) != (b >= 0) && (s >= 0) != (a >= 0)
}

func mulInt(a, b int64) (int64, bool) {
	if a == 0 || b == 0 {
		return 0, false
	}
	r := a * b
	over := r/b != a || (a == -1 && b == math.MinInt64) || (b == -1 && a == math.MinInt64)
	return r, over
}

// integer returns v as an int64 or a *big.Int when it is an integer value.
func integer(v any) (int64, *big.Int, bool) {
	switch t := v.(type) {
	case int:
		return int64(t), nil, true
	case int64:
		return t, nil, true
	case int32:
		return int64(t), nil, true
	case *big.Int:
		return 0, t, true
	case big.Int: // expr dereferences pointers in places
		return 0, &t, true
	}
	return 0, nil, false
}

func bigOf(n int64, b *big.Int) *big.Int {
	if b != nil {
		return b
	}
	return big.NewInt(n)
}

// normBig returns b as an int when it fits.
func normBig(b *big.Int) any {
	if b.IsInt64() {
		return int(b.Int64())
	}
	return b
}

func binary(op string, plain func(a, b any) any, checked func(a, b int64) (int64, bool), bigOp func(z, x, y *big.Int) *big.Int) func(...any) (any, error) {
	return func(args ...any) (result any, err error) {
		a, b := args[0], args[1]
		an, ab, aok := integer(a)
		bn, bb, bok := integer(b)
		if aok && bok {
			if ab == nil && bb == nil {
				r, over := checked(an, bn)
				if !over {
					return int(r), nil
				}
				if _, isBig := a.(*big.Int); !isBig {
					return nil, &ErrOverflow{Op: fmt.Sprintf("%d %s %d", an, op, bn)}
				}
			}
			// a big integer takes part: exact, in big arithmetic
			return normBig(bigOp(new(big.Int), bigOf(an, ab), bigOf(bn, bb))), nil
		}
		if ab != nil || bb != nil {
			return nil, fmt.Errorf("%s of a big integer and %s: convert explicitly (float(x) is not exact beyond 2^53)", op, describe(pick(ab == nil, a, b)))
		}
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%v", r)
			}
		}()
		return plain(a, b), nil
	}
}

func pick(first bool, a, b any) any {
	if first {
		return a
	}
	return b
}

func negate(args ...any) (result any, err error) {
	switch t := args[0].(type) {
	case int:
		if t == math.MinInt64 {
			return nil, &ErrOverflow{Op: fmt.Sprintf("-(%d)", t)}
		}
		return -t, nil
	case *big.Int:
		return normBig(new(big.Int).Neg(t)), nil
	case big.Int:
		return normBig(new(big.Int).Neg(&t)), nil
	case float64:
		return -t, nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return runtime.Negate(args[0]), nil
}

// toInt is int(): exact or an error, never a wrapped-around number.
func toInt(args ...any) (any, error) {
	switch t := args[0].(type) {
	case int:
		return t, nil
	case int64:
		return int(t), nil
	case int32:
		return int(t), nil
	case big.Int:
		return toInt(&t)
	case *big.Int:
		if t.IsInt64() {
			return int(t.Int64()), nil
		}
		return nil, &ErrOverflow{Op: "int(" + t.String() + ")"}
	case float64:
		tr := math.Trunc(t)
		if math.IsNaN(t) || tr < -(1<<63) || tr >= 1<<63 {
			return nil, &ErrOverflow{Op: "int(" + FormatFloat(t) + ")"}
		}
		return int(tr), nil
	case float32:
		return toInt(float64(t))
	case string:
		s := strings.TrimSpace(t)
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
				return nil, &ErrOverflow{Op: fmt.Sprintf("int(%q)", clip40(t))}
			}
			return nil, fmt.Errorf("int(%q): not an integer", clip40(t))
		}
		return int(n), nil
	case bool:
		if t {
			return 1, nil
		}
		return 0, nil
	case nil:
		return nil, fmt.Errorf("int(nil)")
	}
	rv := reflect.ValueOf(args[0])
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return int(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if rv.Uint() > math.MaxInt64 {
			return nil, &ErrOverflow{Op: fmt.Sprintf("int(%d)", rv.Uint())}
		}
		return int(rv.Uint()), nil
	}
	return nil, fmt.Errorf("int(%s): not a number", describe(args[0]))
}

// toString is string(): expr's, with big integers as their decimal text
// (expr dereferences the pointer, and big.Int prints only through it).
func toString(args ...any) (any, error) {
	switch t := args[0].(type) {
	case *big.Int:
		return t.String(), nil
	case big.Int:
		return t.String(), nil
	}
	return fmt.Sprintf("%v", args[0]), nil
}

func clip40(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// negPatcher replaces unary minus on ints and untyped values by fnNeg.
type negPatcher struct{}

func (negPatcher) Visit(n *ast.Node) {
	u, ok := (*n).(*ast.UnaryNode)
	if !ok || u.Operator != "-" {
		return
	}
	if _, isConst := u.Node.(*ast.IntegerNode); isConst {
		return // a literal such as -5 cannot overflow (parsed as a constant)
	}
	t := u.Node.Type()
	name := fnNeg + "_a"
	switch {
	case t != nil && t.Kind() == reflect.Int:
		name = fnNeg + "_i"
	case t != nil && t.Kind() != reflect.Interface:
		return
	}
	call := &ast.CallNode{Callee: &ast.IdentifierNode{Value: name}, Arguments: []ast.Node{u.Node}}
	call.SetType(t)
	ast.Patch(n, call)
}
