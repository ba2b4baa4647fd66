package smgp

import (
	"errors"
	"fmt"

	"github.com/traffic12123/gateway/pkg/cnsms"
)

// Reason says why a submit failed (the values of pkg/smpp, also the
// result label of smpp_submits_total).
type Reason = cnsms.Reason

// Reasons.
const (
	ReasonOK        = cnsms.ReasonOK
	ReasonThrottled = cnsms.ReasonThrottled // busy / too fast / queue full: slow down and retry
	ReasonSMSC      = cnsms.ReasonSMSC      // other retryable statuses
	ReasonRejected  = cnsms.ReasonRejected  // a permanent status
	ReasonTimeout   = cnsms.ReasonTimeout   // no response; the gateway may have accepted it
	ReasonUnknown   = cnsms.ReasonUnknown   // connection lost after the PDU was written
	ReasonNoBind    = cnsms.ReasonNoBind    // nothing was sent
	ReasonInvalid   = cnsms.ReasonInvalid   // the message cannot be encoded as given
	ReasonCanceled  = cnsms.ReasonCanceled  // the caller's context ended first
)

// Status codes (SMGP 3.0; 101–119 are common SMGW vendor codes).
const (
	StatusOK              uint32 = 0
	StatusSystemBusy      uint32 = 1 // 系统忙: the SMGW's flow control
	StatusMaxConns        uint32 = 2
	StatusBadStructure    uint32 = 10
	StatusBadCommand      uint32 = 11
	StatusDuplicateSeq    uint32 = 12
	StatusBadIP           uint32 = 20
	StatusAuthFailed      uint32 = 21
	StatusVersionTooHigh  uint32 = 22
	StatusBadMsgType      uint32 = 30
	StatusBadPriority     uint32 = 31
	StatusBadFeeType      uint32 = 32
	StatusBadFeeCode      uint32 = 33
	StatusBadMsgFormat    uint32 = 34
	StatusBadTime         uint32 = 35
	StatusBadMsgLength    uint32 = 36
	StatusExpired         uint32 = 37
	StatusRouteError      uint32 = 39
	StatusBadServiceID    uint32 = 43
	StatusBadValidTime    uint32 = 44
	StatusBadAtTime       uint32 = 45
	StatusBadSrcTermID    uint32 = 46
	StatusBadDestTermID   uint32 = 47
	StatusBadChargeTermID uint32 = 48
	StatusBadSPCode       uint32 = 49
	StatusNoRoute         uint32 = 58
	StatusForbiddenHours  uint32 = 74
	StatusDailyQuota      uint32 = 75
	StatusAccountExpired  uint32 = 76
	StatusTooFast         uint32 = 103 // vendor: submitting faster than the account's rate
	StatusVendorBusy      uint32 = 104 // vendor: the system's total rate exceeded
)

// StatusError is a non-zero Status of Submit_Resp (or Deliver_Resp).
type StatusError struct {
	Code      uint32
	Text      string
	Retryable bool
	Throttle  bool // slow the account down (adaptive pause)
}

func (e *StatusError) Error() string { return fmt.Sprintf("smgp: status %d (%s)", e.Code, e.Text) }

// Is matches another *StatusError with the same code.
func (e *StatusError) Is(target error) bool {
	t, ok := target.(*StatusError)
	return ok && t.Code == e.Code
}

var statusTable = map[uint32]StatusError{
	StatusSystemBusy:      {Text: "system busy", Retryable: true, Throttle: true},
	StatusMaxConns:        {Text: "too many connections", Retryable: true},
	StatusBadStructure:    {Text: "message structure error"},
	StatusBadCommand:      {Text: "request id error"},
	StatusDuplicateSeq:    {Text: "duplicate sequence id", Retryable: true},
	StatusBadIP:           {Text: "IP address not allowed"},
	StatusAuthFailed:      {Text: "authentication failed"},
	StatusVersionTooHigh:  {Text: "version too high"},
	StatusBadMsgType:      {Text: "illegal message type"},
	StatusBadPriority:     {Text: "illegal priority"},
	StatusBadFeeType:      {Text: "illegal fee type"},
	StatusBadFeeCode:      {Text: "illegal fee code"},
	StatusBadMsgFormat:    {Text: "illegal message format"},
	StatusBadTime:         {Text: "illegal time format"},
	StatusBadMsgLength:    {Text: "illegal message length"},
	StatusExpired:         {Text: "validity expired"},
	StatusRouteError:      {Text: "routing error"},
	StatusBadServiceID:    {Text: "illegal service id"},
	StatusBadValidTime:    {Text: "illegal valid time"},
	StatusBadAtTime:       {Text: "illegal at time"},
	StatusBadSrcTermID:    {Text: "illegal SrcTermID"},
	StatusBadDestTermID:   {Text: "illegal DestTermID"},
	StatusBadChargeTermID: {Text: "illegal ChargeTermID"},
	StatusBadSPCode:       {Text: "illegal SP code"},
	StatusNoRoute:         {Text: "no route"},
	StatusForbiddenHours:  {Text: "sending forbidden at this time"},
	StatusDailyQuota:      {Text: "daily quota exceeded"},
	StatusAccountExpired:  {Text: "account expired"},
	StatusTooFast:         {Text: "submitting too fast", Retryable: true, Throttle: true},
	StatusVendorBusy:      {Text: "system busy (total rate)", Retryable: true, Throttle: true},
}

// StatusErr returns the typed error of a non-zero status (nil for 0).
// Codes outside the table are permanent.
func StatusErr(code uint32) error {
	if code == StatusOK {
		return nil
	}
	e, ok := statusTable[code]
	if !ok {
		e = StatusError{Text: "other error"}
	}
	e.Code = code
	return &e
}

// ErrSystemBusy is status 1.
var ErrSystemBusy = &StatusError{Code: StatusSystemBusy, Text: "system busy", Retryable: true, Throttle: true}

// LoginError is a refused Login.
type LoginError struct{ Status uint32 }

func (e *LoginError) Error() string {
	return fmt.Sprintf("smgp: login refused: %v", StatusErr(e.Status))
}

// Errors of the client.
var (
	ErrInvalidMessage = errors.New("smgp: invalid message")
	ErrBadAuth        = errors.New("smgp: SMGW authenticator does not match")
)

// Classify says whether a failed submit may be retried and why.
func Classify(err error) (retry bool, reason Reason) {
	if err == nil {
		return false, ReasonOK
	}
	var se *StatusError
	if errors.As(err, &se) {
		switch {
		case se.Throttle:
			return true, ReasonThrottled
		case se.Retryable:
			return true, ReasonSMSC
		}
		return false, ReasonRejected
	}
	var me *MalformedError
	if errors.As(err, &me) || errors.Is(err, ErrInvalidMessage) || errors.Is(err, ErrFieldTooLong) {
		return false, ReasonInvalid
	}
	return cnsms.ClassifyTransport(err)
}
