package sgip

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

// Result codes (SGIP 1.2).
const (
	ResultOK              byte = 0
	ResultBadLogin        byte = 1 // 非法登录: name, password or source address
	ResultDuplicateLogin  byte = 2
	ResultTooManyConns    byte = 3
	ResultBadLoginType    byte = 4
	ResultBadParameter    byte = 5
	ResultBadUserNumber   byte = 6
	ResultBadMessageID    byte = 7
	ResultBadLength       byte = 8
	ResultBadSequence     byte = 9
	ResultBadGNS          byte = 10
	ResultNodeBusy        byte = 11 // 节点忙: the SMG's flow control
	ResultUnreachable     byte = 21
	ResultRouteError      byte = 22
	ResultNoRoute         byte = 23
	ResultBadChargeNumber byte = 24
	ResultUserCannotRecv  byte = 25
	ResultHandsetFull     byte = 26
	ResultNoSMSSupport    byte = 27
	ResultHandsetError    byte = 28
	ResultUnknownUser     byte = 29
	ResultNoSuchFunction  byte = 30
	ResultBadDevice       byte = 31
	ResultSystemFailure   byte = 32
	ResultQueueFull       byte = 33 // 短信中心队列满
)

// StatusError is a non-zero Result of a *_RESP.
type StatusError struct {
	Code      byte
	Text      string
	Retryable bool
	Throttle  bool // slow the account down (adaptive pause)
}

func (e *StatusError) Error() string { return fmt.Sprintf("sgip: result %d (%s)", e.Code, e.Text) }

// Is matches another *StatusError with the same code.
func (e *StatusError) Is(target error) bool {
	t, ok := target.(*StatusError)
	return ok && t.Code == e.Code
}

var resultTable = map[byte]StatusError{
	ResultBadLogin:        {Text: "illegal login"},
	ResultDuplicateLogin:  {Text: "duplicate login", Retryable: true},
	ResultTooManyConns:    {Text: "too many connections", Retryable: true},
	ResultBadLoginType:    {Text: "wrong login type"},
	ResultBadParameter:    {Text: "parameter format error"},
	ResultBadUserNumber:   {Text: "illegal user number"},
	ResultBadMessageID:    {Text: "message id error"},
	ResultBadLength:       {Text: "message length error"},
	ResultBadSequence:     {Text: "illegal sequence number", Retryable: true},
	ResultBadGNS:          {Text: "illegal GNS operation"},
	ResultNodeBusy:        {Text: "node busy", Retryable: true, Throttle: true},
	ResultUnreachable:     {Text: "destination unreachable", Retryable: true},
	ResultRouteError:      {Text: "routing error"},
	ResultNoRoute:         {Text: "no route"},
	ResultBadChargeNumber: {Text: "invalid charge number"},
	ResultUserCannotRecv:  {Text: "user cannot communicate"},
	ResultHandsetFull:     {Text: "handset memory full"},
	ResultNoSMSSupport:    {Text: "handset does not support SMS"},
	ResultHandsetError:    {Text: "handset error receiving"},
	ResultUnknownUser:     {Text: "unknown user"},
	ResultNoSuchFunction:  {Text: "function not provided"},
	ResultBadDevice:       {Text: "illegal device"},
	ResultSystemFailure:   {Text: "system failure", Retryable: true},
	ResultQueueFull:       {Text: "SMSC queue full", Retryable: true, Throttle: true},
}

// ResultErr returns the typed error of a non-zero result (nil for 0).
// Codes outside the table are permanent.
func ResultErr(code byte) error {
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

// ErrNodeBusy is result 11.
var ErrNodeBusy = &StatusError{Code: ResultNodeBusy, Text: "node busy", Retryable: true, Throttle: true}

// BindError is a refused SGIP_BIND.
type BindError struct{ Result byte }

func (e *BindError) Error() string {
	return fmt.Sprintf("sgip: bind refused: %v", ResultErr(e.Result))
}

// Errors of the client.
var (
	ErrInvalidMessage = errors.New("sgip: invalid message")
	ErrNotListening   = errors.New("sgip: no listener for the SMG's connections")
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
