//go:build unix

package main

import (
	"syscall"
	"testing"
)

// TestUmask: the binary's init narrowed the umask to 077, so the ledger,
// the embedded broker's data and anything else smsgw creates is for its
// own user only (issue 13).
func TestUmask(t *testing.T) {
	got := syscall.Umask(0o077)
	syscall.Umask(got)
	if got != 0o077 {
		t.Fatalf("umask %03o, want 077", got)
	}
}
