package smpp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	carriersmpp "github.com/traffic12123/gateway/internal/carrier/smpp"
	"github.com/traffic12123/gateway/internal/dispatch"
	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/ledger/sqlite"
	"github.com/traffic12123/gateway/internal/message"
	"github.com/traffic12123/gateway/pkg/smpp"
	"github.com/traffic12123/gateway/pkg/smpp/smsc"
)

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSenderResendsMissingParts: dispatch's sender over this connector
// and a real SMSC simulator. The SMSC refuses half of all parts with
// 0x58 (and the client does not retry them itself): the sender records
// every part's outcome, resends only the missing parts under the same
// reference, and every message reaches the handset whole, exactly once.
// Every JSON log line has its text in "msg" and only there.
func TestSenderResendsMissingParts(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sim := smsc.New(smsc.Config{Seed: 12, Faults: smsc.Faults{Throttle: 0.5}})
	if err := sim.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "l.db"), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	metrics := dispatch.NewMetrics(prometheus.NewRegistry())
	rc := dispatch.NewReceipts(store, log, metrics)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { rc.Run(ctx) })

	var sender *dispatch.Sender
	cc := smpp.Config{Name: "sim", Addr: sim.Addr(), ThrottleRetries: -1, Logger: log}
	carriersmpp.SetHandlers(&cc, dispatch.Handlers{Receipt: rc.OnReceipt("sim"),
		Late: func(ctx context.Context, l dispatch.Late) { sender.OnLate("sim")(ctx, l) }})
	client, err := smpp.NewClient(cc)
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() { client.Run(ctx) })
	sender = dispatch.NewSender(dispatch.SenderConfig{
		Ledger: store, Carriers: map[string]dispatch.Submitter{"sim": carriersmpp.Wrap(client)}, Owner: "t",
		ClaimBatch: 100, InFlight: 4, MaxAttempts: 50, RetryBackoff: 5 * time.Millisecond, RetryBackoffMax: 20 * time.Millisecond,
		Poll: 10 * time.Millisecond, DrainTimeout: time.Second, SendTimeout: 5 * time.Second, Logger: log, Metrics: metrics,
	})
	wg.Go(func() { sender.Run(ctx) })

	const n = 12
	text := strings.Repeat("请及时处理交通违法记录。", 16) // 3 UCS2 parts
	var msgs []*message.Message
	for i := range n {
		msgs = append(msgs, &message.Message{Key: fmt.Sprint("k", i), EventID: fmt.Sprint("ev", i), RuleID: "r",
			Recipient: fmt.Sprintf("138%08d", i), Carrier: "sim", Source: "12123", Text: text, Encoding: "ucs2", Segments: 3})
	}
	if err := store.Insert(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	sender.Wake()
	deadline := time.Now().Add(30 * time.Second)
	for {
		done := 0
		for _, m := range msgs {
			es, err := store.Trace(ctx, ledger.TraceQuery{Phone: m.Recipient})
			if err != nil {
				t.Fatal(err)
			}
			if len(es) > 0 && lastState(es) == message.StateDelivered {
				done++
			}
		}
		if done == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d delivered; simulator %+v", done, n, sim.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	st := sim.Stats()
	if st.Throttled == 0 {
		t.Fatal("nothing throttled: the test proves nothing")
	}
	for k, c := range sim.Received() {
		if c != 1 {
			t.Errorf("part %+v on the handset %d times", k, c)
		}
	}
	if got := len(sim.Messages()); got != n {
		t.Errorf("handsets hold %d whole messages, want %d", got, n)
	}
	for _, d := range sim.Messages() {
		if d.Text != text || d.Parts != 3 {
			t.Errorf("handset message %d parts %q", d.Parts, d.Text)
		}
	}
	t.Logf("simulator: %d submits, %d throttled, %d accepted for %d messages of 3 parts", st.Submits, st.Throttled, st.Accepted, n)
	cancel()
	wg.Wait()
	for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		if strings.Count(line, `"msg":`) != 1 {
			t.Errorf("log line without exactly one msg: %s", line)
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Errorf("log line not JSON: %s", line)
		} else if _, ok := v["msg"].(string); !ok {
			t.Errorf("log line whose msg is not its text: %s", line)
		}
	}
}

func lastState(es []ledger.TraceEntry) message.State {
	var st message.State
	for _, e := range es {
		if e.Kind == ledger.TraceState {
			st = e.State
		}
	}
	return st
}
