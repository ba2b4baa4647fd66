package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/traffic12123/gateway/pkg/smpp"
	"github.com/traffic12123/gateway/pkg/smpp/smsc"
)

// node returns the node binary, skipping the test (failing under CI=true)
// when node or the npm package is missing.
func node(t *testing.T) string {
	t.Helper()
	missing := func(what string) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s; run: npm ci --prefix pkg/smpp/interop", what)
		}
		t.Skipf("%s; run: npm ci --prefix pkg/smpp/interop", what)
	}
	bin, err := exec.LookPath("node")
	if err != nil {
		missing("node is not on PATH")
	}
	if _, err := os.Stat(filepath.Join("node_modules", "smpp", "package.json")); err != nil {
		missing("node_modules/smpp is not installed")
	}
	return bin
}

var longText = strings.Repeat("交通安全提示：雨天路滑，请减速慢行。", 9) + "😀结束" // 3 parts of ≤67 UTF-16 units

// TestNodeESMEToSimulator: the npm ESME binds to our simulator, submits
// UCS2 messages (one long, concatenated) and waits for their receipts.
func TestNodeESMEToSimulator(t *testing.T) {
	bin := node(t)
	s := smsc.New(smsc.Config{SystemID: "nodeesme", Password: "pw", ReceiptDelay: 20 * time.Millisecond})
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	host, port, _ := strings.Cut(s.Addr(), ":")
	shorts := []string{"【交管12123】您有一条交通违法记录，请及时处理。", "【交管12123】Driver notice 驾驶证审验"}

	// Mobile-originated messages queued before the ESME binds wait for it.
	mos := []string{"TD", "退订"}
	for _, text := range mos {
		if err := s.Deliver(smsc.MO{SystemID: "nodeesme", From: "13900139000", To: "12123", Text: text}); err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"esme.js", host, port, "nodeesme", "pw", longText}, shorts...)...)
	cmd.Env = append(os.Environ(), "EXPECT_MO=2")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("esme.js: %v\n%s", err, stderr.String())
	}
	var res struct {
		Bind    int
		Submits []struct {
			Label     string
			Status    int
			MessageID string `json:"message_id"`
		}
		Receipts []struct {
			ESMClass           int    `json:"esm_class"`
			SourceAddr         string `json:"source_addr"`
			SourceAddrTON      int    `json:"source_addr_ton"`
			DestinationAddr    string `json:"destination_addr"`
			Text               string
			ReceiptedMessageID string `json:"receipted_message_id"`
			MessageState       int    `json:"message_state"`
		}
		MO []struct {
			ESMClass        int    `json:"esm_class"`
			SourceAddr      string `json:"source_addr"`
			DestinationAddr string `json:"destination_addr"`
			DataCoding      int    `json:"data_coding"`
			Text            string
		}
		Errors []string
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("esme.js output %q: %v", out, err)
	}
	if len(res.Errors) > 0 || res.Bind != 0 {
		t.Fatalf("esme.js: bind %d, errors %v", res.Bind, res.Errors)
	}
	if len(res.Submits) != 5 {
		t.Fatalf("%d submits answered, want 5 (2 single + 3 parts)", len(res.Submits))
	}
	ids := map[string]bool{}
	for _, sub := range res.Submits {
		if sub.Status != 0 || sub.MessageID == "" {
			t.Errorf("submit %s: status %d id %q", sub.Label, sub.Status, sub.MessageID)
		}
		ids[sub.MessageID] = true
	}
	seen := map[string]int{}
	for _, r := range res.Receipts {
		seen[r.ReceiptedMessageID]++
		if !ids[r.ReceiptedMessageID] {
			t.Errorf("receipt for unknown id %q", r.ReceiptedMessageID)
		}
		// The Node side parses our deliver_sm field by field: a stray
		// octet would shift the text or lose the TLVs.
		if r.ESMClass != 4 || r.MessageState != 2 || r.SourceAddr != "13800138000" || r.SourceAddrTON != 1 || r.DestinationAddr != "12123" {
			t.Errorf("receipt %+v", r)
		}
		if !strings.HasPrefix(r.Text, "id:"+r.ReceiptedMessageID+" sub:001 dlvrd:001 submit date:") || !strings.Contains(r.Text, " stat:DELIVRD err:000 text:") {
			t.Errorf("receipt text %q", r.Text)
		}
	}
	if len(seen) != 5 {
		t.Errorf("receipts for %d ids, want 5", len(seen))
	}

	if len(res.MO) != len(mos) {
		t.Fatalf("node got %d MO messages, want %d", len(res.MO), len(mos))
	}
	for i, m := range res.MO {
		// "TD" goes as GSM7 (data_coding 0, which npm smpp reads as ASCII).
		if m.Text != mos[i] || m.ESMClass != 0 || m.SourceAddr != "13900139000" || m.DestinationAddr != "12123" {
			t.Errorf("MO %d: %+v", i, m)
		}
	}
	if s.Stats().MODelivered != 2 {
		t.Errorf("MO acknowledged: %d", s.Stats().MODelivered)
	}

	// What the handset shows: each message exactly once, the long one
	// reassembled from its parts.
	var texts []string
	for _, m := range s.Messages() {
		texts = append(texts, m.Text)
		if m.Dest != "13800138000" || m.DataCoding != 8 {
			t.Errorf("message to %q coding %d", m.Dest, m.DataCoding)
		}
	}
	want := append(slices.Clone(shorts), longText)
	slices.Sort(texts)
	slices.Sort(want)
	if !slices.Equal(texts, want) {
		t.Errorf("handset got %q,\nwant %q", texts, want)
	}
}

