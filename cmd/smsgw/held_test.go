package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/app/smsgw"
	"github.com/traffic12123/gateway/internal/broker"
	"github.com/traffic12123/gateway/internal/config"
	"github.com/traffic12123/gateway/internal/message"
)

// TestHeldCommand runs `smsgw held` against a running gateway's admin API:
// it lists a held message (recipient masked), refuses a decision without
// --who or without the token, releases with --who, and shows the decision.
func TestHeldCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	b, err := broker.Start(ctx, broker.Config{Topics: map[string]int{"events.licence": 1, "events.dlq": 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("held-command-test-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Instance = "held-test"
	cfg.Kafka.Brokers = b.Addrs()
	cfg.Kafka.Topics = []string{"events.licence"}
	cfg.Kafka.StatusTopic = ""
	cfg.Ledger.DSN = "sqlite://" + filepath.Join(dir, "ledger.db")
	cfg.Rules.Dir = "../../rules"
	cfg.Rules.Watch = false
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.HTTP.AdminListen = "127.0.0.1:0"
	cfg.HTTP.AdminTokenFile = tokenFile
	ready := make(chan *smsgw.App, 1)
	done := make(chan error, 1)
	go func() {
		done <- smsgw.Run(ctx, smsgw.Options{Config: &cfg, Ready: func(a *smsgw.App) { ready <- a }})
	}()
	var a *smsgw.App
	select {
	case a = <-ready:
	case err := <-done:
		t.Fatalf("gateway: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("gateway did not start")
	}
	m := &message.Message{Key: "adv-1|advisory.warning|13800138000", EventID: "adv-1", RuleID: "advisory.warning",
		Recipient: "13800138000", Carrier: "china_mobile", Text: "【交管12123】交通安全预警：详见www.abc.com",
		Encoding: "ucs2", Segments: 1, State: message.StateHeld, Reason: "content_link"}
	if err := a.Store().Insert(ctx, []*message.Message{m}); err != nil {
		t.Fatal(err)
	}
	admin := "http://" + a.AdminAddr()
	cmd := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := run(append([]string{"held"}, args...), &out, &errb)
		return out.String(), errb.String(), code
	}
	out, errs, code := cmd("list", "--admin", admin, "--token-file", tokenFile)
	if code != 0 || !strings.Contains(out, "content_link") || !strings.Contains(out, "138****8000") || strings.Contains(out, "13800138000") {
		t.Fatalf("list: %d %q %q", code, out, errs)
	}
	if _, errs, code = cmd("list", "--admin", admin, "--token-file", filepath.Join(dir, "ledger.db-nonexistent")); code == 0 {
		t.Fatalf("list without a token file worked: %q", errs)
	}
	wrong := filepath.Join(dir, "wrong")
	os.WriteFile(wrong, []byte("not-the-token-at-all"), 0o600)
	if _, errs, code = cmd("list", "--admin", admin, "--token-file", wrong); code == 0 || !strings.Contains(errs, "401") {
		t.Fatalf("list with a wrong token: %d %q", code, errs)
	}
	id := strconv.FormatInt(m.ID, 10)
	if _, errs, code = cmd("release", "--admin", admin, "--token-file", tokenFile, id); code == 0 || !strings.Contains(errs, "--who") {
		t.Fatalf("release without --who: %d %q", code, errs)
	}
	out, errs, code = cmd("release", "--admin", admin, "--token-file", tokenFile, "--who", "wang.li", "--note", "checked", id)
	if code != 0 || !strings.Contains(out, "released 1 messages") {
		t.Fatalf("release: %d %q %q", code, out, errs)
	}
	out, errs, code = cmd("decisions", "--admin", admin, "--token-file", tokenFile, id)
	if code != 0 || !strings.Contains(out, "released by wang.li checked") {
		t.Fatalf("decisions: %d %q %q", code, out, errs)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("gateway: %v", err)
	}
}
