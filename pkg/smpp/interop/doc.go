// Package interop tests pkg/smpp and its SMSC simulator against an
// independent SMPP implementation, the npm package smpp (0.5.1, pinned in
// package-lock.json): a Node ESME (esme.js) against our simulator, and our
// Client against a Node SMSC (smsc.js).
//
// The tests need node on PATH and node_modules installed with
//
//	npm ci --prefix pkg/smpp/interop
//
// Without them they skip, unless CI=true, where they fail. The package has
// no code of its own beyond the tests.
package interop
