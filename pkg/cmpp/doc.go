// Package cmpp speaks CMPP 3.0 and 2.0, China Mobile's protocol between
// an SP and its ISMG, on the SP's side, in the layers of pkg/smpp:
//
//   - codec (pdu.go, msgid.go, auth.go, text.go, status.go): every PDU an
//     SP sends or accepts — CONNECT/CONNECT_RESP with the MD5
//     AuthenticatorSource/ISMG, SUBMIT/SUBMIT_RESP, DELIVER/DELIVER_RESP
//     carrying MO messages and status reports, ACTIVE_TEST(_RESP),
//     TERMINATE(_RESP) — in both versions' layouts; the 8-octet Msg_Id
//     and its textual forms; Msg_Fmt 8 (UCS2) and 15 (GB18030); the
//     result table as typed errors with Retryable;
//   - session: pkg/cnsms's Session (window 16, sequence matching,
//     ACTIVE_TEST both ways, TERMINATE both ways, handlers off the read
//     loop, DELIVER_RESP after the handler returns);
//   - client (client.go): a pool of connections with jittered reconnect,
//     version negotiation (3.0, falling back to 2.0 on request), TPS with
//     an account-wide adaptive pause on result 8, long messages split by
//     pkg/smpp/coding's rules with per-part outcomes, receipts and MO
//     messages to callbacks, metrics and a *slog.Logger injected.
//
// The simulator is pkg/cmpp/ismg. This package imports nothing from
// internal/.
package cmpp
