package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/traffic12123/gateway/internal/app/smsgw"
)

const heldUsage = `usage: smsgw held list      [--limit N]
       smsgw held release   --who NAME [--note TEXT] (ID... | --reason REASON)
       smsgw held drop      --who NAME [--note TEXT] (ID... | --reason REASON)
       smsgw held decisions ID
common flags: --config FILE (reads http.admin_listen and http.admin_token_file)
              --admin URL --token-file FILE (instead of the configuration)
`

// cmdHeld talks to a running gateway's admin API about held messages.
func cmdHeld(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, heldUsage)
		return exitCode(2)
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("held "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "config/smsgw.yaml", "configuration file of the gateway")
	admin := fs.String("admin", "", "admin API base URL, e.g. http://127.0.0.1:9124 (default: from the configuration)")
	tokenFile := fs.String("token-file", "", "bearer token file (default: http.admin_token_file)")
	limit := fs.Int("limit", 1000, "list: at most this many")
	who := fs.String("who", "", "release/drop: the operator deciding (recorded)")
	note := fs.String("note", "", "release/drop: why (recorded)")
	reason := fs.String("reason", "", "release/drop: every held message with this reason instead of ids")
	if err := fs.Parse(args); err != nil {
		return err
	}
	base, token, err := adminEndpoint(*path, *admin, *tokenFile)
	if err != nil {
		return err
	}
	c := &adminClient{base: base, token: token, http: &http.Client{Timeout: 60 * time.Second}}
	switch sub {
	case "list":
		var hs []smsgw.HeldMessage
		if err := c.do("GET", "/held?limit="+strconv.Itoa(*limit), nil, &hs); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCREATED\tREASON\tRULE\tRECIPIENT\tEVENT\tTEXT")
		for _, h := range hs {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", h.ID, h.CreatedAt.Format(time.RFC3339), h.Reason, h.RuleID,
				h.Recipient, short(h.EventID, 40), strconv.Quote(short(h.Text, 200)))
		}
		tw.Flush()
		fmt.Fprintf(stdout, "%d held\n", len(hs))
		return nil
	case "release", "drop":
		req := smsgw.HeldRequest{Who: *who, Note: *note, Reason: *reason}
		for _, a := range fs.Args() {
			id, err := strconv.ParseInt(a, 10, 64)
			if err != nil {
				return fmt.Errorf("%q is not a message id", a)
			}
			req.IDs = append(req.IDs, id)
		}
		if req.Who == "" {
			return errors.New("--who is required: every decision is recorded with the operator's name")
		}
		var res smsgw.HeldResult
		if err := c.do("POST", "/held/"+sub, req, &res); err != nil {
			return err
		}
		verb := map[string]string{"release": "released", "drop": "dropped"}[sub]
		fmt.Fprintf(stdout, "%s %d messages: %v\n", verb, len(res.Changed), res.Changed)
		return nil
	case "decisions":
		if fs.NArg() != 1 {
			return errors.New("decisions takes one message id")
		}
		var ds []struct {
			Release bool
			Who     string
			Note    string
			At      time.Time
		}
		if err := c.do("GET", "/held/"+fs.Arg(0)+"/decisions", nil, &ds); err != nil {
			return err
		}
		for _, d := range ds {
			verb := "dropped"
			if d.Release {
				verb = "released"
			}
			fmt.Fprintf(stdout, "%s %s by %s %s\n", d.At.Format(time.RFC3339), verb, d.Who, d.Note)
		}
		return nil
	}
	fmt.Fprint(stderr, heldUsage)
	return exitCode(2)
}

func short(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// adminEndpoint finds the admin API: flags first, then the configuration.
func adminEndpoint(path, admin, tokenFile string) (base, token string, err error) {
	if admin == "" || tokenFile == "" {
		cfg, err := smsgw.LoadConfig(path)
		if err != nil {
			return "", "", err
		}
		if admin == "" {
			if cfg.HTTP.AdminListen == "" {
				return "", "", errors.New("http.admin_listen is empty: the gateway serves no admin API")
			}
			host, port, _ := strings.Cut(cfg.HTTP.AdminListen, ":")
			if host == "" || host == "0.0.0.0" || host == "::" || host == "[::]" {
				host = "127.0.0.1"
			}
			admin = "http://" + host + ":" + port
		}
		if tokenFile == "" {
			tokenFile = cfg.HTTP.AdminTokenFile
		}
	}
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return "", "", err
		}
		token = strings.TrimSpace(string(b))
	}
	return strings.TrimRight(admin, "/"), token, nil
}

type adminClient struct {
	base, token string
	http        *http.Client
}

func (c *adminClient) do(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	return json.Unmarshal(b, out)
}
