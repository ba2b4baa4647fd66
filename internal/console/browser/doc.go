// Package browser holds the browser test of the operators' console: a Go
// test that starts `smsgw demo --console` and drives it with Debian's
// chromium through the npm package playwright-core (console.mjs). It skips
// without node, chromium or node_modules, and fails instead under CI=true:
//
//	apt-get install -y chromium fonts-noto-cjk
//	npm ci --prefix internal/console/browser
//	go test ./internal/console/browser
//
// Screenshots of every page go to $SMSGW_TEST_ARTIFACTS/console (default
// internal/console/browser/artifacts).
package browser
