package smsgw

import (
	"database/sql"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/traffic12123/gateway/internal/config"
	"github.com/traffic12123/gateway/internal/eventgen"
	"github.com/traffic12123/gateway/pkg/smpp/smsc"
)

// readyz returns /readyz's status and body.
func readyz(t *testing.T, g *poisonGateway) (int, string) {
	t.Helper()
	res, err := http.Get("http://" + g.a.HTTPAddr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, strings.TrimSpace(string(b))
}

func waitReadyz(t *testing.T, g *poisonGateway, what string, ok func(code int, body string) bool) string {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		code, body := readyz(t, g)
		if ok(code, body) {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: /readyz %d %q", what, code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestReadyzTellsTheTruth: /readyz is 503 while the ledger cannot write
// (another process holds SQLite's write lock) and consumption is stalled
// with lag, 200 again once the ledger writes (the held-back events are
// handled, none dead-lettered: an outage is not poison), 503 while a
// carrier has no bind up and 200 once it is back, and 503 while the broker
// is unreachable.
func TestReadyzTellsTheTruth(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level run")
	}
	g := startPoisonGateway(t, 0, func(c *config.Config) { c.Kafka.StallAfter = config.Duration(2 * time.Second) })
	waitReadyz(t, g, "ready", func(code int, _ string) bool { return code == http.StatusOK })

	// The ledger cannot write: hold SQLite's write lock from outside.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(strings.TrimPrefix(g.a.cfg.Ledger.DSN, "sqlite://"))+"?_busy_timeout=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(g.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(g.ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	gen := eventgen.New(5, time.Date(2026, 11, 27, 10, 0, 0, 0, beijing(t)))
	var reasons []string
	for i := 0; i < 20; i++ {
		topic, key, ev := gen.Next()
		g.publish(encode(t, topic, key, ev))
	}
	body := waitReadyz(t, g, "ledger and stall reported", func(code int, body string) bool {
		return code == http.StatusServiceUnavailable && strings.Contains(body, "ledger cannot write") && strings.Contains(body, "consumption stalled")
	})
	reasons = append(reasons, body)
	if _, err := conn.ExecContext(g.ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	waitReadyz(t, g, "ready after the ledger outage", func(code int, _ string) bool { return code == http.StatusOK })
	g.settle()
	if dlq := readTopic(t, g.b.Addrs(), "events.dlq"); len(dlq) != 0 {
		t.Fatalf("a ledger outage dead-lettered %d records", len(dlq))
	}
	g.alive()

	// A carrier has no bind up: its SMSC drops the binds and refuses
	// connections for a while.
	if err := g.sims["china_broadnet"].SetFaults(smsc.Faults{Down: 6 * time.Second}); err != nil {
		t.Fatal(err)
	}
	body = waitReadyz(t, g, "carrier without a bind reported", func(code int, b string) bool {
		return code == http.StatusServiceUnavailable && strings.Contains(b, "no bind up for [china_broadnet]")
	})
	reasons = append(reasons, body)
	waitReadyz(t, g, "ready when the carrier is back", func(code int, _ string) bool { return code == http.StatusOK })

	// The broker is unreachable.
	g.b.Close()
	body = waitReadyz(t, g, "broker reported", func(code int, b string) bool {
		return code == http.StatusServiceUnavailable && strings.Contains(b, "brokers unreachable")
	})
	t.Logf("/readyz said %q, then %q, then %q", reasons[0], reasons[1], body)
}

// TestReadyzVoice: a voice stage that cannot place calls (its SIP port is
// taken) makes /readyz 503 and names the cause; the SMS side runs on.
func TestReadyzVoice(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level run")
	}
	taken, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	g := startPoisonGateway(t, 0, func(c *config.Config) {
		c.Voice.Trunk, c.Voice.Bind, c.Voice.CDRTopic = "127.0.0.1:9", taken.LocalAddr().String(), ""
		c.Voice.Prompts = filepath.Join(repoRoot, "prompts")
	})
	// Once the binds are up, the voice stage alone is what is wrong.
	body := waitReadyz(t, g, "voice reported", func(code int, body string) bool {
		return code == http.StatusServiceUnavailable && strings.Contains(body, "voice calls stopped") &&
			!strings.Contains(body, "bind up")
	})
	if !strings.HasPrefix(body, "voice calls stopped") || strings.Contains(body, "ledger") {
		t.Fatalf("/readyz: %q", body)
	}
}
