package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Safety configures the send-time content check and the audience limit
// (internal/contentcheck, dispatch.Safety).
type Safety struct {
	// ContentCheck turns the send-time check of every rendered text on
	// (default): a text with a link, a stray 【】, a phone number other
	// than ServiceNumbers or a control character is held, not sent.
	ContentCheck bool `yaml:"content_check"`
	// ServiceNumbers may appear in texts (default 12123, 12122, 12345, 110, 122).
	ServiceNumbers []string `yaml:"service_numbers"`
	// AllowedDomains may appear in texts, with their subdomains.
	AllowedDomains []string `yaml:"allowed_domains"`
	// MaxAudience: an advisory decision reaching more recipients is held
	// for approval (smsgw held release). 0: no limit.
	MaxAudience int `yaml:"max_audience"`
}

// DefaultSafety is the default safety section.
func DefaultSafety() Safety {
	return Safety{ContentCheck: true, ServiceNumbers: []string{"12123", "12122", "12345", "110", "122"},
		AllowedDomains: []string{"122.gov.cn"}, MaxAudience: 200_000}
}

// bound is the upper (and lower) limit of one numeric key. Every numeric
// key has one: a value past it is refused with its file and line
// (sender.in_flight: 100000000 used to take 24 GB in seconds).
type bound struct {
	path     string // dotted; "carriers[]." keys apply to every carrier
	min, max int64  // durations in nanoseconds
	dur      bool
}

// Bounds lists the numeric keys and their limits (docs/operations.md).
var bounds = []bound{
	{path: "kafka.max_batch", min: 1, max: 100_000},
	{path: "kafka.max_wait", max: int64(10 * time.Second), dur: true},
	{path: "kafka.batch_gap", max: int64(10 * time.Second), dur: true},
	{path: "kafka.session_timeout", max: int64(5 * time.Minute), dur: true},
	{path: "kafka.dlq_max_bytes", min: 4096, max: 1_000_000},
	{path: "kafka.stall_after", min: int64(10 * time.Second), max: int64(time.Hour), dur: true},
	{path: "ledger.retention", max: int64(5 * 365 * 24 * time.Hour), dur: true},
	{path: "ledger.contacts.known_mb", max: 1024},
	{path: "ledger.contacts.flush_every", max: int64(time.Minute), dur: true},
	{path: "ledger.contacts.max_pending", min: 1, max: 10_000_000},
	{path: "policy.daily_cap", max: 100},
	{path: "carriers[].binds", max: 64},
	{path: "carriers[].receipt_workers", max: 4096},
	{path: "carriers[].window", max: 1024},
	{path: "carriers[].tps", max: 100_000},
	{path: "carriers[].response_timeout", max: int64(5 * time.Minute), dur: true},
	{path: "sender.claim_batch", min: 1, max: 100_000},
	{path: "sender.in_flight", min: 1, max: 10_000},
	{path: "sender.max_attempts", min: 1, max: 100},
	{path: "sender.retry_backoff", max: int64(time.Hour), dur: true},
	{path: "sender.retry_backoff_max", max: int64(24 * time.Hour), dur: true},
	{path: "sender.unknown_grace", max: int64(24 * time.Hour), dur: true},
	{path: "sender.unknown_resend_limit", max: 10},
	{path: "sender.claim_lease", max: int64(time.Hour), dur: true},
	{path: "sender.poll", max: int64(time.Minute), dur: true},
	{path: "sender.drain_timeout", max: int64(10 * time.Minute), dur: true},
	{path: "sender.receipt_validity", max: int64(30 * 24 * time.Hour), dur: true},
	{path: "sender.receipt_grace", max: int64(7 * 24 * time.Hour), dur: true},
	{path: "voice.max_concurrent", max: 10_000},
	{path: "voice.calls_per_second", max: 1_000},
	{path: "voice.ring_timeout", max: int64(5 * time.Minute), dur: true},
	{path: "voice.key_timeout", max: int64(time.Minute), dur: true},
	{path: "voice.max_plays", max: 10},
	{path: "voice.max_call_duration", max: int64(30 * time.Minute), dur: true},
	{path: "voice.poll", max: int64(time.Minute), dur: true},
	{path: "voice.stale_after", max: int64(24 * time.Hour), dur: true},
	{path: "voice.journal_retention", max: int64(365 * 24 * time.Hour), dur: true},
	{path: "voice.retry.max_attempts", max: 20},
	{path: "voice.retry.backoff", max: int64(24 * time.Hour), dur: true},
	{path: "voice.retry.max_backoff", max: int64(7 * 24 * time.Hour), dur: true},
	{path: "safety.max_audience", max: 100_000_000},
}

