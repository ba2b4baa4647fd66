package smsc_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/traffic12123/gateway/pkg/smpp"
	"github.com/traffic12123/gateway/pkg/smpp/coding"
	"github.com/traffic12123/gateway/pkg/smpp/smsc"
)

func TestBind(t *testing.T) {
	s := start(t, smsc.Config{SystemID: "gw", Password: "secret"})
	tests := []struct {
		name     string
		cmd      smpp.CommandID
		sys, pwd string
		want     smpp.Status
	}{
		{"transceiver", smpp.BindTransceiver, "gw", "secret", smpp.StatusOK},
		{"transmitter", smpp.BindTransmitter, "gw", "secret", smpp.StatusOK},
		{"receiver", smpp.BindReceiver, "gw", "secret", smpp.StatusOK},
		{"wrong password", smpp.BindTransceiver, "gw", "nope", smpp.Status(smsc.StatusInvalidPasswd)},
		{"wrong system_id", smpp.BindTransceiver, "other", "secret", smpp.Status(smsc.StatusInvalidSysID)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := dial(t, s.Addr())
			if got := e.bind(tt.cmd, tt.sys, tt.pwd); got != tt.want {
				t.Fatalf("bind status %v, want %v", got, tt.want)
			}
		})
	}
	if st := s.Stats(); st.BindsTotal != 3 || st.BindsRefused != 2 {
		t.Errorf("stats: %d binds, %d refused; want 3, 2", st.BindsTotal, st.BindsRefused)
	}

	t.Run("any credentials without config", func(t *testing.T) {
		open := start(t, smsc.Config{})
		e := dial(t, open.Addr())
		if got := e.bind(smpp.BindTransceiver, "whoever", "x"); got != smpp.StatusOK {
			t.Fatalf("bind status %v", got)
		}
	})
	t.Run("states", func(t *testing.T) {
		e := dial(t, s.Addr())
		if p := e.submit(sm("12123", "13800138000", 0, []byte("hi"), 0)); p.Status != smpp.Status(smsc.StatusInvalidBind) {
			t.Errorf("submit before bind: %s", statusOf(p))
		}
		if got := e.bind(smpp.BindTransceiver, "gw", "secret"); got != smpp.StatusOK {
			t.Fatal(got)
		}
		if got := e.bind(smpp.BindTransceiver, "gw", "secret"); got != smpp.Status(smsc.StatusAlreadyBound) {
			t.Errorf("second bind: %v", got)
		}
		rx := bind(t, s.Addr(), smpp.BindReceiver, "gw")
		if p := rx.submit(sm("12123", "13800138000", 0, []byte("hi"), 0)); p.Status != smpp.Status(smsc.StatusInvalidBind) {
			t.Errorf("submit on a receiver: %s", statusOf(p))
		}
	})
}

