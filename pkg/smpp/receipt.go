package smpp

import (
	"fmt"
	"strings"
	"time"

	"github.com/traffic12123/gateway/pkg/smpp/coding"
)

// MessageState is the message_state TLV (SMPP 3.4 section 5.2.28).
type MessageState byte

// Message states.
const (
	StateEnroute       MessageState = 1
	StateDelivered     MessageState = 2
	StateExpired       MessageState = 3
	StateDeleted       MessageState = 4
	StateUndeliverable MessageState = 5
	StateAccepted      MessageState = 6
	StateUnknown       MessageState = 7
	StateRejected      MessageState = 8
)

var stateStats = map[MessageState]string{
	StateEnroute: "ENROUTE", StateDelivered: "DELIVRD", StateExpired: "EXPIRED", StateDeleted: "DELETED",
	StateUndeliverable: "UNDELIV", StateAccepted: "ACCEPTD", StateUnknown: "UNKNOWN", StateRejected: "REJECTD",
}

// Stat returns the receipt text's seven-letter stat for s ("DELIVRD"…),
// "" for values outside SMPP 3.4.
func (s MessageState) Stat() string { return stateStats[s] }

// Final reports whether no later receipt is expected.
func (s MessageState) Final() bool {
	return s >= StateDelivered && s <= StateRejected && s != StateAccepted
}

// StateFromStat maps a receipt stat ("DELIVRD", "UNDELIV", …; case and the
// common long spellings "DELIVERED", "UNDELIVERABLE", "REJECTED" accepted)
// to a MessageState, 0 if unknown.
func StateFromStat(stat string) MessageState {
	switch strings.ToUpper(stat) {
	case "ENROUTE":
		return StateEnroute
	case "DELIVRD", "DELIVERED":
		return StateDelivered
	case "EXPIRED":
		return StateExpired
	case "DELETED":
		return StateDeleted
	case "UNDELIV", "UNDELIVERABLE":
		return StateUndeliverable
	case "ACCEPTD", "ACCEPTED":
		return StateAccepted
	case "UNKNOWN":
		return StateUnknown
	case "REJECTD", "REJECTED":
		return StateRejected
	}
	return 0
}

// Receipt is an SMSC delivery receipt.
type Receipt struct {
	// MessageID is the id the SMSC gave in submit_sm_resp: the
	// receipted_message_id TLV when present, else the text's id.
	MessageID string
	TextID    string // id: from the text, as written (some SMSCs write it in decimal where submit_sm_resp was hex)

	Sub        string // sub: parts submitted
	Dlvrd      string // dlvrd: parts delivered
	SubmitDate string // submit date: YYMMDDhhmm[ss], SMSC local time
	DoneDate   string // done date:
	Stat       string // stat: DELIVRD, EXPIRED, DELETED, UNDELIV, ACCEPTD, UNKNOWN, REJECTD, ENROUTE
	Err        string // err: network specific error code
	Text       string // text: first characters of the message

	// State is the message_state TLV when present, else derived from Stat.
	State        MessageState
	NetworkError []byte // network_error_code TLV (type octet + 2-octet code), if present

	Source Address // the handset that received the message
	Dest   Address // the ESME's source address
}

// receiptKeys are the fields of the de facto receipt text (SMPP 3.4
// appendix B), in the order they normally appear.
var receiptKeys = []string{"id:", "sub:", "dlvrd:", "submit date:", "done date:", "stat:", "err:", "text:"}