// nodeSMSC runs smsc.js and streams its JSON lines.
type nodeSMSC struct {
	port   string
	mu     sync.Mutex
	events []map[string]any
	stdin  io.Closer
	done   chan struct{}
}

func startNodeSMSC(t *testing.T, bin, systemID, password string) *nodeSMSC {
	t.Helper()
	cmd := exec.Command(bin, "smsc.js", systemID, password)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &nodeSMSC{stdin: stdin, done: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		defer close(n.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var ev map[string]any
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Errorf("smsc.js line %q: %v", sc.Text(), err)
				continue
			}
			if ev["event"] == "listening" {
				ready <- strings.TrimSuffix(strings.TrimSuffix(jsonNumber(ev["port"]), ".0"), "\n")
			}
			n.mu.Lock()
			n.events = append(n.events, ev)
			n.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		stdin.Close() // smsc.js exits when stdin closes
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		<-n.done
		if t.Failed() {
			t.Logf("smsc.js stderr:\n%s", stderr.String())
		}
	})
	select {
	case n.port = <-ready:
	case <-time.After(10 * time.Second):
		t.Fatalf("smsc.js did not start:\n%s", stderr.String())
	}
	return n
}

func jsonNumber(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func (n *nodeSMSC) byEvent(name string) []map[string]any {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []map[string]any
	for _, ev := range n.events {
		if ev["event"] == name {
			out = append(out, ev)
		}
	}
	return out
}

// TestClientToNodeSMSC: our Client binds to the npm SMSC, sends a GSM7, a
// UCS2 and a long UCS2 message and gets a receipt for every part.
func TestClientToNodeSMSC(t *testing.T) {
	bin := node(t)
	n := startNodeSMSC(t, bin, "gw12123", "pw")

	receipts := make(chan smpp.Receipt, 16)
	c, err := smpp.NewClient(smpp.Config{
		Name: "node", Addr: "127.0.0.1:" + n.port, SystemID: "gw12123", Password: "pw", Binds: 1,
		OnReceipt: func(_ context.Context, r smpp.Receipt) error {
			receipts <- r
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- c.Run(runCtx) }()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}

	texts := []string{"Your licence review is due 2026-12-01 @12123", "【交管12123】您的驾驶证将于30日内到期。", longText}
	var ids []string
	for _, text := range texts {
		res, err := c.Send(ctx, smpp.Message{Source: "12123", Dest: "13800138000", Text: text})
		if err != nil {
			t.Fatalf("send %q: %v", text, err)
		}
		ids = append(ids, res.IDs...)
	}
	if len(ids) != 5 {
		t.Fatalf("%d part ids, want 5: %v", len(ids), ids)
	}
	got := map[string]smpp.Receipt{}
	for len(got) < len(ids) {
		select {
		case r := <-receipts:
			got[r.MessageID] = r
		case <-ctx.Done():
			t.Fatalf("%d receipts of %d", len(got), len(ids))
		}
	}
	for _, id := range ids {
		r, ok := got[id] // smsc.js writes lowercase hex without leading zeros
		if !ok || r.Stat != "DELIVRD" || r.Source.Addr != "8613800138000" {
			t.Errorf("receipt for %s: %+v (found %v)", id, r, ok)
		}
	}

	// What the Node SMSC decoded: the texts, the long one from 3 parts with
	// one concatenation reference.
	subs := n.byEvent("submit")
	if len(subs) != 5 {
		t.Fatalf("node saw %d submits", len(subs))
	}
	if subs[0]["text"] != texts[0] || subs[1]["text"] != texts[1] || subs[1]["data_coding"] != 8.0 {
		t.Errorf("singles decoded as %v / %v", subs[0], subs[1])
	}
	// The parts may arrive in any order (the Client pipelines them); npm
	// smpp lists the UDH's information elements without the length octet:
	// "00 03 ref total seq".
	parts := make([]string, 3)
	refs := map[string]bool{}
	for _, s := range subs[2:] {
		udh, _ := s["udh"].(string)
		if len(udh) != 10 || !strings.HasPrefix(udh, "0003") || udh[6:8] != "03" || udh[8:10] < "01" || udh[8:10] > "03" {
			t.Errorf("part udh %q", udh)
			continue
		}
		refs[udh[4:6]] = true
		parts[udh[9]-'1'] = s["text"].(string)
		if s["destination_addr"] != "8613800138000" || s["dest_addr_ton"] != 1.0 || s["data_coding"] != 8.0 {
			t.Errorf("part to %v (ton %v, coding %v)", s["destination_addr"], s["dest_addr_ton"], s["data_coding"])
		}
	}
	if got := strings.Join(parts, ""); got != longText {
		t.Errorf("node reassembled %q", got)
	}
	if len(refs) != 1 {
		t.Errorf("parts carry references %v", refs)
	}

	// The Client acknowledged every receipt with status 0.
	deadline := time.Now().Add(5 * time.Second)
	for len(n.byEvent("receipt_ack")) < 5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for _, a := range n.byEvent("receipt_ack") {
		if a["status"] != 0.0 {
			t.Errorf("receipt ack %v", a)
		}
	}

	stop()
	if err := <-runDone; err != nil {
		t.Errorf("run: %v", err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for len(n.byEvent("unbind")) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if len(n.byEvent("unbind")) != 1 {
		t.Error("the Client did not unbind on shutdown")
	}
}
