package cmpp

import (
	"errors"
	"fmt"

	"github.com/traffic12123/gateway/pkg/cnsms"
)

// Reason says why a submit failed, in a bounded set that is also the
// result label of smpp_submits_total (the values of pkg/smpp).
type Reason = cnsms.Reason

// Reasons.
const (
	ReasonOK        = cnsms.ReasonOK
	ReasonThrottled = cnsms.ReasonThrottled // result 8: traffic too high; slow down and retry
	ReasonSMSC      = cnsms.ReasonSMSC      // other retryable results
	ReasonRejected  = cnsms.ReasonRejected  // a permanent result
	ReasonTimeout   = cnsms.ReasonTimeout   // no response; the ISMG may have accepted it
	ReasonUnknown   = cnsms.ReasonUnknown   // connection lost after the PDU was written
	ReasonNoBind    = cnsms.ReasonNoBind    // nothing was sent
	ReasonInvalid   = cnsms.ReasonInvalid   // the message cannot be encoded as given
	ReasonCanceled  = cnsms.ReasonCanceled  // the caller's context ended first
)

// StatusError is a non-zero Result of CMPP_SUBMIT_RESP (or
// CMPP_DELIVER_RESP), typed by the spec's table.
type StatusError struct {
	Code      uint32
	Text      string // the spec's meaning, in English
	Retryable bool   // sending the same message again later may succeed
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("cmpp: result %d (%s)", e.Code, e.Text)
}

// Is matches another *StatusError with the same code.
func (e *StatusError) Is(target error) bool {
	t, ok := target.(*StatusError)
	return ok && t.Code == e.Code
}

// Result codes of SUBMIT_RESP (3.0; 2.0 stops at 8 and calls 9 and above
// "other error").
const (
	ResultOK            uint32 = 0
	ResultBadStructure  uint32 = 1
	ResultBadCommand    uint32 = 2
	ResultDuplicateSeq  uint32 = 3
	ResultBadLength     uint32 = 4
	ResultBadFeeCode    uint32 = 5
	ResultTooLong       uint32 = 6
	ResultBadServiceID  uint32 = 7
	ResultFlowControl   uint32 = 8 // 流量控制错: traffic too high
	ResultNotOurFeeNo   uint32 = 9 // 3.0: this ISMG does not serve the charged number
	ResultBadSrcID      uint32 = 10
	ResultBadMsgSrc     uint32 = 11
	ResultBadFeeTermID  uint32 = 12
	ResultBadDestTermID uint32 = 13
)

var resultTable = map[uint32]StatusError{
	ResultBadStructure:  {Text: "message structure error"},
	ResultBadCommand:    {Text: "command id error"},
	ResultDuplicateSeq:  {Text: "duplicate sequence id", Retryable: true},
	ResultBadLength:     {Text: "message length error"},
	ResultBadFeeCode:    {Text: "fee code error"},
	ResultTooLong:       {Text: "message too long"},
	ResultBadServiceID:  {Text: "service id error"},
	ResultFlowControl:   {Text: "traffic too high (flow control)", Retryable: true},
	ResultNotOurFeeNo:   {Text: "ISMG does not serve the charged number"},
	ResultBadSrcID:      {Text: "Src_Id error"},
	ResultBadMsgSrc:     {Text: "Msg_src error"},
	ResultBadFeeTermID:  {Text: "Fee_terminal_Id error"},
	ResultBadDestTermID: {Text: "Dest_terminal_Id error"},
}

// ResultError returns the typed error of a non-zero result (nil for 0).
// Codes outside the table are permanent ("other error"): retrying for
// ever on a code nobody documented is worse than a visible failure.
func ResultError(code uint32) error {
	if code == ResultOK {
		return nil
	}
	e, ok := resultTable[code]
	if !ok {
		e = StatusError{Text: "other error"}
	}
	e.Code = code
	return &e
}

// ErrFlowControl is result 8; errors.Is matches any result-8 error.
var ErrFlowControl = &StatusError{Code: ResultFlowControl, Text: "traffic too high (flow control)", Retryable: true}

// CONNECT_RESP statuses.
const (
	ConnectOK           uint32 = 0
	ConnectBadStructure uint32 = 1
	ConnectBadSource    uint32 = 2 // 非法源地址
	ConnectAuthFailed   uint32 = 3
	ConnectVersionHigh  uint32 = 4
)

// ConnectError is a refused CMPP_CONNECT.
type ConnectError struct {
	Status  uint32
	Version Version // the ISMG's version, from the response
}

func (e *ConnectError) Error() string {
	var t string
	switch e.Status {
	case ConnectBadStructure:
		t = "message structure error"
	case ConnectBadSource:
		t = "illegal source address"
	case ConnectAuthFailed:
		t = "authentication failed"
	case ConnectVersionHigh:
		t = "version too high"
	default:
		t = "other error"
	}
	return fmt.Sprintf("cmpp: connect refused: status %d (%s), ISMG version %s", e.Status, t, e.Version)
}

// Errors of the client.
var (
	ErrInvalidMessage = errors.New("cmpp: invalid message")
	ErrBadAuth        = errors.New("cmpp: ISMG authenticator does not match")
	ErrClosed         = cnsms.ErrPoolClosed
	ErrNotConnected   = cnsms.ErrNotConnected
)

// Classify says whether a failed submit may be retried and why, as
// pkg/smpp's Classify. Retrying after ReasonTimeout or ReasonUnknown may
// deliver the message twice; the caller decides.
func Classify(err error) (retry bool, reason Reason) {
	if err == nil {
		return false, ReasonOK
	}
	var se *StatusError
	if errors.As(err, &se) {
		switch {
		case se.Code == ResultFlowControl:
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