func TestSubmitAndReceipt(t *testing.T) {
	loc := time.FixedZone("CST", 8*3600)
	for _, format := range []string{smsc.IDHex, smsc.IDDecimal, smsc.IDUUID} {
		t.Run(format, func(t *testing.T) {
			s := start(t, smsc.Config{IDFormat: format, Location: loc})
			e := bind(t, s.Addr(), smpp.BindTransceiver, "gw")
			text := "【交管12123】您的机动车检验有效期即将届满"
			before := time.Now()
			p := e.submit(sm("12123", "13800138000", 8, ucs2(text), 1))
			if p.Status != smpp.StatusOK || p.MessageID() == "" {
				t.Fatalf("submit: %s id %q", statusOf(p), p.MessageID())
			}
			id := p.MessageID()
			switch format {
			case smsc.IDHex:
				if strings.Trim(id, "0123456789abcdef") != "" {
					t.Errorf("id %q is not hex", id)
				}
			case smsc.IDDecimal:
				if strings.Trim(id, "0123456789") != "" {
					t.Errorf("id %q is not decimal", id)
				}
			case smsc.IDUUID:
				if len(id) != 36 || strings.Count(id, "-") != 4 {
					t.Errorf("id %q is not a uuid", id)
				}
			}
			r := e.receipts(1, 5*time.Second)[0]
			if r.MessageID != id || r.TextID != id {
				t.Errorf("receipt ids %q / %q, want %q", r.MessageID, r.TextID, id)
			}
			if r.Stat != "DELIVRD" || r.State != smpp.StateDelivered || r.Err != "000" || r.Sub != "001" || r.Dlvrd != "001" {
				t.Errorf("receipt %+v", r)
			}
			if r.Source.Addr != "13800138000" || r.Dest.Addr != "12123" || r.Source.TON != smpp.TONInternational {
				t.Errorf("receipt from %+v to %+v", r.Source, r.Dest)
			}
			submitted, err := smpp.ParseReceiptTime(r.SubmitDate, loc)
			if err != nil || submitted.Before(before.Truncate(time.Minute)) || submitted.After(time.Now()) {
				t.Errorf("submit date %q → %v, %v", r.SubmitDate, submitted, err)
			}
			subs := s.Submits()
			if len(subs) != 1 || subs[0].Text != text || subs[0].MessageID != id || subs[0].DataCoding != 8 || !subs[0].Answered {
				t.Errorf("submits: %+v", subs)
			}
			msgs := s.Messages()
			if len(msgs) != 1 || msgs[0].Text != text || msgs[0].Dest != "13800138000" || msgs[0].Parts != 1 {
				t.Errorf("messages: %+v", msgs)
			}
			eventually(t, "receipt settled", func() bool { return s.Stats().Receipts["DELIVRD"] == 1 })
			if st := s.Stats(); st.ReceiptsPending != 0 || st.Accepted != 1 || st.ReceiptsSent != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestOutcomes(t *testing.T) {
	tests := []struct {
		name     string
		outcomes map[string]float64
		rd       byte
		want     map[string]int
	}{
		{"all undeliverable", map[string]float64{"UNDELIV": 1}, 1, map[string]int{"UNDELIV": 20}},
		{"failure only skips delivered", map[string]float64{"DELIVRD": 1}, 2, map[string]int{}},
		{"failure only keeps failures", map[string]float64{"EXPIRED": 1}, 2, map[string]int{"EXPIRED": 20}},
		{"no receipt asked", nil, 0, map[string]int{}},
		{"mix", map[string]float64{"DELIVRD": 1, "REJECTD": 1}, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, smsc.Config{Outcomes: tt.outcomes, Seed: 7})
			e := bind(t, s.Addr(), smpp.BindTransceiver, "gw")
			for range 20 {
				if p := e.submit(sm("12123", "13912345678", 0, []byte("test"), tt.rd)); p.Status != smpp.StatusOK {
					t.Fatal(statusOf(p))
				}
			}
			if tt.want == nil { // a 50/50 mix: both appear in 20 draws (seeded)
				got := map[string]int{}
				for _, r := range e.receipts(20, 5*time.Second) {
					got[r.Stat]++
				}
				if got["DELIVRD"] == 0 || got["REJECTD"] == 0 || got["DELIVRD"]+got["REJECTD"] != 20 {
					t.Errorf("mix gave %v", got)
				}
				return
			}
			n := 0
			for _, c := range tt.want {
				n += c
			}
			got := map[string]int{}
			for _, r := range e.receipts(n, 5*time.Second) {
				got[r.Stat]++
				if r.Stat != "DELIVRD" && r.Dlvrd != "000" {
					t.Errorf("dlvrd %q for %s", r.Dlvrd, r.Stat)
				}
			}
			e.noMore(100 * time.Millisecond)
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s: %d, want %d", k, got[k], v)
				}
			}
		})
	}
}

