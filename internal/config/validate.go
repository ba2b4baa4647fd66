package config

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Validate checks every section and returns all problems at once. Each
// section validates itself; only the checks that span sections are here.
// Carrier names are not the file's to know: app checks them against
// internal/route (smsgw.CheckCarriers).
func (c *Config) Validate() error {
	var p problems
	if c.Instance == "" {
		p.add("instance: must not be empty")
	}
	c.Kafka.validate(&p)
	c.Ledger.validate(&p)
	c.Rules.validate(&p)
	c.Policy.validate(&p)
	// route: its carrier names and prefixes are internal/route's.
	validateCarriers(c.Carriers, &p)
	c.Sender.validate(&p)
	c.HTTP.validate(&p)
	c.Voice.validate(&p)
	if c.Kafka.DLQMaxBytes < 0 || c.Safety.MaxAudience < 0 {
		p.add("kafka.dlq_max_bytes and safety.max_audience must not be negative")
	}
	c.Log.validate(&p)
	return p.err()
}

// problems collects a section's complaints, each a "key: what is wrong".
type problems []error

func (p *problems) add(format string, a ...any) { *p = append(*p, fmt.Errorf(format, a...)) }

func (p problems) err() error {
	if len(p) > 0 {
		return fmt.Errorf("config: %w", errors.Join(p...))
	}
	return nil
}

func (k *Kafka) validate(p *problems) {
	if len(k.Topics) == 0 {
		p.add("kafka.topics: at least one topic")
	}
	if k.GroupID == "" {
		p.add("kafka.group_id: must not be empty")
	}
	if k.DeadLetter == "" {
		p.add("kafka.dead_letter_topic: must not be empty (bad records must go somewhere)")
	}
	k.SASL.validate(p)
	k.TLS.validate(p)
	if k.BatchGap < 0 || k.BatchGap > k.MaxWait {
		p.add("kafka.batch_gap must be between 0 and max_wait")
	}
	if k.MaxBatch <= 0 {
		p.add("kafka.max_batch: must be positive")
	}
}

func (s *SASL) validate(p *problems) {
	switch s.Mechanism {
	case "", "plain", "scram-sha-256", "scram-sha-512":
	default:
		p.add("kafka.sasl.mechanism: %q is not plain, scram-sha-256 or scram-sha-512", s.Mechanism)
	}
	if s.Mechanism != "" && s.Username == "" {
		p.add("kafka.sasl.username: required with a mechanism")
	}
}

func (t *TLS) validate(p *problems) {
	if (t.CertFile == "") != (t.KeyFile == "") {
		p.add("kafka.tls: cert_file and key_file go together")
	}
}

func (l *Ledger) validate(p *problems) {
	if n := btoi(l.DSN != "") + btoi(l.DSNEnv != "") + btoi(l.DSNFile != ""); n != 1 {
		p.add("ledger: set exactly one of dsn, dsn_env, dsn_file")
	}
	if k := l.Contacts; k.KnownMB < 0 || k.KnownMB > 1024 || k.FlushEvery <= 0 || k.MaxPending <= 0 {
		p.add("ledger.contacts: known_mb must be in 0..1024, flush_every and max_pending positive")
	}
}

func (r *Rules) validate(p *problems) {
	if r.Dir == "" {
		p.add("rules.dir: must not be empty")
	}
}

func (o *Policy) validate(p *problems) {
	if o.DailyCap != nil {
		p.add("policy.daily_cap: removed; the per-recipient caps are rules/settings.yaml caps.per_recipient_per_day and caps.per_recipient_per_week")
	}
	if _, err := time.LoadLocation(o.Timezone); err != nil {
		p.add("policy.timezone: %w", err)
	}
}

func validateCarriers(cs []Carrier, p *problems) {
	seen := map[string]bool{}
	for i := range cs {
		k := &cs[i]
		where := fmt.Sprintf("carriers[%d]", i)
		if seen[k.Name] {
			p.add("%s.name: %s configured twice", where, k.Name)
		}
		seen[k.Name] = true
		k.validate(where, p)
	}
}

// validate checks the common keys; the protocol's section is its
// connector package's (carrier.Protocol.Check, run by app).
func (k *Carrier) validate(where string, p *problems) {
	if k.Addr == "" {
		p.add("%s.addr: must not be empty", where)
	}
	if btoi(k.Password != "")+btoi(k.PasswordEnv != "")+btoi(k.PasswordFile != "") > 1 {
		p.add("%s: set at most one of password, password_env, password_file", where)
	}
	if k.Binds < 0 || k.Window < 0 || k.TPS < 0 || k.ReceiptWorkers < 0 {
		p.add("%s: binds, window, tps and receipt_workers must not be negative", where)
	}
}

func (s *Sender) validate(p *problems) {
	if s.ClaimBatch <= 0 || s.InFlight <= 0 || s.MaxAttempts <= 0 {
		p.add("sender: claim_batch, in_flight and max_attempts must be positive")
	}
	if s.ClaimLease.D() < 10*time.Second {
		p.add("sender.claim_lease: at least 10s (a submit may take up to half of it)")
	}
	if s.UnknownResendLimit < 0 {
		p.add("sender.unknown_resend_limit: must not be negative")
	}
	if s.ReceiptValidity.D() <= 0 || s.ReceiptGrace.D() <= 0 {
		p.add("sender.receipt_validity and sender.receipt_grace: must be positive")
	}
}

func (h *HTTP) validate(p *problems) {
	if h.AdminListen != "" && h.AdminTokenFile == "" && !loopback(h.AdminListen) {
		p.add("http.admin_listen: %s is not loopback: set http.admin_token_file (reload, pprof and the held-message API need a token there)", h.AdminListen)
	}
	if h.AdminListen != "" && h.AdminListen == h.Listen && !strings.HasSuffix(h.Listen, ":0") {
		p.add("http.admin_listen: must differ from http.listen")
	}
}

func (l *Log) validate(p *problems) {
	switch l.Format {
	case "text", "json":
	default:
		p.add("log.format: %q is not text or json", l.Format)
	}
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		p.add("log.level: %q is not debug, info, warn or error", l.Level)
	}
}