// checkBounds checks every numeric key present in the file against its
// bound; errors name file:line.
func checkBounds(root *yaml.Node, file string) []error {
	if root == nil || len(root.Content) == 0 {
		return nil
	}
	doc := root.Content[0]
	var errs []error
	for _, b := range bounds {
		for _, hit := range lookup(doc, strings.Split(b.path, "."), "") {
			v, err := number(hit.node, b.dur)
			if err != nil {
				continue // the decoder reports kinds
			}
			if v < b.min || v > b.max {
				errs = append(errs, fmt.Errorf("%s%d: %s: %s is outside %s..%s", prefix(file), hit.node.Line, hit.path,
					hit.node.Value, show(b.min, b.dur), show(b.max, b.dur)))
			}
		}
	}
	return errs
}

func prefix(file string) string {
	if file == "" {
		return "line "
	}
	return file + ":"
}

func show(v int64, dur bool) string {
	if dur {
		return time.Duration(v).String()
	}
	return strconv.FormatInt(v, 10)
}

type hit struct {
	path string
	node *yaml.Node
}

func lookup(n *yaml.Node, keys []string, at string) []hit {
	if len(keys) == 0 {
		return []hit{{at, n}}
	}
	k := keys[0]
	list := strings.HasSuffix(k, "[]")
	k = strings.TrimSuffix(k, "[]")
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value != k {
			continue
		}
		v := n.Content[i+1]
		name := strings.TrimPrefix(at+"."+k, ".")
		if !list {
			return lookup(v, keys[1:], name)
		}
		if v.Kind != yaml.SequenceNode {
			return nil
		}
		var out []hit
		for j, e := range v.Content {
			out = append(out, lookup(e, keys[1:], fmt.Sprintf("%s[%d]", name, j))...)
		}
		return out
	}
	return nil
}

func number(n *yaml.Node, dur bool) (int64, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, fmt.Errorf("not a scalar")
	}
	if dur {
		d, err := time.ParseDuration(n.Value)
		return int64(d), err
	}
	return strconv.ParseInt(n.Value, 0, 64)
}

// checkSecrets: a secret given inline and by env or file is an error
// (which one wins is not obvious); an inline secret is a warning, or an
// error with strict_secrets.
func (c *Config) checkSecrets(root *yaml.Node, file string) (warnings []string, errs []error) {
	var doc *yaml.Node
	if root != nil && len(root.Content) > 0 {
		doc = root.Content[0]
	}
	line := func(path string) string {
		if doc != nil {
			if hs := lookup(doc, strings.Split(path, "."), ""); len(hs) > 0 {
				return fmt.Sprintf("%s%d: ", prefix(file), hs[0].node.Line)
			}
		}
		return ""
	}
	inline := func(where, path string) {
		msg := fmt.Sprintf("%s%s: secret written inline; use %s_env or %s_file", line(path), where, leaf(where), leaf(where))
		if c.StrictSecrets {
			errs = append(errs, fmt.Errorf("%s (strict_secrets)", msg))
		} else {
			warnings = append(warnings, msg)
		}
	}
	s := c.Kafka.SASL
	if s.Password != "" && (s.PasswordEnv != "" || s.PasswordFile != "") {
		errs = append(errs, fmt.Errorf("%skafka.sasl: password together with password_env/password_file", line("kafka.sasl.password")))
	} else if s.Password != "" {
		inline("kafka.sasl.password", "kafka.sasl.password")
	}
	if s.PasswordEnv != "" && s.PasswordFile != "" {
		errs = append(errs, fmt.Errorf("%skafka.sasl: set at most one of password_env, password_file", line("kafka.sasl.password_env")))
	}
	for i, k := range c.Carriers {
		where := fmt.Sprintf("carriers[%d].password", i)
		if k.Password != "" && (k.PasswordEnv != "" || k.PasswordFile != "") {
			continue // reported by Validate ("at most one of")
		}
		if k.Password != "" {
			inline(where, "carriers[]."+"password")
		}
	}
	if c.Ledger.DSN != "" && dsnHasPassword(c.Ledger.DSN) {
		inline("ledger.dsn", "ledger.dsn")
	}
	return warnings, errs
}

func leaf(path string) string {
	p := path[strings.LastIndex(path, ".")+1:]
	return p
}

// dsnHasPassword reports a password in a URL DSN or a key=value DSN.
func dsnHasPassword(dsn string) bool {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			return true
		}
	}
	for _, f := range strings.Fields(dsn) {
		if strings.HasPrefix(strings.ToLower(f), "password=") {
			return true
		}
	}
	return false
}

// loopback reports whether a listen address binds only the loopback
// interface.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