func TestConcatenation(t *testing.T) {
	long := strings.Repeat("交通安全提示：雨天路滑，请减速慢行。", 9) + "😀结束" // 173 units with a surrogate pair
	tests := []struct {
		name  string
		parts func() []*smpp.SM
		order []int // part order to send; nil: as built
	}{
		{"8-bit UDH", func() []*smpp.SM { return concat("12123", "13800138000", long, 0x42, false) }, nil},
		{"16-bit UDH", func() []*smpp.SM { return concat("12123", "13800138000", long, 0x1234, true) }, nil},
		{"out of order", func() []*smpp.SM { return concat("12123", "13800138000", long, 7, false) }, []int{2, 0, 1}},
		{"SAR TLVs", func() []*smpp.SM {
			parts := concat("12123", "13800138000", long, 0x0101, false)
			for i, p := range parts {
				p.ESMClass = 0
				p.ShortMessage = p.ShortMessage[6:]
				p.TLVs.Set(smpp.TagSARMsgRefNum, smpp.Uint16Value(0x0101))
				p.TLVs.Set(smpp.TagSARTotalSegments, []byte{byte(len(parts))})
				p.TLVs.Set(smpp.TagSARSegmentSeqnum, []byte{byte(i + 1)})
			}
			return parts
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, smsc.Config{})
			e := bind(t, s.Addr(), smpp.BindTransceiver, "gw")
			parts := tt.parts()
			if len(parts) != 3 {
				t.Fatalf("%d parts", len(parts))
			}
			order := tt.order
			if order == nil {
				order = []int{0, 1, 2}
			}
			ids := make([]string, len(parts))
			for i, k := range order {
				if i == 1 { // another message to the same handset in between
					if p := e.submit(sm("12123", "13800138000", 0, []byte("short"), 0)); p.Status != smpp.StatusOK {
						t.Fatal(statusOf(p))
					}
				}
				p := e.submit(parts[k])
				if p.Status != smpp.StatusOK {
					t.Fatal(statusOf(p))
				}
				ids[k] = p.MessageID()
			}
			msgs := s.Messages()
			if len(msgs) != 2 {
				t.Fatalf("%d messages: %+v", len(msgs), msgs)
			}
			m := msgs[1]
			if m.Text != long || m.Parts != 3 || !slices.Equal(m.MessageIDs, ids) || m.Dest != "13800138000" {
				t.Errorf("reassembled %q (%d parts, ids %v), want %q ids %v", m.Text, m.Parts, m.MessageIDs, long, ids)
			}
			if msgs[0].Text != "short" {
				t.Errorf("first message %q", msgs[0].Text)
			}
			if got := len(e.receipts(3, 5*time.Second)); got != 3 {
				t.Errorf("%d receipts, want one a part", got)
			}
		})
	}
}

func TestGSM7(t *testing.T) {
	text := "Hello @ 12123 {test} [x] ~ € £ ^|\\"
	b, err := coding.EncodeGSM7(text)
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, smsc.Config{})
	e := bind(t, s.Addr(), smpp.BindTransmitter, "gw")
	if p := e.submit(sm("12123", "13800138000", 0, b, 0)); p.Status != smpp.StatusOK {
		t.Fatal(statusOf(p))
	}
	if got := s.Messages()[0].Text; got != text {
		t.Errorf("got %q, want %q", got, text)
	}
}

func TestThrottle(t *testing.T) {
	s := start(t, smsc.Config{TPS: 5})
	e := bind(t, s.Addr(), smpp.BindTransceiver, "gw")
	var chans []chan *smpp.PDU
	for range 40 {
		chans = append(chans, e.start(&smpp.PDU{Command: smpp.SubmitSM, Body: sm("12123", "13800138000", 0, []byte("x"), 0)}))
	}
	var ok, throttled int
	for _, ch := range chans {
		p := <-ch
		switch p.Status {
		case smpp.StatusOK:
			ok++
		case smpp.Status(smsc.StatusThrottled):
			throttled++
		default:
			t.Errorf("status %v", p.Status)
		}
	}
	// A burst of one second's worth passes, plus what refills while 40
	// PDUs cross loopback (a little).
	if ok < 5 || ok > 15 || throttled != 40-ok {
		t.Errorf("%d accepted, %d throttled", ok, throttled)
	}
	if st := s.Stats(); st.Throttled != uint64(throttled) || st.Messages != uint64(ok) {
		t.Errorf("stats %+v", st)
	}
}

