package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/traffic12123/gateway/internal/app/smsgw"
	"github.com/traffic12123/gateway/internal/config"
	"github.com/traffic12123/gateway/internal/console"
)

// demoConsole prepares `smsgw demo --console`: a copy of the rules (the
// playground may save into it), an accounts file (unless one is given)
// with a generated admin password, and a small audience limit so that
// some advisories are held for the held-messages page. It returns the
// demo options to add and a cleanup.
func demoConsole(o *smsgw.DemoOptions, accounts string, holdAudience int, stdout io.Writer) (func(), error) {
	dir, err := os.MkdirTemp("", "smsgw-console-")
	if err != nil {
		return nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	rules := filepath.Join(dir, "rules")
	if err := os.CopyFS(rules, os.DirFS(o.RulesDir)); err != nil {
		cleanup()
		return nil, fmt.Errorf("copy rules: %w", err)
	}
	_ = filepath.WalkDir(rules, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			mode := os.FileMode(0o644)
			if d.IsDir() {
				mode = 0o755
			}
			_ = os.Chmod(p, mode)
		}
		return nil
	})
	o.RulesDir = rules
	login := ""
	if accounts == "" {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		pw := base64.RawURLEncoding.EncodeToString(b)
		line, err := console.HashLine("admin", console.Admin, pw)
		if err != nil {
			cleanup()
			return nil, err
		}
		accounts = filepath.Join(dir, "accounts")
		if err := os.WriteFile(accounts, []byte(line), 0o600); err != nil {
			cleanup()
			return nil, err
		}
		login = "admin / " + pw
	}
	prev := o.Configure
	o.Configure = func(c *config.Config) {
		if prev != nil {
			prev(c)
		}
		c.HTTP.ConsoleAccountsFile = accounts
		if holdAudience > 0 {
			c.Safety.MaxAudience = holdAudience
		}
	}
	o.Hold = func(ctx context.Context, a *smsgw.App, s *smsgw.Summary) {
		_ = smsgw.WriteSummary(stdout, s, "text")
		fmt.Fprintf(stdout, "\nconsole: http://%s/console/\n", a.AdminAddr())
		if login != "" {
			fmt.Fprintf(stdout, "login:   %s\n", login)
		} else {
			fmt.Fprintf(stdout, "login:   an account of %s\n", accounts)
		}
		fmt.Fprintf(stdout, "rules:   %s (a copy; the playground saves here)\nthe demo keeps running; Ctrl-C stops it\n", rules)
		if f, ok := stdout.(interface{ Sync() error }); ok {
			_ = f.Sync()
		}
		<-ctx.Done()
	}
	return cleanup, nil
}
