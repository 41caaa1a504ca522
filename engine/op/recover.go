package op

import (
	"fmt"
	"runtime/debug"
)

// PanicError is a panic turned into an error by Recover or Go: no input and
// no operator bug may crash caco; the run fails instead, naming what
// panicked.
type PanicError struct {
	// What names the work that panicked ("step parse", "reading x.parquet").
	What string
	// Value is the value passed to panic.
	Value any
	// Stack is the goroutine's stack at the panic (for caco.log, not for
	// the one-line message).
	Stack []byte
}

func (e *PanicError) Error() string {
	if e.What == "" {
		return fmt.Sprintf("panic: %v", e.Value)
	}
	return fmt.Sprintf("%s: panic: %v", e.What, e.Value)
}

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// Recover, deferred directly, turns a panic of the calling goroutine into a
// *PanicError stored in *err (replacing any error already there):
//
//	func read(path string) (err error) {
//		defer op.Recover(&err, "reading "+path)
//		...
//	}
//
// Each goroutine needs its own: a recover only catches panics of the
// goroutine it runs in.
func Recover(err *error, what string) {
	if v := recover(); v != nil {
		*err = &PanicError{What: what, Value: v, Stack: debug.Stack()}
	}
}

// Go runs f in a new goroutine that recovers from panics: f's error (nil
// on success), or the panic as a *PanicError naming what, is passed to done,
// which reports it where the work's errors go (an error channel, a context's
// cancel).
func Go(what string, f func() error, done func(error)) {
	go func() {
		done(Safe(what, f))
	}()
}

// Safe calls f in the calling goroutine and returns its error, or its panic
// as a *PanicError naming what.
func Safe(what string, f func() error) (err error) {
	defer Recover(&err, what)
	return f()
}
