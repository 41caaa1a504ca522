package generate

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// The error budget for transient failures (max_failed): taken over the last
// budgetWindow finished requests, once budgetMin have finished.
const (
	budgetWindow = 100
	budgetMin    = 20
	// DefaultMaxFailed is max_failed when neither the step nor its model
	// sets it.
	DefaultMaxFailed = "5%"
)

// limit is a parsed max_failed: a count of failures, or a fraction of the
// window.
type limit struct {
	text     string
	count    int     // > 0: at most this many failures in the window
	fraction float64 // else: at most this fraction of the window
}

// parseLimit reads "10" (a count), "0.05" or "5%" (a fraction).
func parseLimit(s string) (limit, error) {
	t := strings.TrimSpace(s)
	if pct, ok := strings.CutSuffix(t, "%"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(pct), 64)
		if err != nil || f < 0 || f > 100 {
			return limit{}, fmt.Errorf("max_failed: want a count (10) or a fraction (0.05 or 5%%), got %q", s)
		}
		return limit{text: t, fraction: f / 100}, nil
	}
	if n, err := strconv.Atoi(t); err == nil && n >= 0 {
		if n == 0 {
			return limit{text: t, fraction: 0}, nil
		}
		return limit{text: t, count: n}, nil
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || f >= 1 {
		return limit{}, fmt.Errorf("max_failed: want a count (10) or a fraction (0.05 or 5%%), got %q", s)
	}
	return limit{text: t, fraction: f}, nil
}

// over reports whether failed of n finished requests pass the limit.
func (l limit) over(failed, n int) bool {
	if l.count > 0 {
		return failed > l.count
	}
	return float64(failed) > l.fraction*float64(n)
}

// budget is a sliding window over the last finished requests of a step:
// which of them failed on a transient error.
type budget struct {
	lim    limit
	mu     sync.Mutex
	ring   [budgetWindow]bool
	n      int // finished requests seen (up to the window)
	next   int
	failed int // failures in the window
	// waiting counts the step's rows deferred so far (over all batches).
	waiting int64
}

// add records a finished request and reports whether the window now holds
// more failures than the limit allows (only once budgetMin finished), with
// the failures and size of the window.
func (b *budget) add(failedNow bool) (over bool, failed, n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.n == budgetWindow {
		if b.ring[b.next] {
			b.failed--
		}
	} else {
		b.n++
	}
	b.ring[b.next] = failedNow
	if failedNow {
		b.failed++
	}
	b.next = (b.next + 1) % budgetWindow
	if b.n < budgetMin {
		return false, b.failed, b.n
	}
	return b.lim.over(b.failed, b.n), b.failed, b.n
}

func (b *budget) addWaiting(rows int) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.waiting += int64(rows)
	return b.waiting
}
