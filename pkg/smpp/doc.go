// Package smpp connects the gateway to carriers' SMSCs over SMPP 3.4 as an
// ESME: a PDU codec (codec.go, pdu.go, tlv.go), a session state machine over
// one TCP connection (session.go: sequence numbers, a blocking window,
// responses matched by command and sequence, enquire_link, unbind, inbound
// deliver_sm acked only after its handler returns), and a client that keeps
// a pool of binds to one carrier up with reconnects, spreads submits over
// them under a TPS limit, splits long text (package coding) and parses
// delivery receipts (client.go, pool.go, receipt.go).
//
// Command statuses are typed errors with a Retryable flag (status.go);
// Classify turns any error from a submit into retry-or-not and a bounded
// Reason usable as a metric label.
//
// It leaves to others: which carrier a number belongs to, what to send and
// when, persistence of messages and receipts, and retry scheduling (the
// caller decides from Classify). The SMSC simulator used in tests and the
// demo lives in pkg/smpp/smsc. This package imports nothing from internal/.
//
// The wire code is this package's own, not github.com/fiorix/go-smpp's: that
// library (at the only version the module proxy serves) matches responses by
// sequence number alone, returns instead of blocking on a full window, acks
// deliver_sm before its handler and drops the connection on PDUs it does not
// know. Its pdu package serves in the tests as an independent decoder.
package smpp