func TestFaults(t *testing.T) {
	msg := func() *smpp.SM { return sm("12123", "13800138000", 0, []byte("fault"), 1) }
	t.Run("queue full", func(t *testing.T) {
		s := start(t, smsc.Config{Faults: smsc.Faults{QueueFull: 1}})
		e := bind(t, s.Addr(), smpp.BindTransceiver, "gw")
		if p := e.submit(msg()); p.Status != smpp.Status(smsc.StatusQueueFull) {
			t.Fatalf("got %s", statusOf(p))
		}
		if err := s.SetFaults(smsc.Faults{}); err != nil {
			t.Fatal(err)
		}
		if p := e.submit(msg()); p.Status != smpp.StatusOK {
			t.Fatalf("after clearing: %s", statusOf(p))
		}
		if st := s.Stats(); st.QueueFull != 1 || st.Messages != 1 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("slow response", func(t *testing.T) {
		s := start(t, smsc.Config{Faults: smsc.Faults{SlowResponse: 200 * time.Millisecond}})
		e := bind(t, s.Addr(), smpp.BindTransceiver, "gw")
		t0 := time.Now()
		if p := e.submit(msg()); p.Status != smpp.StatusOK {
			t.Fatal(statusOf(p))
		}
		if d := time.Since(t0); d < 200*time.Millisecond {
			t.Errorf("answered after %v", d)
		}
	})
	t.Run("no response", func(t *testing.T) {
		s := start(t, smsc.Config{Faults: smsc.Faults{NoResponse: 1}})
		e := bind(t, s.Addr(), smpp.BindTransceiver, "gw")
		ch := e.start(&smpp.PDU{Command: smpp.SubmitSM, Body: msg()})
		r := e.receipts(1, 5*time.Second)[0] // accepted and delivered all the same
		select {
		case p := <-ch:
			t.Fatalf("answered: %s", statusOf(p))
		case <-time.After(200 * time.Millisecond):
		}
		subs := s.Submits()
		if len(subs) != 1 || subs[0].Answered || subs[0].MessageID != r.MessageID || len(s.Messages()) != 1 {
			t.Errorf("submits %+v", subs)
		}
		if s.Stats().Unanswered != 1 {
			t.Errorf("stats %+v", s.Stats())
		}
	})
	t.Run("drop after", func(t *testing.T) {
		s := start(t, smsc.Config{Faults: smsc.Faults{DropAfter: 3}})
		e := bind(t, s.Addr(), smpp.BindTransmitter, "gw") // receipts wait for a receiver
		var chans []chan *smpp.PDU
		for range 6 {
			chans = append(chans, e.start(&smpp.PDU{Command: smpp.SubmitSM, Body: msg()}))
		}
		answered := 0
		for _, ch := range chans {
			if p, ok := <-ch; ok && p.Status == smpp.StatusOK {
				answered++
			}
		}
		if answered != 3 {
			t.Errorf("%d answered before the drop, want 3", answered)
		}
		<-e.done
		if st := s.Stats(); st.ConnsDropped != 1 || st.Messages != 3 {
			t.Errorf("stats %+v", st)
		}
		// The receipts of the 3 accepted wait for the next bind.
		e2 := bind(t, s.Addr(), smpp.BindReceiver, "gw")
		e2.receipts(3, 5*time.Second)
	})
	t.Run("receipt before response", func(t *testing.T) {
		s := start(t, smsc.Config{Faults: smsc.Faults{ReceiptFirst: true}})
		e := bind(t, s.Addr(), smpp.BindTransceiver, "gw")
		p := e.submit(msg())
		r := e.receipts(1, 5*time.Second)[0]
		if r.MessageID != p.MessageID() {
			t.Errorf("receipt for %q, response %q", r.MessageID, p.MessageID())
		}
		e.mu.Lock()
		events := slices.Clone(e.events)
		e.mu.Unlock()
		if !slices.Equal(events, []string{"resp", "deliver", "resp"}) { // bind_resp, receipt, submit_sm_resp
			t.Errorf("order %v", events)
		}
	})
	t.Run("receipt on another bind", func(t *testing.T) {
		s := start(t, smsc.Config{Faults: smsc.Faults{ReceiptOtherBind: true}})
		a := bind(t, s.Addr(), smpp.BindTransceiver, "gw")
		b := bind(t, s.Addr(), smpp.BindTransceiver, "gw")
		p := a.submit(msg())
		if r := b.receipts(1, 5*time.Second)[0]; r.MessageID != p.MessageID() {
			t.Errorf("receipt %q for %q", r.MessageID, p.MessageID())
		}
		a.noMore(100 * time.Millisecond)
	})
	t.Run("duplicate receipts", func(t *testing.T) {
		s := start(t, smsc.Config{Faults: smsc.Faults{DuplicateReceipts: 1}})
		e := bind(t, s.Addr(), smpp.BindTransceiver, "gw")
		p := e.submit(msg())
		rs := e.receipts(2, 5*time.Second)
		if rs[0].MessageID != p.MessageID() || rs[1].MessageID != p.MessageID() {
			t.Errorf("receipts %+v", rs)
		}
		eventually(t, "both settled", func() bool { return s.Stats().Receipts["DELIVRD"] == 2 })
		if st := s.Stats(); st.Duplicated != 1 || st.Messages != 1 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("refuse binds", func(t *testing.T) {
		s := start(t, smsc.Config{Faults: smsc.Faults{RefuseBinds: true}})
		if got := dial(t, s.Addr()).bind(smpp.BindTransceiver, "gw", "x"); got != smpp.Status(smsc.StatusBindFailed) {
			t.Errorf("bind %v", got)
		}
	})
	t.Run("down", func(t *testing.T) {
		s := start(t, smsc.Config{})
		e := bind(t, s.Addr(), smpp.BindTransceiver, "gw")
		if err := s.SetFaults(smsc.Faults{Down: 300 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		<-e.done // the bind is dropped
		if nc, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
			nc.Close()
			t.Fatal("dial succeeded while down")
		}
		eventually(t, "up again", func() bool {
			nc, err := net.Dial("tcp", s.Addr())
			if err == nil {
				nc.Close()
			}
			return err == nil
		})
		e2 := bind(t, s.Addr(), smpp.BindTransceiver, "gw")
		if p := e2.submit(msg()); p.Status != smpp.StatusOK {
			t.Error(statusOf(p))
		}
	})
	t.Run("invalid", func(t *testing.T) {
		s := start(t, smsc.Config{})
		if err := s.SetFaults(smsc.Faults{QueueFull: 2}); !errors.Is(err, smsc.ErrConfig) {
			t.Errorf("got %v", err)
		}
	})
}

func TestRedelivery(t *testing.T) {
	t.Run("error status", func(t *testing.T) {
		s := start(t, smsc.Config{RedeliveryDelay: 10 * time.Millisecond})
		e := bind(t, s.Addr(), smpp.BindTransceiver, "gw")
		n := 0
		e.setAck(func(*smpp.PDU) (smpp.Status, bool) {
			n++
			if n == 1 {
				return smpp.Status(0x08), true // ESME_RSYSERR: temporary
			}
			return smpp.StatusOK, true
		})
		p := e.submit(sm("12123", "13800138000", 0, []byte("x"), 1))
		rs := e.receipts(2, 5*time.Second)
		if rs[0].MessageID != p.MessageID() || rs[1].MessageID != p.MessageID() {
			t.Errorf("receipts %+v", rs)
		}
		eventually(t, "settled", func() bool { return s.Stats().Receipts["DELIVRD"] == 1 })
		if st := s.Stats(); st.Redelivered != 1 || st.ReceiptsSent != 2 || st.ReceiptsPending != 0 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("timeout, bounded", func(t *testing.T) {
		s := start(t, smsc.Config{ReceiptTimeout: 50 * time.Millisecond, RedeliveryDelay: 10 * time.Millisecond, MaxRedeliveries: 2})
		e := bind(t, s.Addr(), smpp.BindTransceiver, "gw")
		e.setAck(func(*smpp.PDU) (smpp.Status, bool) { return 0, false })
		e.submit(sm("12123", "13800138000", 0, []byte("x"), 1))
		e.receipts(3, 5*time.Second) // first try and two redeliveries
		eventually(t, "given up", func() bool { return s.Stats().ReceiptsFailed == 1 })
		e.noMore(200 * time.Millisecond)
		if st := s.Stats(); st.ReceiptsPending != 0 || st.Redelivered != 2 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("receiver bound later", func(t *testing.T) {
		s := start(t, smsc.Config{})
		tx := bind(t, s.Addr(), smpp.BindTransmitter, "gw")
		p := tx.submit(sm("12123", "13800138000", 0, []byte("x"), 1))
		tx.noMore(50 * time.Millisecond)
		other := bind(t, s.Addr(), smpp.BindReceiver, "someone-else")
		rx := bind(t, s.Addr(), smpp.BindReceiver, "gw")
		if r := rx.receipts(1, 5*time.Second)[0]; r.MessageID != p.MessageID() {
			t.Errorf("receipt %q for %q", r.MessageID, p.MessageID())
		}
		other.noMore(50 * time.Millisecond)
	})
}

func TestSession(t *testing.T) {
	s := start(t, smsc.Config{EnquireLink: 30 * time.Millisecond})
	e := bind(t, s.Addr(), smpp.BindTransceiver, "gw")
	t.Run("generic_nack for unknown", func(t *testing.T) {
		p := e.call(&smpp.PDU{Command: smpp.CommandID(0x00000777), Body: &smpp.Raw{Data: []byte{1, 2}}})
		if p == nil || p.Command != smpp.GenericNack || p.Status != smpp.Status(smsc.StatusInvalidCmdID) {
			t.Fatalf("got %s", statusOf(p))
		}
		if p := e.submit(sm("12123", "13800138000", 0, []byte("x"), 0)); p.Status != smpp.StatusOK {
			t.Fatalf("link unusable after: %s", statusOf(p))
		}
	})
	t.Run("enquire_link both ways", func(t *testing.T) {
		if p := e.call(&smpp.PDU{Command: smpp.EnquireLink}); p == nil || p.Command != smpp.EnquireLinkResp {
			t.Fatalf("got %s", statusOf(p))
		}
		select {
		case p := <-e.others:
			if p.Command != smpp.EnquireLink {
				t.Fatalf("got %s", p)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("no enquire_link from the SMSC")
		}
	})
	t.Run("unbind from the ESME", func(t *testing.T) {
		e2 := bind(t, s.Addr(), smpp.BindTransceiver, "gw")
		if p := e2.call(&smpp.PDU{Command: smpp.Unbind}); p == nil || p.Command != smpp.UnbindResp {
			t.Fatalf("got %s", statusOf(p))
		}
		<-e2.done
	})
	t.Run("unbind from the SMSC", func(t *testing.T) {
		s2 := smsc.New(smsc.Config{})
		if err := s2.Listen("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		e3 := bind(t, s2.Addr(), smpp.BindTransceiver, "gw")
		if err := s2.Close(); err != nil {
			t.Fatal(err)
		}
		var got []smpp.CommandID
		for len(e3.others) > 0 {
			got = append(got, (<-e3.others).Command)
		}
		if !slices.Contains(got, smpp.Unbind) {
			t.Errorf("ESME saw %v, want an unbind", got)
		}
		if err := s2.Listen("127.0.0.1:0"); !errors.Is(err, smsc.ErrClosed) {
			t.Errorf("listen after close: %v", err)
		}
	})
}

func TestRecordsBounded(t *testing.T) {
	s := start(t, smsc.Config{MaxRecords: 10})
	e := bind(t, s.Addr(), smpp.BindTransceiver, "gw")
	for i := range 25 {
		e.submit(sm("12123", "13800138000", 0, []byte{'a' + byte(i)}, 0))
	}
	subs, msgs := s.Submits(), s.Messages()
	if len(subs) != 10 || len(msgs) != 10 || subs[9].Text != "y" || msgs[0].Text != "p" {
		t.Errorf("%d submits, %d messages, last %q first %q", len(subs), len(msgs), subs[len(subs)-1].Text, msgs[0].Text)
	}
	if st := s.Stats(); st.Submits != 25 || st.Messages != 25 {
		t.Errorf("stats %+v", st)
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  smsc.Config
	}{
		{"id format", smsc.Config{IDFormat: "base64"}},
		{"stat", smsc.Config{Outcomes: map[string]float64{"DELIVERED": 1}}},
		{"zero weights", smsc.Config{Outcomes: map[string]float64{"DELIVRD": 0}}},
		{"fault fraction", smsc.Config{Faults: smsc.Faults{NoResponse: -1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := smsc.New(tt.cfg).Listen("127.0.0.1:0"); !errors.Is(err, smsc.ErrConfig) {
				t.Errorf("got %v", err)
			}
		})
	}
	got, err := smsc.ParseOutcomes("DELIVRD=0.95, undeliv=0.03,EXPIRED=0.01,REJECTD=0.01")
	if err != nil || got["UNDELIV"] != 0.03 || len(got) != 4 {
		t.Errorf("ParseOutcomes: %v %v", got, err)
	}
	if _, err := smsc.ParseOutcomes("DELIVRD"); err == nil {
		t.Error("ParseOutcomes accepted a bare stat")
	}
}

func TestReceiptsSurviveLostBind(t *testing.T) {
	s := start(t, smsc.Config{RedeliveryDelay: 10 * time.Millisecond})
	a := bind(t, s.Addr(), smpp.BindTransceiver, "gw")
	a.setAck(func(*smpp.PDU) (smpp.Status, bool) { return 0, false }) // never answers
	p := a.submit(sm("12123", "13800138000", 0, []byte("x"), 1))
	a.receipts(1, 5*time.Second)
	a.nc.Close() // in flight, unanswered: the SMSC must send it again elsewhere
	<-a.done
	b := bind(t, s.Addr(), smpp.BindReceiver, "gw")
	if r := b.receipts(1, 5*time.Second)[0]; r.MessageID != p.MessageID() {
		t.Errorf("receipt %q for %q", r.MessageID, p.MessageID())
	}
	eventually(t, "settled", func() bool { return s.Stats().Receipts["DELIVRD"] == 1 })
	if st := s.Stats(); st.Redelivered != 1 || st.ReceiptsPending != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestPendingReceiptsBounded(t *testing.T) {
	s := start(t, smsc.Config{MaxPendingReceipts: 2})
	tx := bind(t, s.Addr(), smpp.BindTransmitter, "gw") // nobody to take receipts
	for i := range 5 {
		want := smpp.StatusOK
		if i >= 2 {
			want = smpp.Status(smsc.StatusQueueFull)
		}
		if p := tx.submit(sm("12123", "13800138000", 0, []byte("x"), 1)); p.Status != want {
			t.Fatalf("submit %d: %s", i, statusOf(p))
		}
	}
	p := tx.submit(sm("12123", "13800138000", 0, []byte("no receipt wanted"), 0))
	if p.Status != smpp.StatusOK {
		t.Errorf("submit without receipt: %s", statusOf(p))
	}
	if st := s.Stats(); st.ReceiptsPending != 2 || st.QueueFull != 3 || st.Accepted != 3 || st.ReceiptsDropped != 0 {
		t.Errorf("stats %+v", st)
	}
	if err := s.Deliver(smsc.MO{SystemID: "gw", From: "13800138000", To: "12123", Text: "TD"}); !errors.Is(err, smsc.ErrBusy) {
		t.Errorf("Deliver at the bound: %v", err)
	}
	rx := bind(t, s.Addr(), smpp.BindReceiver, "gw")
	rx.receipts(2, 5*time.Second)
	rx.noMore(50 * time.Millisecond)
}

// TestManyBindsWithFaults runs several binds at once with mixed faults and
// checks that nothing is lost: every accepted message reaches its handset
// once and gets at least one receipt, and every receipt settles.
func TestManyBindsWithFaults(t *testing.T) {
	s := start(t, smsc.Config{
		Seed: 42, RedeliveryDelay: 5 * time.Millisecond, MaxRedeliveries: 10,
		Outcomes: map[string]float64{"DELIVRD": 0.9, "UNDELIV": 0.1},
		Faults:   smsc.Faults{DuplicateReceipts: 0.1, NoResponse: 0.05, QueueFull: 0.05, ReceiptOtherBind: true},
	})
	const binds, per = 4, 300
	var es []*esme
	for i := range binds {
		e := bind(t, s.Addr(), smpp.BindTransceiver, "gw")
		n := 0
		e.setAck(func(*smpp.PDU) (smpp.Status, bool) {
			n++
			if n%10 == i { // every tenth receipt refused once in a while
				return smpp.Status(0x64), true // ESME_RX_T_APPN
			}
			return smpp.StatusOK, true
		})
		es = append(es, e)
	}
	var wg sync.WaitGroup
	chans := make([][]chan *smpp.PDU, binds)
	for i, e := range es {
		wg.Go(func() {
			for k := range per {
				chans[i] = append(chans[i], e.start(&smpp.PDU{Command: smpp.SubmitSM, Body: sm("12123", fmt.Sprintf("1380000%04d", i*per+k), 0, []byte("m"), 1)}))
			}
		})
	}
	wg.Wait()
	total := 0 // responses received; the NoResponse ones never come
	eventually(t, "all answers", func() bool {
		for i := range chans {
			chans[i] = slices.DeleteFunc(chans[i], func(ch chan *smpp.PDU) bool {
				select {
				case <-ch:
					total++
					return true
				default:
					return false
				}
			})
		}
		return uint64(total)+s.Stats().Unanswered == binds*per
	})
	eventually(t, "receipts settled", func() bool { return s.Stats().ReceiptsPending == 0 })
	st := s.Stats()
	if st.Submits != binds*per || uint64(total)+st.Unanswered != st.Submits {
		t.Errorf("%d answered + %d unanswered, %d submits", total, st.Unanswered, st.Submits)
	}
	if st.Accepted != st.Submits-st.QueueFull || st.Messages != st.Accepted || st.ReceiptsFailed != 0 {
		t.Errorf("stats %+v", st)
	}
	if st.Redelivered == 0 || st.Duplicated == 0 || st.Unanswered == 0 || st.QueueFull == 0 {
		t.Errorf("faults did not all fire: %+v", st)
	}
	var settled uint64
	for _, n := range st.Receipts {
		settled += n
	}
	if settled != st.Accepted+st.Duplicated {
		t.Errorf("%d receipts settled, want %d accepted + %d duplicates", settled, st.Accepted, st.Duplicated)
	}
	accepted := map[string]bool{}
	for _, sub := range s.Submits() {
		if sub.MessageID != "" {
			accepted[sub.MessageID] = true
		}
	}
	got := map[string]bool{}
	for _, e := range es {
	drain:
		for {
			select {
			case p := <-e.delivers:
				r, err := smpp.ParseReceipt(p.SM())
				if err != nil || !accepted[r.MessageID] {
					t.Fatalf("receipt %+v, %v", r, err)
				}
				got[r.MessageID] = true
			default:
				break drain
			}
		}
	}
	if len(got) != len(accepted) {
		t.Errorf("receipts for %d ids, %d accepted", len(got), len(accepted))
	}
	handsets := map[string]int{}
	for _, m := range s.Messages() {
		handsets[m.Dest]++
	}
	for d, n := range handsets {
		if n != 1 {
			t.Errorf("%s got %d messages", d, n)
		}
	}
}

func TestDeliverMO(t *testing.T) {
	long := strings.Repeat("退订", 40) // 80 UCS2 units: two parts
	tests := []struct {
		name, text string
		dc         byte
		parts      int
	}{
		{"gsm7 keyword", "TD", 0, 1},
		{"ucs2", "退订 TD", 8, 1},
		{"long ucs2", long, 8, 2},
		{"long gsm7", strings.Repeat("STOP ", 40), 0, 2},
	}
	s := start(t, smsc.Config{})
	rx := bind(t, s.Addr(), smpp.BindReceiver, "gw")
	var want uint64
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Deliver(smsc.MO{SystemID: "gw", From: "13800138000", To: "12123", Text: tt.text}); err != nil {
				t.Fatal(err)
			}
			var text []byte
			for i := range tt.parts {
				var p *smpp.PDU
				select {
				case p = <-rx.delivers:
				case <-time.After(5 * time.Second):
					t.Fatalf("part %d missing", i+1)
				}
				m := p.SM()
				if m.ESMClass&smpp.ESMClassTypeMsk != 0 || m.DataCoding != tt.dc || m.Source.Addr != "13800138000" || m.Dest.Addr != "12123" {
					t.Fatalf("deliver_sm %+v", m)
				}
				body := m.ShortMessage
				if tt.parts > 1 {
					if m.ESMClass&smpp.ESMClassUDHI == 0 || body[0] != 5 || int(body[4]) != tt.parts || int(body[5]) != i+1 {
						t.Fatalf("part %d header % x", i+1, body[:6])
					}
					body = body[6:]
				}
				text = append(text, body...)
			}
			var got string
			if tt.dc == 8 {
				got, _ = coding.DecodeUCS2(text)
			} else {
				got, _ = coding.DecodeGSM7(text)
			}
			if got != tt.text {
				t.Errorf("got %q, want %q", got, tt.text)
			}
			want += uint64(tt.parts)
			eventually(t, "acknowledged", func() bool { return s.Stats().MODelivered == want })
		})
	}
	if err := s.Deliver(smsc.MO{SystemID: "gw", Text: "x"}); !errors.Is(err, smsc.ErrConfig) {
		t.Errorf("MO without addresses: %v", err)
	}
}

func TestReceiptTextIDDecimal(t *testing.T) {
	s := start(t, smsc.Config{Faults: smsc.Faults{ReceiptTextIDDecimal: true}})
	e := bind(t, s.Addr(), smpp.BindTransceiver, "gw")
	p := e.submit(sm("12123", "13800138000", 0, []byte("x"), 1))
	r := e.receipts(1, 5*time.Second)[0]
	hex := p.MessageID()
	var v uint64
	fmt.Sscanf(hex, "%x", &v)
	if r.MessageID != hex || r.TextID != fmt.Sprint(v) {
		t.Errorf("TLV id %q text id %q; submit_sm_resp %q (= %d)", r.MessageID, r.TextID, hex, v)
	}
}

func TestServe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := smsc.New(smsc.Config{})
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, "127.0.0.1:0") }()
	eventually(t, "listening", func() bool { return s.Addr() != "" })
	e := bind(t, s.Addr(), smpp.BindTransceiver, "gw")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	<-e.done // unbound and closed
}