// ParseReceiptText parses the receipt text
//
//	id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text:...
//
// Keys are matched without regard to case, may come in any order, and may
// be missing except id and stat; "text:" takes the rest of the string.
func ParseReceiptText(s string) (Receipt, error) {
	var r Receipt
	// ASCII-only lowering keeps byte offsets equal to s's, whatever s holds.
	lb := []byte(s)
	for i, c := range lb {
		if 'A' <= c && c <= 'Z' {
			lb[i] = c + 'a' - 'A'
		}
	}
	lower := string(lb)
	type hit struct{ key, at int }
	var hits []hit
	for k, key := range receiptKeys {
		from := 0
		for {
			i := strings.Index(lower[from:], key)
			if i < 0 {
				break
			}
			i += from
			if i == 0 || lower[i-1] == ' ' {
				hits = append(hits, hit{k, i})
				break
			}
			from = i + 1
		}
	}
	// Order by position; keep the first occurrence of each key, and drop
	// keys that fall inside text:.
	for i := 1; i < len(hits); i++ {
		for j := i; j > 0 && hits[j].at < hits[j-1].at; j-- {
			hits[j], hits[j-1] = hits[j-1], hits[j]
		}
	}
	for i, h := range hits {
		key := receiptKeys[h.key]
		start := h.at + len(key)
		end := len(s)
		if key != "text:" && i+1 < len(hits) {
			end = hits[i+1].at
		}
		if start > end {
			start = end
		}
		v := strings.TrimSpace(s[start:end])
		switch key {
		case "id:":
			r.TextID = v
		case "sub:":
			r.Sub = v
		case "dlvrd:":
			r.Dlvrd = v
		case "submit date:":
			r.SubmitDate = v
		case "done date:":
			r.DoneDate = v
		case "stat:":
			r.Stat = strings.ToUpper(v)
		case "err:":
			r.Err = v
		case "text:":
			r.Text = s[start:]
		}
		if key == "text:" {
			break
		}
	}
	if r.TextID == "" || r.Stat == "" {
		return r, fmt.Errorf("%w: receipt text lacks id or stat", ErrNotReceipt)
	}
	r.MessageID = r.TextID
	r.State = StateFromStat(r.Stat)
	return r, nil
}

// ParseReceipt reads a delivery receipt from a deliver_sm (or data_sm
// turned into an SM by the caller). It fails with ErrNotReceipt if
// esm_class does not mark a receipt or neither the TLVs nor the text carry
// a message id and a state.
func ParseReceipt(sm *SM) (Receipt, error) {
	if sm.ESMClass&ESMClassTypeMsk != ESMClassReceipt {
		return Receipt{}, ErrNotReceipt
	}
	body := sm.ShortMessage
	if len(body) == 0 {
		body, _ = sm.TLVs.Get(TagMessagePayload)
	}
	var text string
	if sm.DataCoding == 0x08 {
		text, _ = coding.DecodeUCS2(body)
	} else {
		// Receipt text is ASCII in practice whatever data_coding says;
		// reading it as GSM 7-bit would turn '_' and '@' into other letters.
		text = coding.DecodeLatin1(body)
	}
	r, textErr := ParseReceiptText(text)
	if id, ok := sm.TLVs.String(TagReceiptedMessageID); ok && id != "" {
		r.MessageID = id
	}
	if st, ok := sm.TLVs.Uint8(TagMessageState); ok {
		r.State = MessageState(st)
		if r.Stat == "" {
			r.Stat = r.State.Stat()
		}
	}
	if ne, ok := sm.TLVs.Get(TagNetworkErrorCode); ok {
		r.NetworkError = ne
	}
	r.Source, r.Dest = sm.Source, sm.Dest
	if r.MessageID == "" || r.State == 0 {
		if textErr != nil {
			return r, textErr
		}
		return r, fmt.Errorf("%w: no message id or state", ErrNotReceipt)
	}
	return r, nil
}

// ParseReceiptTime parses a receipt date (YYMMDDhhmm or YYMMDDhhmmss) in
// the SMSC's time zone.
func ParseReceiptTime(s string, loc *time.Location) (time.Time, error) {
	switch len(s) {
	case 10:
		return time.ParseInLocation("0601021504", s, loc)
	case 12:
		return time.ParseInLocation("060102150405", s, loc)
	}
	return time.Time{}, fmt.Errorf("smpp: receipt date %q: want YYMMDDhhmm[ss]", s)
}

// ReceiptText formats a receipt text in the de facto format, as an SMSC
// (or the simulator) writes it. Dates are formatted YYMMDDhhmm.
func ReceiptText(id string, sub, dlvrd int, submit, done time.Time, stat, errCode, text string) string {
	if len(text) > 20 {
		text = text[:20]
	}
	return fmt.Sprintf("id:%s sub:%03d dlvrd:%03d submit date:%s done date:%s stat:%s err:%s text:%s",
		id, sub, dlvrd, submit.Format("0601021504"), done.Format("0601021504"), stat, errCode, text)
}
