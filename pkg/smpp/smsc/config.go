package smsc

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Message id formats for Config.IDFormat.
const (
	IDHex     = "hex"     // e.g. "1f3a9c0b27" (default)
	IDDecimal = "decimal" // e.g. "1000000123"
	IDUUID    = "uuid"    // e.g. "3f0c…-…" (RFC 4122 text form)
	IDPadded  = "padded"  // decimal, zero-padded to 16 digits, e.g. "0000001000000123"
)

// Receipt states (the stat: field).
const (
	StatDelivered     = "DELIVRD"
	StatUndeliverable = "UNDELIV"
	StatExpired       = "EXPIRED"
	StatRejected      = "REJECTD"
	StatDeleted       = "DELETED"
	StatUnknown       = "UNKNOWN"
	StatAccepted      = "ACCEPTD"
)

// statInfo maps a stat to its message_state TLV value and the err: code the
// simulator reports with it.
var statInfo = map[string]struct {
	state uint8
	err   string
}{
	StatDelivered:     {2, "000"},
	StatExpired:       {3, "027"},
	StatDeleted:       {4, "000"},
	StatUndeliverable: {5, "001"},
	StatAccepted:      {6, "000"},
	StatUnknown:       {7, "000"},
	StatRejected:      {8, "011"},
}

// Defaults.
const (
	DefaultName               = "SMSCSIM"
	DefaultEnquireLink        = 30 * time.Second
	DefaultReceiptWindow      = 64
	DefaultReceiptTimeout     = 5 * time.Second
	DefaultRedeliveryDelay    = time.Second
	DefaultMaxRedeliveries    = 3
	DefaultMaxPendingReceipts = 1 << 18
	DefaultMaxRecords         = 100_000
)

// Config configures a Server. The zero value is usable: any credentials,
// hex ids, immediate DELIVRD receipts, no TPS limit, no faults.
type Config struct {
	// SystemID and Password are the only credentials accepted; empty
	// accepts any bind.
	SystemID, Password string
	// IDFormat is IDHex (default), IDDecimal or IDUUID.
	IDFormat string
	// ReceiptDelay is how long after a submit its receipt is sent.
	ReceiptDelay time.Duration
	// Outcomes weighs receipt stats, e.g. {"DELIVRD": 0.95, "UNDELIV":
	// 0.05}. Empty: every receipt says DELIVRD.
	Outcomes map[string]float64
	// TPS limits submit_sm per second on each bind; the excess is answered
	// ESME_RTHROTTLED (0x58). 0 is unlimited. TPSBurst is the bucket size
	// (default TPS: one second's worth).
	TPS, TPSBurst int
	// Faults injected from the start; change them with SetFaults.
	Faults Faults
	// Seed makes the outcome mix and fault choices repeatable; 0 picks one.
	Seed int64
	// Logger receives bind events and faults; phone numbers are masked.
	Logger *slog.Logger
	// Registerer, if set, receives the simulator's metrics.
	Registerer prometheus.Registerer

	// TLS, when set, makes the simulator accept SMPP over TLS only.
	TLS *tls.Config

	// Location is the time zone of the receipt dates (default UTC; Chinese
	// carriers use Asia/Shanghai).
	Location *time.Location

	// Name is the system_id the SMSC answers binds with (DefaultName).
	Name string
	// EnquireLink is how often the SMSC sends enquire_link on an idle bind;
	// a bind silent for three periods is closed. Negative disables.
	EnquireLink time.Duration
	// ReceiptWindow is the number of unanswered deliver_sm per bind.
	ReceiptWindow int
	// ReceiptTimeout is how long to wait for a deliver_sm_resp before
	// redelivering; RedeliveryDelay spaces redeliveries; MaxRedeliveries
	// bounds them (after that the receipt is counted failed).
	ReceiptTimeout, RedeliveryDelay time.Duration
	MaxRedeliveries                 int
	// MaxPendingReceipts bounds receipts (and MO parts) not yet
	// acknowledged. At the bound, submit_sm asking for a receipt is
	// answered ESME_RMSGQFUL (0x14) and Deliver returns ErrBusy; a
	// duplicate (fault) or a part racing another bind past it is dropped
	// and counted.
	MaxPendingReceipts int
	// MaxRecords bounds what Submits and Messages keep (the latest ones);
	// negative records nothing. Stats always count everything.
	MaxRecords int
}

