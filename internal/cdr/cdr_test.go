package cdr

import (
	"context"
	"errors"
	"testing"

	"github.com/traffic12123/gateway/pkg/ivr"
)

type sinkFunc func(context.Context, ivr.CDR) error

func (f sinkFunc) Record(ctx context.Context, c ivr.CDR) error { return f(ctx, c) }

func TestMulti(t *testing.T) {
	var got []string
	boom := errors.New("boom")
	m := Multi{
		sinkFunc(func(_ context.Context, c ivr.CDR) error { got = append(got, "a:"+c.CallID); return boom }),
		sinkFunc(func(_ context.Context, c ivr.CDR) error { got = append(got, "b:"+c.CallID); return nil }),
	}
	err := m.Record(context.Background(), ivr.CDR{CallID: "x"})
	if !errors.Is(err, boom) || len(got) != 2 || got[1] != "b:x" {
		t.Fatalf("err %v, calls %v", err, got)
	}
}
