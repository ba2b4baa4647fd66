package sqlite

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// SQLite resolves a named or numbered parameter ($1, ?1) by a linear search
// of the statement's parameter list on every bind, which makes a 4,800-value
// multi-row insert quadratic. Anonymous "?" parameters skip that, so the
// shared $n SQL is rewritten to "?" with the arguments reordered (a $n used
// twice is passed twice).

type rewritten struct {
	sql   string
	order []int // argument index per "?"
}

var (
	rewrites     sync.Map // string -> *rewritten
	rewriteCount atomic.Int64
)

// maxRewrites bounds the cache; texts beyond it are rewritten every time.
const maxRewrites = 4096

func rewrite(query string) *rewritten {
	if r, ok := rewrites.Load(query); ok {
		return r.(*rewritten)
	}
	var b strings.Builder
	var order []int
	for i := 0; i < len(query); i++ {
		c := query[i]
		if c != '$' || i+1 >= len(query) || query[i+1] < '1' || query[i+1] > '9' {
			b.WriteByte(c)
			continue
		}
		j := i + 1
		for j < len(query) && query[j] >= '0' && query[j] <= '9' {
			j++
		}
		n, _ := strconv.Atoi(query[i+1 : j])
		order = append(order, n-1)
		b.WriteByte('?')
		i = j - 1
	}
	r := &rewritten{sql: b.String(), order: order}
	if rewriteCount.Add(1) <= maxRewrites {
		rewrites.Store(query, r)
	}
	return r
}

// args reorders args for the rewritten statement.
func (r *rewritten) args(args []any) []any {
	if len(r.order) == len(args) {
		inOrder := true
		for i, k := range r.order {
			if k != i {
				inOrder = false
				break
			}
		}
		if inOrder {
			return args
		}
	}
	out := make([]any, len(r.order))
	for i, k := range r.order {
		if k >= 0 && k < len(args) {
			out[i] = args[k]
		}
	}
	return out
}