// Faults are misbehaviours a real SMSC shows, injected to test clients.
// Fractions are probabilities in [0,1] drawn per PDU.
type Faults struct {
	// QueueFull answers this fraction of submit_sm with ESME_RMSGQFUL (0x14).
	QueueFull float64
	// SlowResponse delays every submit_sm_resp.
	SlowResponse time.Duration
	// NoResponse never answers this fraction of submit_sm. The message is
	// still accepted, delivered and receipted (under an id the client never
	// saw): the "unknown outcome" case.
	NoResponse float64
	// DropAfter closes a bind's connection, without answering, when it
	// reads the submit_sm after the first DropAfter ones on that bind;
	// that submit and everything behind it in the window is lost.
	DropAfter int
	// ReceiptFirst sends each receipt before its submit_sm_resp.
	ReceiptFirst bool
	// ReceiptOtherBind sends receipts on another receiver bind of the same
	// system_id when there is one.
	ReceiptOtherBind bool
	// ReceiptTextIDDecimal writes the id: of the receipt text in decimal
	// when the message id is hex (the receipted_message_id TLV keeps the
	// id as given), as some SMSCs do.
	ReceiptTextIDDecimal bool
	// DuplicateReceipts sends this fraction of receipts twice.
	DuplicateReceipts float64
	// RefuseBinds answers every bind with ESME_RBINDFAIL (0x0D).
	RefuseBinds bool
	// Down, when set through SetFaults, drops every bind and closes the
	// listener for that long, then listens again on the same address.
	Down time.Duration

	// Throttle answers this fraction of submit_sm with ESME_RTHROTTLED
	// (0x58) whatever the rate: any part of a long message, so also in
	// the middle of one.
	Throttle float64
	// Late answers this fraction of accepted submit_sm LateBy after
	// reading them (set LateBy above the client's response timeout); the
	// message is delivered and receipted as usual.
	Late   float64
	LateBy time.Duration
	// EmptyReceiptText writes receipts with an empty text: field.
	EmptyReceiptText bool
	// ReceiptIDPadded writes the id: of the receipt text zero-padded to
	// 20 characters (the TLV keeps the id as given).
	ReceiptIDPadded bool
	// UnbindAfter sends unbind on a bind after every UnbindAfter-th
	// submit_sm it reads, holding that submit's response and writing it
	// right after the unbind; the bind closes when the ESME answers.
	UnbindAfter int
	// RestartIDsEvery starts message ids again from the first one after
	// every RestartIDsEvery accepted submits, as an SMSC restart does.
	RestartIDsEvery int
	// LoseReceipts never sends this fraction of receipts.
	LoseReceipts float64
}

// config is Config with defaults applied and outcomes compiled.
type config struct {
	Config
	location *time.Location
	stats    []string
	weights  []float64 // cumulative, last is 1
}

