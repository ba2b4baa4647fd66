package ivr

import (
	"context"
	"time"
)

// CDR is the record of one call. Caller is masked (138****5678).
type CDR struct {
	CallID       string    `json:"call_id"`
	Caller       string    `json:"caller"`
	Called       string    `json:"called"`
	Transport    string    `json:"transport"`
	Codec        string    `json:"codec"`
	LateOffer    bool      `json:"late_offer,omitempty"` // the INVITE had no SDP: offer in 200 OK, answer in ACK
	Start        time.Time `json:"start"`
	Answer       time.Time `json:"answer,omitzero"`
	End          time.Time `json:"end"`
	Path         []string  `json:"path"`
	Keys         int       `json:"keys"`
	Verification string    `json:"verification"` // none, ok, failed, locked, not_registered
	Queries      []string  `json:"queries,omitempty"`
	Transfer     string    `json:"transfer,omitempty"` // "<name>:<result>"
	Cause        string    `json:"cause"`              // caller_hangup, no_input, done, transferred, agent_unavailable, locked, error, shutdown ...

	// Outbound notice calls (Dialler) only. Caller is then the caller id
	// (12123) and Called the masked callee.
	Direction string `json:"direction,omitempty"` // "outbound"; empty for inbound calls
	NoticeID  string `json:"notice_id,omitempty"`
	Outcome   string `json:"outcome,omitempty"`    // confirmed, answered_unconfirmed, busy, no_answer, failed
	SIPStatus int    `json:"sip_status,omitempty"` // final INVITE status
	Plays     int    `json:"plays,omitempty"`      // times the notice was played
}

// CDRSink stores call detail records. Record is called once per answered
// call, after it ended, off the media path.
type CDRSink interface {
	Record(ctx context.Context, c CDR) error
}

// MaskPhone keeps the first 3 and last 4 digits: 138****5678.
func MaskPhone(p string) string {
	r := []rune(p)
	if len(r) <= 7 {
		if len(r) <= 2 {
			return "***"
		}
		return string(r[:1]) + "***" + string(r[len(r)-1:])
	}
	out := make([]rune, len(r))
	for i := range r {
		if i < 3 || i >= len(r)-4 {
			out[i] = r[i]
		} else {
			out[i] = '*'
		}
	}
	return string(out)
}
