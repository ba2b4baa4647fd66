//go:build unix

package main

import "syscall"

// Files smsgw creates (ledger, broker data, logs it opens) are for its own
// user only: 0600 files in 0700 directories, whatever the libraries ask.
func init() { syscall.Umask(0o077) }
