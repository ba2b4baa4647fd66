// Package e2e holds the process-level proofs of the delivery guarantees:
// the gateway (and the broker) run as separate processes and are killed
// with SIGKILL at random moments while SMSC simulators in the test
// process record every submit_sm and its outcome, so the tests see what
// the carriers accepted and exactly what handsets would have received (a
// part whose receipt is a failure never reached its handset).
package e2e
