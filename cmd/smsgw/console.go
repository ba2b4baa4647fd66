package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/traffic12123/gateway/internal/app/smsgw"
	"github.com/traffic12123/gateway/internal/config"
	"github.com/traffic12123/gateway/internal/console"
)

// cmdConsoleAccount prints an accounts-file line for NAME and ROLE with
// the password read from the first line of stdin.
func cmdConsoleAccount(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) != 2 {
		return fmt.Errorf("want NAME ROLE (viewer, operator or admin); the password on stdin")
	}
	role := console.Role(args[1])
	if !role.Allows(console.Viewer) {
		return fmt.Errorf("role %q: want viewer, operator or admin", args[1])
	}
	if strings.ContainsAny(args[0], " \t\n#") || args[0] == "" {
		return fmt.Errorf("name %q: no spaces or #", args[0])
	}
	pw, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && pw == "" {
		return fmt.Errorf("read the password from stdin: %w", err)
	}
	pw = strings.TrimRight(pw, "\r\n")
	if len(pw) < 10 {
		return fmt.Errorf("the password must be at least 10 characters")
	}
	line, err := console.HashLine(args[0], role, pw)
	if err != nil {
		return err
	}
	_, err = io.WriteString(stdout, line)
	return err
}

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
	o.FinalAdvisories = 6
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
