// Package dispatch is the SMS pipeline between Kafka and the carriers:
//
//	ingest ─► Pipeline.Handle: rules ─► inhibit ─► policy ─► route ─► ledger.Insert ─► states, cancels ─► (offset committed by ingest)
//	                   │ contacts ─► directory.Writer (background, sorted flushes)
//	                                                              │
//	Sender: ledger.Claim ─► Rechecker (still_due on the latest state) ─► per-carrier submit workers ─► Connector.Send ─► ledger.Submitted / Transition
//	Receipts (Handlers.Receipt / Incoming): group commit into ledger.Receipts, then the connector acknowledges
//	Reconciler: unknown outcomes ─► wait for a receipt ─► limited resend or failed
//	Publisher: ledger status outbox ─► Kafka status topic
//
// Every stage talks to the others through the ledger, so a crash at any
// point leaves a state the next start resumes from: a message is either not
// yet in the ledger (its offset was not committed, so Kafka redelivers the
// event and the idempotency key keeps it single), or queued, or durably
// "sending" before its submit (recovered as unknown, never blindly
// resent), or submitted and waiting for receipts.
//
// Carriers are behind the seam in carrier.go: a Connector sends an SMS
// and reports each part's outcome (accepted with an id, refused with a
// Reason and whether to retry, unknown, not sent), and delivers receipts,
// incoming messages and late answers through Handlers. Which protocol a
// carrier speaks is the connector's business (internal/carrier/<protocol>,
// chosen by app from the carrier's configuration); this package imports
// none. The sender's retry policy (Sender.onError, Sender.backoff) works
// on Reasons only.
//
// The package composes the stage packages (rules, policy, route, ledger,
// directory, carriers); it declares the narrow interfaces it needs from
// each.
package dispatch