func (c Config) compile() (*config, error) {
	out := &config{Config: c}
	if out.IDFormat == "" {
		out.IDFormat = IDHex
	}
	switch out.IDFormat {
	case IDHex, IDDecimal, IDUUID, IDPadded:
	default:
		return nil, fmt.Errorf("%w: id format %q (want hex, decimal, padded or uuid)", ErrConfig, out.IDFormat)
	}
	if out.TPS < 0 || out.TPSBurst < 0 || out.ReceiptDelay < 0 {
		return nil, fmt.Errorf("%w: negative TPS, TPSBurst or ReceiptDelay", ErrConfig)
	}
	if out.TPSBurst == 0 {
		out.TPSBurst = out.TPS
	}
	out.location = out.Location
	if out.location == nil {
		out.location = time.UTC
	}
	if out.Name == "" {
		out.Name = DefaultName
	}
	if out.EnquireLink == 0 {
		out.EnquireLink = DefaultEnquireLink
	}
	if out.ReceiptWindow <= 0 {
		out.ReceiptWindow = DefaultReceiptWindow
	}
	if out.ReceiptTimeout <= 0 {
		out.ReceiptTimeout = DefaultReceiptTimeout
	}
	if out.RedeliveryDelay <= 0 {
		out.RedeliveryDelay = DefaultRedeliveryDelay
	}
	if out.MaxRedeliveries == 0 {
		out.MaxRedeliveries = DefaultMaxRedeliveries
	}
	if out.MaxPendingReceipts <= 0 {
		out.MaxPendingReceipts = DefaultMaxPendingReceipts
	}
	if out.MaxRecords == 0 {
		out.MaxRecords = DefaultMaxRecords
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	if err := validateFaults(out.Faults); err != nil {
		return nil, err
	}
	if len(out.Outcomes) == 0 {
		out.stats, out.weights = []string{StatDelivered}, []float64{1}
		return out, nil
	}
	var sum float64
	for stat, w := range out.Outcomes {
		if _, ok := statInfo[stat]; !ok {
			return nil, fmt.Errorf("%w: unknown receipt stat %q", ErrConfig, stat)
		}
		if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			return nil, fmt.Errorf("%w: weight of %s is %v", ErrConfig, stat, w)
		}
		sum += w
	}
	if sum <= 0 {
		return nil, fmt.Errorf("%w: outcome weights sum to 0", ErrConfig)
	}
	for stat := range out.Outcomes {
		out.stats = append(out.stats, stat)
	}
	sort.Strings(out.stats) // map order must not change the draws
	var acc float64
	for _, stat := range out.stats {
		acc += out.Outcomes[stat] / sum
		out.weights = append(out.weights, acc)
	}
	out.weights[len(out.weights)-1] = 1
	return out, nil
}

func validateFaults(f Faults) error {
	for name, v := range map[string]float64{"QueueFull": f.QueueFull, "NoResponse": f.NoResponse, "DuplicateReceipts": f.DuplicateReceipts,
		"Throttle": f.Throttle, "Late": f.Late, "LoseReceipts": f.LoseReceipts} {
		if v < 0 || v > 1 || math.IsNaN(v) {
			return fmt.Errorf("%w: fault %s=%v is not a fraction", ErrConfig, name, v)
		}
	}
	if f.SlowResponse < 0 || f.DropAfter < 0 || f.Down < 0 || f.LateBy < 0 || f.UnbindAfter < 0 || f.RestartIDsEvery < 0 {
		return fmt.Errorf("%w: negative fault value", ErrConfig)
	}
	return nil
}

// pick draws a stat for u in [0,1).
func (c *config) pick(u float64) string {
	for i, w := range c.weights {
		if u < w {
			return c.stats[i]
		}
	}
	return c.stats[len(c.stats)-1]
}

// ParseOutcomes parses "DELIVRD=0.95,UNDELIV=0.03,EXPIRED=0.01,REJECTD=0.01"
// into Config.Outcomes.
func ParseOutcomes(s string) (map[string]float64, error) {
	out := map[string]float64{}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("%w: outcome %q is not STAT=weight", ErrConfig, item)
		}
		k = strings.ToUpper(strings.TrimSpace(k))
		if _, known := statInfo[k]; !known {
			return nil, fmt.Errorf("%w: unknown receipt stat %q", ErrConfig, k)
		}
		w, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || w < 0 {
			return nil, fmt.Errorf("%w: weight %q of %s", ErrConfig, v, k)
		}
		out[k] = w
	}
	return out, nil
}
