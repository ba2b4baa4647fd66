// Package smpp connects the gateway to carriers' SMSCs over SMPP 3.4 as an
// ESME: a PDU codec (pdu.go and tlv.go for the types; gosmpp.go and
// codec.go for the wire), a session state machine over one TCP connection
// (session.go: sequence numbers, a blocking window, responses matched by
// command and sequence, enquire_link, unbind, inbound deliver_sm acked
// only after its handler returns), and a client that keeps
// a pool of binds to one carrier up with reconnects, spreads submits over
// them under a TPS limit, splits long text (package coding) and parses
// delivery receipts (client.go, throttle.go, receipt.go, reassembly.go).
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
// The wire codec is github.com/fiorix/go-smpp's smpp/pdu package (pinned
// at v0.0.0-20210403173735-2894b96e70ba): Decode runs every PDU go-smpp
// knows through pdu.Decode and converts the result into this package's
// types; AppendTo builds go-smpp bodies (pooled per command) and has them
// serialize themselves. The hand-written codec in codec.go remains the
// fallback for what go-smpp gets wrong or does not know (data_sm,
// alert_notification, outbind, cancel_sm, query_sm_resp, deliver_sm's
// encoding, PDUs over 4096 octets, truncated or inconsistent bodies,
// repeated TLVs, unchecked lengths, panics); gosmpp.go lists each case and
// gosmpp_test.go shows each defect. The session and client are this
// package's own, not go-smpp's: at that version its client matches
// responses by sequence number alone, returns instead of blocking on a
// full window, acks deliver_sm before its handler and drops the connection
// on PDUs it does not know.
//
// What go-smpp's codec costs against the hand-written one is measured in
// bench/README.md ("pkg/smpp: codec and client").
package smpp
