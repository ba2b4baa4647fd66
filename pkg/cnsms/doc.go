// Package cnsms is the machinery shared by the Chinese carriers' native
// SMS protocols, CMPP (China Mobile, pkg/cmpp) and SMGP (China Telecom,
// pkg/smgp): both frame every PDU with the same 12-octet header
// (total length, command id, sequence id, big-endian) and answer a
// request with the same command id with the top bit set.
//
// It knows nothing of the PDU bodies. It provides:
//
//   - ReadFrame / AppendFrame: framing bounded by a maximum length;
//   - Session: one connection after login — window, sequence numbers,
//     matching of responses by sequence *and* command, the keep-alive
//     (ACTIVE_TEST), orderly close both ways (TERMINATE / EXIT; the
//     peer's is answered once our requests in flight are), a
//     bounded pool of workers for the peer's requests whose answers are
//     written after the handler returns, and timed-out requests kept so a
//     late answer is still reported;
//   - Pool: a set of sessions kept up with jittered exponential backoff;
//   - Throttle: the account-wide pause and adaptive rate after "traffic
//     too high" answers (the AIMD of pkg/smpp);
//   - Metrics: the Prometheus metrics of pkg/smpp under the same names,
//     with a protocol label.
//
// It imports nothing from internal/.
package cnsms
