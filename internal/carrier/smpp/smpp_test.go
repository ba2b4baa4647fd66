package smpp

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/traffic12123/gateway/internal/carrier"
	"github.com/traffic12123/gateway/internal/config"
	"github.com/traffic12123/gateway/internal/dispatch"
	"github.com/traffic12123/gateway/pkg/smpp"
)

// pkg/smpp's reasons and part outcomes are dispatch's, value for value:
// the connector passes them through as they are.
func TestReasonsAndOutcomesAreDispatchs(t *testing.T) {
	ours := []smpp.Reason{smpp.ReasonOK, smpp.ReasonThrottled, smpp.ReasonQueueFull, smpp.ReasonSMSC, smpp.ReasonRejected,
		smpp.ReasonTimeout, smpp.ReasonUnknown, smpp.ReasonNoBind, smpp.ReasonInvalid, smpp.ReasonCanceled}
	var got []string
	for _, r := range ours {
		got = append(got, string(r))
	}
	var want []string
	for _, r := range dispatch.Reasons {
		want = append(want, string(r))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("pkg/smpp reasons %v, dispatch reasons %v", got, want)
	}
	for p, d := range map[smpp.PartOutcome]dispatch.PartState{smpp.PartAccepted: dispatch.PartAccepted, smpp.PartRefused: dispatch.PartRefused,
		smpp.PartUnknown: dispatch.PartUnknown, smpp.PartNotSent: dispatch.PartNotSent, smpp.PartSkipped: dispatch.PartSkipped} {
		if string(p) != string(d) {
			t.Errorf("part outcome %q is %q in dispatch", p, d)
		}
	}
}

// Results, errors and callbacks translate without losing what the
// sender decides on: the error's classification is pkg/smpp's Classify,
// its text unchanged.
func TestTranslations(t *testing.T) {
	throttled := smpp.ErrThrottled
	res := result(smpp.Result{Ref: 513, Parts: 3, Outcomes: []smpp.PartResult{
		{Outcome: smpp.PartAccepted, ID: "a"},
		{Outcome: smpp.PartRefused, Status: throttled.Status, Reason: smpp.ReasonThrottled, Retry: true, Err: throttled},
		{Outcome: smpp.PartNotSent, Reason: smpp.ReasonCanceled, Retry: true, Err: throttled},
	}})
	if res.ConcatRef != 513 || len(res.Outcomes) != 3 {
		t.Fatalf("%+v", res)
	}
	if o := res.Outcomes[0]; o.State != dispatch.PartAccepted || o.ID != "a" || o.Err != nil || o.Code != "" {
		t.Errorf("accepted part %+v", o)
	}
	o := res.Outcomes[1]
	if o.State != dispatch.PartRefused || o.Code != "ESME_RTHROTTLED" || o.Reason != dispatch.ReasonThrottled || !o.Retry {
		t.Errorf("refused part %+v", o)
	}
	if retry, reason := dispatch.Classify(o.Err); !retry || reason != dispatch.ReasonThrottled || o.Err.Error() != throttled.Error() || !errors.Is(o.Err, throttled) {
		t.Errorf("refused part's error %v classified %v %s", o.Err, retry, reason)
	}
	if o := res.Outcomes[2]; o.State != dispatch.PartNotSent || o.Reason != dispatch.ReasonCanceled || o.Code != "" {
		t.Errorf("not sent part %+v", o)
	}
	if r := result(smpp.Result{}); r.Outcomes != nil {
		t.Errorf("nothing sent: %+v", r)
	}
	for _, tc := range []struct {
		err    error
		retry  bool
		reason dispatch.Reason
	}{
		{smpp.ErrTimeout, true, dispatch.ReasonTimeout},
		{smpp.ErrNotBound, true, dispatch.ReasonNoBind},
		{fmt.Errorf("%w: x", smpp.ErrInvalidMessage), false, dispatch.ReasonInvalid},
		{&smpp.RequestError{Command: smpp.SubmitSM, Sent: true, Err: errors.New("link lost")}, true, dispatch.ReasonUnknown},
	} {
		if retry, reason := dispatch.Classify(classified(tc.err)); retry != tc.retry || reason != tc.reason {
			t.Errorf("%v: %v %s, want %v %s", tc.err, retry, reason, tc.retry, tc.reason)
		}
	}
	if classified(nil) != nil {
		t.Error("nil error wrapped")
	}
	if l := late(smpp.Late{Ref: "7", Part: 2, Parts: 3, MessageID: "m", Status: smpp.StatusOK}); l != (dispatch.Late{Ref: "7", Part: 2, Parts: 3, Accepted: true, ID: "m"}) {
		t.Errorf("accepted late %+v", l)
	}
	if l := late(smpp.Late{Ref: "7", Part: 1, Parts: 1, Status: throttled.Status}); l.Accepted {
		t.Errorf("refused late %+v", l)
	}
	r := receipt(&smpp.Receipt{MessageID: "m", Stat: "DELIVRD", Err: "000", Text: "t", Source: smpp.Address{Addr: "8613800138000"}})
	if r != (dispatch.Receipt{MessageID: "m", Stat: "DELIVRD", Err: "000", From: "8613800138000", Text: "t"}) {
		t.Errorf("receipt %+v", r)
	}
	in := incoming(&smpp.Incoming{Source: smpp.Address{Addr: "138"}, Dest: smpp.Address{Addr: "12123"}, Text: "TD", Parts: 2, Partial: true})
	if in != (dispatch.Incoming{From: "138", To: "12123", Text: "TD", Parts: 2, Partial: true}) {
		t.Errorf("incoming %+v", in)
	}
}

