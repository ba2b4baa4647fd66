package smpp

import (
	"errors"
	"fmt"
)

// Status is an SMPP command_status.
type Status uint32

// StatusError is a non-zero command_status as an error. The known ones are
// package variables (ErrThrottled, …) so callers can test with errors.Is.
type StatusError struct {
	Status    Status
	Name      string // the SMPP 3.4 name, e.g. "ESME_RTHROTTLED"
	Text      string
	Retryable bool // the same request may succeed later
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("smpp: %s (0x%08X): %s", e.Name, uint32(e.Status), e.Text)
}

// Is matches any StatusError of the same status, so an error made by
// Status.Err for an unknown code still matches itself.
func (e *StatusError) Is(target error) bool {
	t, ok := target.(*StatusError)
	return ok && t.Status == e.Status
}

func se(code Status, name, text string, retry bool) *StatusError {
	e := &StatusError{Status: code, Name: name, Text: text, Retryable: retry}
	statusTable[code] = e
	return e
}

var statusTable = map[Status]*StatusError{}

// The command_status values of SMPP 3.4 section 5.1.3.
var (
	ErrInvalidMsgLen      = se(0x01, "ESME_RINVMSGLEN", "message length is invalid", false)
	ErrInvalidCmdLen      = se(0x02, "ESME_RINVCMDLEN", "command length is invalid", false)
	ErrInvalidCmdID       = se(0x03, "ESME_RINVCMDID", "invalid command id", false)
	ErrInvalidBindStatus  = se(0x04, "ESME_RINVBNDSTS", "incorrect bind status for given command", true)
	ErrAlreadyBound       = se(0x05, "ESME_RALYBND", "ESME already in bound state", false)
	ErrInvalidPriority    = se(0x06, "ESME_RINVPRTFLG", "invalid priority flag", false)
	ErrInvalidRegDelivery = se(0x07, "ESME_RINVREGDLVFLG", "invalid registered delivery flag", false)
	ErrSystem             = se(0x08, "ESME_RSYSERR", "system error", true)
	ErrInvalidSrcAddr     = se(0x0A, "ESME_RINVSRCADR", "invalid source address", false)
	ErrInvalidDstAddr     = se(0x0B, "ESME_RINVDSTADR", "invalid destination address", false)
	ErrInvalidMsgID       = se(0x0C, "ESME_RINVMSGID", "message id is invalid", false)
	ErrBindFailed         = se(0x0D, "ESME_RBINDFAIL", "bind failed", true)
	ErrInvalidPassword    = se(0x0E, "ESME_RINVPASWD", "invalid password", false)
	ErrInvalidSystemID    = se(0x0F, "ESME_RINVSYSID", "invalid system id", false)
	ErrCancelFailed       = se(0x11, "ESME_RCANCELFAIL", "cancel_sm failed", false)
	ErrReplaceFailed      = se(0x13, "ESME_RREPLACEFAIL", "replace_sm failed", false)
	ErrMsgQueueFull       = se(0x14, "ESME_RMSGQFUL", "message queue full", true)
	ErrInvalidServiceType = se(0x15, "ESME_RINVSERTYP", "invalid service type", false)
	ErrInvalidNumDests    = se(0x33, "ESME_RINVNUMDESTS", "invalid number of destinations", false)
	ErrInvalidDLName      = se(0x34, "ESME_RINVDLNAME", "invalid distribution list name", false)
	ErrInvalidDestFlag    = se(0x40, "ESME_RINVDESTFLAG", "invalid destination flag", false)
	ErrInvalidSubReplace  = se(0x42, "ESME_RINVSUBREP", "invalid submit with replace request", false)
	ErrInvalidESMClass    = se(0x43, "ESME_RINVESMCLASS", "invalid esm_class field data", false)
	ErrCannotSubmitToDL   = se(0x44, "ESME_RCNTSUBDL", "cannot submit to distribution list", false)
	ErrSubmitFailed       = se(0x45, "ESME_RSUBMITFAIL", "submit_sm or submit_multi failed", true)
	ErrInvalidSrcTON      = se(0x48, "ESME_RINVSRCTON", "invalid source address TON", false)
	ErrInvalidSrcNPI      = se(0x49, "ESME_RINVSRCNPI", "invalid source address NPI", false)
	ErrInvalidDstTON      = se(0x50, "ESME_RINVDSTTON", "invalid destination address TON", false)
	ErrInvalidDstNPI      = se(0x51, "ESME_RINVDSTNPI", "invalid destination address NPI", false)
	ErrInvalidSystemType  = se(0x53, "ESME_RINVSYSTYP", "invalid system_type field", false)
	ErrInvalidReplaceFlag = se(0x54, "ESME_RINVREPFLAG", "invalid replace_if_present flag", false)
	ErrInvalidNumMsgs     = se(0x55, "ESME_RINVNUMMSGS", "invalid number of messages", false)
	ErrThrottled          = se(0x58, "ESME_RTHROTTLED", "throttling error (ESME has exceeded allowed message limits)", true)
	ErrInvalidSched       = se(0x61, "ESME_RINVSCHED", "invalid scheduled delivery time", false)
	ErrInvalidExpiry      = se(0x62, "ESME_RINVEXPIRY", "invalid message validity period", false)
	ErrInvalidDefMsgID    = se(0x63, "ESME_RINVDFTMSGID", "predefined message invalid or not found", false)
	ErrTempAppError       = se(0x64, "ESME_RX_T_APPN", "ESME receiver temporary app error code", true)
	ErrPermAppError       = se(0x65, "ESME_RX_P_APPN", "ESME receiver permanent app error code", false)
	ErrRejectAppError     = se(0x66, "ESME_RX_R_APPN", "ESME receiver reject message error code", false)
	ErrQueryFailed        = se(0x67, "ESME_RQUERYFAIL", "query_sm request failed", false)
	ErrInvalidOptParams   = se(0xC0, "ESME_RINVOPTPARSTREAM", "error in the optional part of the PDU body", false)
	ErrOptParamNotAllowed = se(0xC1, "ESME_ROPTPARNOTALLWD", "optional parameter not allowed", false)
	ErrInvalidParamLen    = se(0xC2, "ESME_RINVPARLEN", "invalid parameter length", false)
	ErrMissingOptParam    = se(0xC3, "ESME_RMISSINGOPTPARAM", "expected optional parameter missing", false)
	ErrInvalidOptParamVal = se(0xC4, "ESME_RINVOPTPARAMVAL", "invalid optional parameter value", false)
	ErrDeliveryFailure    = se(0xFE, "ESME_RDELIVERYFAILURE", "delivery failure", true)
	ErrUnknown            = se(0xFF, "ESME_RUNKNOWNERR", "unknown error", true)
)

// StatusOK is ESME_ROK.
const StatusOK Status = 0

// Err returns nil for ESME_ROK, the table's *StatusError for a known code,
// and a new non-retryable *StatusError for a code outside the table
// (vendor-specific codes 0x400-0x4FF are treated as permanent).
func (s Status) Err() error {
	if s == StatusOK {
		return nil
	}
	if e, ok := statusTable[s]; ok {
		return e
	}
	return &StatusError{Status: s, Name: fmt.Sprintf("0x%08X", uint32(s)), Text: "unknown command_status"}
}

// String returns the SMPP name of s.
func (s Status) String() string {
	if s == StatusOK {
		return "ESME_ROK"
	}
	var e *StatusError
	if errors.As(s.Err(), &e) {
		return e.Name
	}
	return fmt.Sprintf("0x%08X", uint32(s))
}

// StatusOf returns the command_status an error carries, ErrSystem's for
// other non-nil errors and StatusOK for nil. Handlers use it to answer a
// deliver_sm.
func StatusOf(err error) Status {
	if err == nil {
		return StatusOK
	}
	var e *StatusError
	if errors.As(err, &e) {
		return e.Status
	}
	return ErrSystem.Status
}
