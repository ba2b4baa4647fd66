// Package sgip speaks SGIP 1.2, China Unicom's protocol between a service
// provider and its SMG, on the SP's side. The SP binds to the SMG (login
// type 1) to submit; the SMG binds to the SP's listener (login type 2) to
// deliver MO messages and status reports. One Client does both.
//
//   - codec (pdu.go, status.go): every PDU with the 20-octet SGIP header
//     (node id, time, counter), the result table as *StatusError with
//     Retryable and Throttle, BindError, Classify;
//   - client (client.go): outgoing binds, the listener, Send, reports and
//     MO messages, on pkg/cnsms's session, pool, throttle, metrics, text
//     splitting and MO reassembly.
//
// The simulator is pkg/sgip/smg. This package imports nothing from
// internal/; the README has the PDU tables.
package sgip