// The smpp: section is read strictly, with lines; what pkg/smpp refuses
// is refused when the file is loaded, not when the gateway starts.
func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		section string // under "smpp:"
		want    string // "" for valid
	}{
		{"  system_id: \"12123\"\n  bind_type: transmitter\n  concat: sar\n  enquire_link: 30s\n  receiver_binds: 2\n", ""},
		{"  system_id: \"12123\"\n  tls: true\n  tls_ca_file: /ca.pem\n", ""},
		{"  system_type: x\n", "carriers[0].smpp.system_id: must not be empty"},
		{"  system_id: a\n  sytem_type: b\n", `line 3: carriers[0].smpp: unknown key "sytem_type"`},
		{"  system_id: a\n  receiver_binds: many\n", "line 3"},
		{"  system_id: a\n  receiver_binds: 65\n", "line 3: carriers[0].smpp.receiver_binds: 65 is outside 0..64"},
		{"  system_id: a\n  enquire_link: 11m\n", "carriers[0].smpp.enquire_link: 11m is outside 0s..10m0s"},
		{"  system_id: a\n  tls_ca_file: /ca.pem\n", "tls_ca_file: set without tls: true"},
		{"  system_id: a\n  concat: zip\n", `concat "zip"`},
		{"  system_id: a\n  bind_type: both\n", "both"},
		{"  system_id: a_system_id_too_long\n", "system_id: at most 15 characters"},
		{"  - a\n", "want a mapping"},
	} {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte("smpp:\n"+tc.section), &doc); err != nil {
			t.Fatal(err)
		}
		k := config.Carrier{Name: "china_mobile", Addr: "smsc:2775", Sections: map[string]yaml.Node{Name: *doc.Content[0].Content[1]}}
		err := check(&k, "carriers[0]")
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.section, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: error %v, want %q", tc.section, err, tc.want)
		}
	}
	if err := check(&config.Carrier{Name: "china_mobile", Addr: "smsc:2775"}, "carriers[0]"); err == nil || !strings.Contains(err.Error(), "system_id") {
		t.Errorf("no section at all: %v", err)
	}
}

// Sections writes what decode reads back, and New builds the client the
// section describes.
func TestSectionsAndNew(t *testing.T) {
	s := Section{SystemID: "12123", BindType: "transmitter", ReceiverBinds: 1, Concat: "payload", EnquireLink: config.Duration(5 * time.Second)}
	k := config.Carrier{Name: "china_mobile", Addr: "127.0.0.1:1", Binds: 2, Window: 8, TPS: 50, Source: "12123", Sections: Sections(s)}
	got, err := decode(&k, "carriers[0]")
	if err != nil || got != s {
		t.Fatalf("decoded %+v, %v; want %+v", got, err, s)
	}
	cc := clientConfig(&k, got, "pw")
	if cc.Mode != smpp.ModeTransmitter || cc.Concat != smpp.ConcatPayload || cc.ReceiverBinds != 1 || cc.Binds != 2 || cc.Window != 8 ||
		cc.TPS != 50 || cc.Source != "12123" || cc.Password != "pw" || cc.EnquireLink != 5*time.Second || cc.HandlerWorkers != DefaultReceiptWorkers {
		t.Errorf("client config %+v", cc)
	}
	c, err := New(k, carrierDeps(), smpp.NewMetrics(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.BindsUp() != 0 || c.Client().Name() != "china_mobile" {
		t.Errorf("a connector that never ran: %d binds, name %q", c.BindsUp(), c.Client().Name())
	}
	k.Sections = Sections(Section{SystemID: "12123", TLS: true, TLSCAFile: "/nonexistent/ca.pem"})
	if _, err := New(k, carrierDeps(), smpp.NewMetrics(nil)); err == nil || !strings.Contains(err.Error(), "ca.pem") {
		t.Errorf("a CA file that does not exist: %v", err)
	}
}

func carrierDeps() carrier.Deps { return carrier.Deps{Logger: slog.New(slog.DiscardHandler)} }
