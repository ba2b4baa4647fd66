package ivr

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"runtime/debug"
	"strings"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Checking what arrives before any SIP library acts on it.
//
// Every UDP datagram passes readFilter before sipgo parses it: the filter
// parses it once itself (under recover, so a message that would make the
// parser panic is dropped instead of taking the process down), checks the
// version and the mandatory headers and answers what fails (400 or 505,
// stateless) instead of handing it on. TCP is a byte stream whose reads do
// not align with messages: accepted TCP connections are wrapped instead
// (tcpguard.go), which frame each message and check it the same way before
// sipgo reads it. guard, the wrapper around every request handler, checks
// the parsed request once more and recovers a panic in any handler,
// logging it with its stack, counting it in ivr_panics_total and serving
// on.

// Reasons a request is refused by checkRequest; they label
// ivr_sip_rejected_total (a bounded set).
const (
	rejectUnparsable  = "unparsable"
	rejectVersion     = "version"
	rejectVia         = "via"
	rejectFrom        = "from"
	rejectTo          = "to"
	rejectCallID      = "call_id"
	rejectCSeq        = "cseq"
	rejectCSeqMethod  = "cseq_method"
	rejectMaxForwards = "max_forwards"
	rejectContact     = "contact"
	rejectResponse    = "response"
)

// checkRequest returns the status and reason phrase a request must be
// refused with (RFC 3261 8.1.1, 8.2.2, 20), or 0 when it may be handled,
// and the metric label of the problem. It touches every mandatory header,
// so sipgo's lazy header parsing happens here (and under the caller's
// recover) first.
func checkRequest(req *sip.Request) (code int, phrase, label string) {
	if req.SipVersion != "SIP/2.0" {
		return sip.StatusVersionNotSupported, "Version Not Supported", rejectVersion
	}
	if v := req.Via(); v == nil || v.Host == "" {
		return sip.StatusBadRequest, "Missing or Bad Via", rejectVia
	}
	if f := req.From(); f == nil || (f.Address.User == "" && f.Address.Host == "") {
		return sip.StatusBadRequest, "Missing or Bad From", rejectFrom
	}
	if t := req.To(); t == nil || (t.Address.User == "" && t.Address.Host == "") {
		return sip.StatusBadRequest, "Missing or Bad To", rejectTo
	}
	if id := req.CallID(); id == nil || strings.TrimSpace(id.Value()) == "" {
		return sip.StatusBadRequest, "Missing Call-ID", rejectCallID
	}
	cs := req.CSeq()
	if cs == nil {
		return sip.StatusBadRequest, "Missing or Bad CSeq", rejectCSeq
	}
	if cs.MethodName != req.Method {
		return sip.StatusBadRequest, "CSeq Method Does Not Match", rejectCSeqMethod
	}
	if req.MaxForwards() == nil {
		return sip.StatusBadRequest, "Missing or Bad Max-Forwards", rejectMaxForwards
	}
	if req.Method == sip.INVITE && req.Contact() == nil {
		return sip.StatusBadRequest, "Missing Contact", rejectContact
	}
	return 0, "", ""
}

// checkResponse reports whether a response carries what the transaction
// layer matches it by.
func checkResponse(res *sip.Response) bool {
	v := res.Via()
	cs := res.CSeq()
	return res.SipVersion == "SIP/2.0" && v != nil && cs != nil && res.CallID() != nil &&
		res.From() != nil && res.To() != nil
}

// readFilter is sipgo's transport read filter: it sees every datagram
// before sipgo parses it. It returns the data to hand on, or nil to drop
// it; it never returns an error (that would stop the listener).
func (s *Server) readFilter(info sip.TransportReadProps, data []byte) (out []byte, err error) {
	if info.Transport != "UDP" {
		return data, nil
	}
	defer func() {
		if r := recover(); r != nil {
			s.m.Panics.WithLabelValues("parse").Inc()
			s.log.Error("panic while checking a SIP datagram; dropped", "panic", fmt.Sprint(r),
				"remote_addr", info.RemoteAddr.String(), "stack", string(debug.Stack()))
			out, err = nil, nil
		}
	}()
	// Keep-alives (CRLF, NUL) are sipgo's to ignore.
	if len(bytes.Trim(data, "\r\n\x00 ")) == 0 {
		return data, nil
	}
	msg, perr := sip.ParseMessage(data)
	if perr != nil || msg == nil {
		s.m.SIPRejected.WithLabelValues(rejectUnparsable).Inc()
		return nil, nil
	}
	switch m := msg.(type) {
	case *sip.Response:
		if !checkResponse(m) {
			s.m.SIPRejected.WithLabelValues(rejectResponse).Inc()
			return nil, nil
		}
	case *sip.Request:
		code, phrase, label := checkRequest(m)
		if code == 0 {
			return data, nil
		}
		s.m.SIPRejected.WithLabelValues(label).Inc()
		// Answer trusted sources only (no reflection towards anyone else),
		// never an ACK, and only on our own listening socket.
		src := addrOf(info.RemoteAddr)
		if m.Method == sip.ACK || !s.trusted(src) || s.udp == nil || info.LocalAddr == nil ||
			info.LocalAddr.String() != s.udp.LocalAddr().String() {
			return nil, nil
		}
		_, _ = s.udp.WriteTo([]byte(refusal(m, code, phrase).String()), info.RemoteAddr)
		return nil, nil
	}
	return data, nil
}

func addrOf(a net.Addr) netip.Addr {
	if a == nil {
		return netip.Addr{}
	}
	if u, ok := a.(*net.UDPAddr); ok {
		ip, _ := netip.AddrFromSlice(u.IP)
		return ip.Unmap()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap.Addr().Unmap()
}

// guard wraps a request handler: it refuses requests checkRequest refuses
// (TCP; UDP ones were refused by readFilter already) and recovers a panic in
// the handler, logging and counting it, answering 500 when it still can.
func (s *Server) guard(next sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		defer func() {
			if r := recover(); r != nil {
				s.m.Panics.WithLabelValues("handler").Inc()
				s.log.Error("panic while handling a SIP request; recovered", "panic", fmt.Sprint(r),
					"method", req.Method.String(), "stack", string(debug.Stack()))
				if req.Method != sip.ACK && tx != nil {
					func() {
						defer func() { _ = recover() }()
						_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusInternalServerError, "Server Internal Error", nil))
					}()
				}
			}
		}()
		if code, phrase, label := checkRequest(req); code != 0 {
			s.m.SIPRejected.WithLabelValues(label).Inc()
			if req.Method != sip.ACK {
				_ = tx.Respond(refusal(req, code, phrase))
			}
			return
		}
		next(req, tx)
	}
}

// refusal builds the answer to a refused request: SIP/2.0 whatever
// the request said, and a To with a tag (RFC 3261 8.2.6.2), made from the
// Request-URI when the request had none (peers match responses by it).
func refusal(req *sip.Request, code int, phrase string) *sip.Response {
	res := sip.NewResponseFromRequest(req, code, phrase, nil)
	res.SipVersion = "SIP/2.0"
	to := res.To()
	if to == nil {
		to = &sip.ToHeader{Address: req.Recipient, Params: sip.NewParams()}
		res.AppendHeader(to)
	}
	if to.Params == nil {
		to.Params = sip.NewParams()
	}
	if !to.Params.Has("tag") {
		to.Params.Add("tag", sip.GenerateTagN(16))
	}
	return res
}
