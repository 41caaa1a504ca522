package op_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/caco-dev/caco/engine/op"
)

func TestSafeAndGoTurnPanicsIntoErrors(t *testing.T) {
	sentinel := errors.New("inner")
	cases := []struct {
		name string
		f    func() error
		want string
		is   error
	}{
		{"error", func() error { return sentinel }, "inner", sentinel},
		{"ok", func() error { return nil }, "", nil},
		{"panic value", func() error { panic("bad row") }, "reading x.parquet: panic: bad row", nil},
		{"panic error", func() error { panic(sentinel) }, "reading x.parquet: panic: inner", sentinel},
		{"runtime", func() error { var s []int; _ = s[3]; return nil }, "reading x.parquet: panic: runtime error: index out of range", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, via := range []string{"Safe", "Go"} {
				var err error
				if via == "Safe" {
					err = op.Safe("reading x.parquet", tc.f)
				} else {
					done := make(chan error)
					op.Go("reading x.parquet", tc.f, func(e error) { done <- e })
					err = <-done
				}
				if tc.want == "" {
					if err != nil {
						t.Fatalf("%s: %v", via, err)
					}
					continue
				}
				if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
					t.Fatalf("%s: error %v, want prefix %q", via, err, tc.want)
				}
				if tc.is != nil && !errors.Is(err, tc.is) {
					t.Fatalf("%s: %v does not wrap %v", via, err, tc.is)
				}
				var pe *op.PanicError
				if strings.Contains(tc.want, "panic") && (!errors.As(err, &pe) || !strings.Contains(string(pe.Stack), "goroutine")) {
					t.Fatalf("%s: no PanicError with a stack: %#v", via, err)
				}
			}
		})
	}
}
