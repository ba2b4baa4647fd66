// Package smsc is an SMPP 3.4 SMSC simulator: the carrier in tests, the
// demo and benchmarks.
//
// It accepts bind_transmitter, bind_receiver and bind_transceiver (checking
// credentials when configured), answers submit_sm with message ids in a
// chosen format, limits each bind's TPS with ESME_RTHROTTLED, decodes GSM7
// (unpacked), UCS2 and Latin-1 text, reassembles concatenated messages (UDH
// with 8- or 16-bit references, or SAR TLVs) per destination, and sends
// delivery receipts as deliver_sm (standard "id:… stat:…" text plus the
// receipted_message_id and message_state TLVs) after a delay with a weighted
// mix of outcomes, over a window, redelivering on error or timeout. Faults a
// real SMSC shows (queue full, slow or missing responses, dropped
// connections, early, misrouted or duplicate receipts, outages) are injected
// with SetFaults while it runs. Deliver sends mobile-originated messages
// (replies, opt-out keywords) to the ESME.
//
// Submits and Messages record what arrived and what a handset would show,
// so tests can assert that a message was delivered exactly once. A part
// whose drawn outcome is a failure (UNDELIV, REJECTD, EXPIRED, DELETED,
// UNKNOWN) is accepted and receipted but never reaches the handset:
// Accepted lists every message the SMSC took, Messages only those the
// handset shows whole.
//
// It leaves to pkg/smpp everything an ESME does, and to cmd/smscsim running
// it as a process. It speaks SMPP with its own minimal codec (wire.go),
// independent of pkg/smpp's, so the two check each other.
package smsc
