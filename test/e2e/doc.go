// Package e2e holds the process-level proofs of the delivery guarantees:
// the gateway (and the broker) run as separate processes and are killed
// with SIGKILL at random moments while SMSC simulators in the test
// process record every submit_sm, so the tests see exactly what handsets
// would have received.
package e2e
