// Package dispatch is the SMS pipeline between Kafka and the carriers:
//
//	ingest ─► Pipeline.Handle: rules ─► inhibit ─► policy ─► route ─► ledger.Insert ─► states, cancels ─► (offset committed by ingest)
//	                   │ contacts ─► directory.Writer (background, sorted flushes)
//	                                                              │
//	Sender: ledger.Claim ─► Rechecker (still_due on the latest state) ─► per-carrier submit workers ─► ledger.Submitted / Transition
//	Receipts (smpp.Handler): group commit into ledger.Receipts, then deliver_sm_resp
//	Reconciler: unknown outcomes ─► wait for a receipt ─► limited resend or failed
//	Publisher: ledger status outbox ─► Kafka status topic
//
// Every stage talks to the others through the ledger, so a crash at any
// point leaves a state the next start resumes from: a message is either not
// yet in the ledger (its offset was not committed, so Kafka redelivers the
// event and the idempotency key keeps it single), or queued, or durably
// "sending" before its submit_sm (recovered as unknown, never blindly
// resent), or submitted and waiting for receipts.
//
// The package composes the stage packages (rules, policy, route, ledger,
// directory, and a carrier Connector: carrier.go); it declares the narrow
// interfaces it needs from each.
package dispatch
