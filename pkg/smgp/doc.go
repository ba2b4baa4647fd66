// Package smgp speaks SMGP 3.0, China Telecom's protocol between a service
// provider and its SMGW, on the SP's side, built like pkg/cmpp on
// pkg/cnsms (session, pool, throttle, metrics, text splitting):
//
//   - codec (pdu.go, msgid.go, report.go, auth.go, status.go): request
//     ids, PDU types and TLVs, the 10-octet BCD MsgID, the status report
//     in a Deliver's MsgContent, the Login authenticators, the status
//     table as *StatusError with Retryable and Throttle, LoginError,
//     Classify;
//   - client (client.go): Login, Send, receipts and MO messages.
//
// The simulator is pkg/smgp/smgw. This package imports nothing from
// internal/; the README has the PDU tables.
package smgp
