// Package config is the schema of smsgw's configuration file and its
// strict loader: unknown keys are errors with their line, durations and
// enums are checked, and secrets are read from the environment or files so
// that none has to be written inline. Each section validates itself; the
// components that use a section own its meaning.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole smsgw configuration.
type Config struct {
	Instance string    `yaml:"instance"` // unique per running process; default: hostname
	Kafka    Kafka     `yaml:"kafka"`
	Ledger   Ledger    `yaml:"ledger"`
	Rules    Rules     `yaml:"rules"`
	Policy   Policy    `yaml:"policy"`
	Route    Route     `yaml:"route"`
	Carriers []Carrier `yaml:"carriers"`
	Sender   Sender    `yaml:"sender"`
	HTTP     HTTP      `yaml:"http"`
	Log      Log       `yaml:"log"`
}

// Kafka is where events come from and where statuses and rejects go.
type Kafka struct {
	Brokers        []string `yaml:"brokers"`
	GroupID        string   `yaml:"group_id"`
	Topics         []string `yaml:"topics"`
	DeadLetter     string   `yaml:"dead_letter_topic"`
	StatusTopic    string   `yaml:"status_topic"` // empty: do not publish status changes
	MaxBatch       int      `yaml:"max_batch"`
	MaxWait        Duration `yaml:"max_wait"`
	BatchGap       Duration `yaml:"batch_gap"` // while the handler is idle, a pause this long ends a batch; 0: batches wait max_wait
	SessionTimeout Duration `yaml:"session_timeout"`
	TLS            TLS      `yaml:"tls"`
	SASL           SASL     `yaml:"sasl"`
}

// TLS is a client TLS setting.
type TLS struct {
	Enabled            bool   `yaml:"enabled"`
	CAFile             string `yaml:"ca_file"`   // PEM; empty: the system roots
	CertFile           string `yaml:"cert_file"` // client certificate (mutual TLS), PEM
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// SASL is a Kafka SASL login.
type SASL struct {
	Mechanism    string `yaml:"mechanism"` // "", plain, scram-sha-256, scram-sha-512
	Username     string `yaml:"username"`
	Password     string `yaml:"password"` // discouraged; use PasswordEnv or PasswordFile
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
}

// ResolvePassword returns the SASL password from the inline value, the
// environment or a file.
func (s SASL) ResolvePassword() (string, error) {
	return secret("kafka sasl password", s.Password, s.PasswordEnv, s.PasswordFile)
}

// Ledger is the message store.
type Ledger struct {
	// DSN: "sqlite:///var/lib/smsgw/ledger.db" or "postgres://user@host/db".
	// DSNEnv and DSNFile, when set, supply it instead (it may hold a password).
	DSN       string   `yaml:"dsn"`
	DSNEnv    string   `yaml:"dsn_env"`
	DSNFile   string   `yaml:"dsn_file"`
	Retention Duration `yaml:"retention"` // final rows older than this are pruned; 0 keeps them
	Contacts  Contacts `yaml:"contacts"`
}

// Contacts tunes the writer of the contacts directory (internal/directory).
type Contacts struct {
	KnownMB    int      `yaml:"known_mb"`    // memory for hashes of contacts already stored (skipped); 0 remembers none
	FlushEvery Duration `yaml:"flush_every"` // new contacts are written at least this often
	MaxPending int      `yaml:"max_pending"` // new contacts queued before ingest waits
	Sync       bool     `yaml:"sync"`        // a batch is committed only once its new contacts are stored
}

// Rules is where the operator-tuned rules live.
type Rules struct {
	Dir   string `yaml:"dir"`
	Watch bool   `yaml:"watch"` // reload when a file in Dir changes
}

// Policy holds the per-recipient limits applied after the rules.
type Policy struct {
	DailyCap   int    `yaml:"daily_cap"`    // messages per recipient per day across rules; urgent rules bypass; 0 = no cap
	OptOutFile string `yaml:"opt_out_file"` // one number per line, merged into the ledger's opt-out list at start
	Timezone   string `yaml:"timezone"`     // for "a day" of the cap; default Asia/Shanghai
}

// Route maps numbers to carriers beyond libphonenumber's data.
type Route struct {
	Fallback   string            `yaml:"fallback"`    // carrier for valid numbers with no known carrier; empty: fail them
	Prefixes   map[string]string `yaml:"prefixes"`    // prefix -> carrier
	Numbers    map[string]string `yaml:"numbers"`     // number -> carrier (ported)
	PortedFile string            `yaml:"ported_file"` // "number,carrier" lines
}

// Carrier is one carrier's SMPP account.
type Carrier struct {
	Name            string   `yaml:"name"` // china_mobile, china_unicom, china_telecom, china_broadnet
	Addr            string   `yaml:"addr"`
	SystemID        string   `yaml:"system_id"`
	Password        string   `yaml:"password"` // discouraged; use PasswordEnv or PasswordFile
	PasswordEnv     string   `yaml:"password_env"`
	PasswordFile    string   `yaml:"password_file"`
	SystemType      string   `yaml:"system_type"`
	Binds           int      `yaml:"binds"`
	ReceiverBinds   int      `yaml:"receiver_binds"`  // extra receiver-only binds, for SMSCs that send receipts only there
	ReceiptWorkers  int      `yaml:"receipt_workers"` // receipts stored concurrently per bind (group-committed); at least the SMSC's receipt window
	Concat          string   `yaml:"concat"`          // long messages: udh (8-bit reference, default), sar (TLVs) or payload (message_payload)
	BindType        string   `yaml:"bind_type"`       // transceiver (default), transmitter, receiver
	Window          int      `yaml:"window"`
	TPS             int      `yaml:"tps"`
	Source          string   `yaml:"source"` // default "12123"
	TLS             bool     `yaml:"tls"`
	TLSCAFile       string   `yaml:"tls_ca_file"`
	TLSSkipVerify   bool     `yaml:"tls_insecure_skip_verify"`
	ResponseTimeout Duration `yaml:"response_timeout"`
	EnquireLink     Duration `yaml:"enquire_link"`
}

// Sender tunes the stage that claims messages from the ledger and submits them.
type Sender struct {
	ClaimBatch         int      `yaml:"claim_batch"`
	InFlight           int      `yaml:"in_flight"` // concurrent submits per carrier
	MaxAttempts        int      `yaml:"max_attempts"`
	RetryBackoff       Duration `yaml:"retry_backoff"`
	RetryBackoffMax    Duration `yaml:"retry_backoff_max"`
	UnknownGrace       Duration `yaml:"unknown_grace"`        // wait this long for a receipt before deciding an unknown outcome
	UnknownResendLimit int      `yaml:"unknown_resend_limit"` // resends after unknown outcomes; 0 = never resend, fail instead
	ClaimLease         Duration `yaml:"claim_lease"`          // a claim older than this whose instance died is recovered by the others
	Poll               Duration `yaml:"poll"`
	DrainTimeout       Duration `yaml:"drain_timeout"` // on shutdown, how long to wait for in-flight submits and receipts
	// ReceiptValidity is the longest an SMSC keeps trying a message; a
	// part still without a receipt ReceiptGrace after its validity (its
	// expiry if sooner) ends the message no_receipt.
	ReceiptValidity Duration `yaml:"receipt_validity"`
	ReceiptGrace    Duration `yaml:"receipt_grace"`
}

// HTTP serves /metrics, /healthz, /readyz and /-/reload.
type HTTP struct {
	Listen string `yaml:"listen"`
}

// Log chooses the log format and level.
type Log struct {
	Format string `yaml:"format"` // text or json
	Level  string `yaml:"level"`  // debug, info, warn, error
}

// Duration is a time.Duration written as "1500ms", "30s", "72h".
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (use 500ms, 30s, 5m, 72h)", n.Line, s)
	}
	if v < 0 {
		return fmt.Errorf("line %d: negative duration %q", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration in Go's notation.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Default returns the configuration that Load starts from.
func Default() Config {
	host, _ := os.Hostname()
	return Config{
		Instance: host,
		Kafka: Kafka{
			GroupID:        "smsgw",
			Topics:         []string{"events.licence", "events.vehicle", "events.violation", "events.advisory"},
			DeadLetter:     "events.dlq",
			StatusTopic:    "sms.status",
			MaxBatch:       2000,
			MaxWait:        Duration(50 * time.Millisecond),
			BatchGap:       Duration(time.Millisecond),
			SessionTimeout: Duration(10 * time.Second),
		},
		Ledger: Ledger{DSN: "sqlite://data/ledger.db", Retention: Duration(30 * 24 * time.Hour),
			Contacts: Contacts{KnownMB: 8, FlushEvery: Duration(time.Second), MaxPending: 100_000}},
		Rules:  Rules{Dir: "rules", Watch: true},
		Policy: Policy{DailyCap: 5, Timezone: "Asia/Shanghai"},
		Route:  Route{Prefixes: DefaultPrefixes()},
		Sender: Sender{
			ClaimBatch:         1000,
			InFlight:           256,
			MaxAttempts:        5,
			RetryBackoff:       Duration(2 * time.Second),
			RetryBackoffMax:    Duration(5 * time.Minute),
			UnknownGrace:       Duration(10 * time.Minute),
			UnknownResendLimit: 1,
			ClaimLease:         Duration(2 * time.Minute),
			Poll:               Duration(time.Second),
			DrainTimeout:       Duration(15 * time.Second),
			ReceiptValidity:    Duration(48 * time.Hour),
			ReceiptGrace:       Duration(time.Hour),
		},
		HTTP: HTTP{Listen: "127.0.0.1:9123"},
		Log:  Log{Format: "text", Level: "info"},
	}
}

// LoadFile reads and validates a configuration file.
func LoadFile(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Load(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Load parses YAML over Default strictly and validates the result.
func Load(b []byte) (*Config, error) {
	c := Default()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate checks every section and returns all problems at once.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Instance == "" {
		add("instance: must not be empty")
	}
	if len(c.Kafka.Topics) == 0 {
		add("kafka.topics: at least one topic")
	}
	if c.Kafka.GroupID == "" {
		add("kafka.group_id: must not be empty")
	}
	if c.Kafka.DeadLetter == "" {
		add("kafka.dead_letter_topic: must not be empty (bad records must go somewhere)")
	}
	switch c.Kafka.SASL.Mechanism {
	case "", "plain", "scram-sha-256", "scram-sha-512":
	default:
		add("kafka.sasl.mechanism: %q is not plain, scram-sha-256 or scram-sha-512", c.Kafka.SASL.Mechanism)
	}
	if c.Kafka.SASL.Mechanism != "" && c.Kafka.SASL.Username == "" {
		add("kafka.sasl.username: required with a mechanism")
	}
	if (c.Kafka.TLS.CertFile == "") != (c.Kafka.TLS.KeyFile == "") {
		add("kafka.tls: cert_file and key_file go together")
	}
	if c.Kafka.BatchGap < 0 || c.Kafka.BatchGap > c.Kafka.MaxWait {
		add("kafka.batch_gap must be between 0 and max_wait")
	}
	if c.Kafka.MaxBatch <= 0 {
		add("kafka.max_batch: must be positive")
	}
	if n := btoi(c.Ledger.DSN != "") + btoi(c.Ledger.DSNEnv != "") + btoi(c.Ledger.DSNFile != ""); n != 1 {
		add("ledger: set exactly one of dsn, dsn_env, dsn_file")
	}
	if k := c.Ledger.Contacts; k.KnownMB < 0 || k.KnownMB > 1024 || k.FlushEvery <= 0 || k.MaxPending <= 0 {
		add("ledger.contacts: known_mb must be in 0..1024, flush_every and max_pending positive")
	}
	if c.Rules.Dir == "" {
		add("rules.dir: must not be empty")
	}
	if c.Policy.DailyCap < 0 {
		add("policy.daily_cap: must not be negative")
	}
	if _, err := time.LoadLocation(c.Policy.Timezone); err != nil {
		add("policy.timezone: %v", err)
	}
	if c.Route.Fallback != "" && !validCarrier(c.Route.Fallback) {
		add("route.fallback: unknown carrier %q (want one of %s)", c.Route.Fallback, strings.Join(CarrierNames, ", "))
	}
	for p, car := range c.Route.Prefixes {
		if !validCarrier(car) {
			add("route.prefixes[%s]: unknown carrier %q", p, car)
		}
	}
	for n, car := range c.Route.Numbers {
		if !validCarrier(car) {
			add("route.numbers[%s…]: unknown carrier %q", n[:min(3, len(n))], car)
		}
	}
	seen := map[string]bool{}
	for i := range c.Carriers {
		k := &c.Carriers[i]
		where := fmt.Sprintf("carriers[%d]", i)
		if !validCarrier(k.Name) {
			add("%s.name: unknown carrier %q (want one of %s)", where, k.Name, strings.Join(CarrierNames, ", "))
		}
		if seen[k.Name] {
			add("%s.name: %s configured twice", where, k.Name)
		}
		seen[k.Name] = true
		if k.Addr == "" {
			add("%s.addr: must not be empty", where)
		}
		if k.SystemID == "" {
			add("%s.system_id: must not be empty", where)
		}
		if btoi(k.Password != "")+btoi(k.PasswordEnv != "")+btoi(k.PasswordFile != "") > 1 {
			add("%s: set at most one of password, password_env, password_file", where)
		}
		switch k.Concat {
		case "", "udh", "sar", "payload":
		default:
			add("%s.concat: %q is not udh, sar or payload", where, k.Concat)
		}
		if k.ReceiverBinds < 0 || k.ReceiptWorkers < 0 {
			add("%s: receiver_binds and receipt_workers must not be negative", where)
		}
		switch k.BindType {
		case "", "transceiver", "transmitter", "receiver":
		default:
			add("%s.bind_type: %q is not transceiver, transmitter or receiver", where, k.BindType)
		}
		if k.Binds < 0 || k.Window < 0 || k.TPS < 0 {
			add("%s: binds, window and tps must not be negative", where)
		}
	}
	s := c.Sender
	if s.ClaimBatch <= 0 || s.InFlight <= 0 || s.MaxAttempts <= 0 {
		add("sender: claim_batch, in_flight and max_attempts must be positive")
	}
	if s.ClaimLease.D() < 10*time.Second {
		add("sender.claim_lease: at least 10s (a submit may take up to half of it)")
	}
	if s.UnknownResendLimit < 0 {
		add("sender.unknown_resend_limit: must not be negative")
	}
	if s.ReceiptValidity.D() <= 0 || s.ReceiptGrace.D() <= 0 {
		add("sender.receipt_validity and sender.receipt_grace: must be positive")
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		add("log.format: %q is not text or json", c.Log.Format)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level: %q is not debug, info, warn or error", c.Log.Level)
	}
	if len(errs) > 0 {
		return fmt.Errorf("config: %w", errors.Join(errs...))
	}
	return nil
}

// DefaultPrefixes are ranges libphonenumber has no carrier for, or gives
// to the wrong one: China Telecom's 149 and its 1349 satellite range, and
// the virtual operators' 162, 165, 167 hosted on Telecom, Mobile and
// Unicom. Prefixes in the configuration file are added to these (and
// override them).
func DefaultPrefixes() map[string]string {
	return map[string]string{
		"149": "china_telecom", "1349": "china_telecom",
		"162": "china_telecom", "165": "china_mobile", "167": "china_unicom",
	}
}

// CarrierNames are the accepted carrier names (route.Carrier values).
var CarrierNames = []string{"china_mobile", "china_unicom", "china_telecom", "china_broadnet"}

func validCarrier(s string) bool {
	for _, n := range CarrierNames {
		if s == n {
			return true
		}
	}
	return false
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// LedgerDSN resolves the ledger DSN from the inline value, the
// environment or a file.
func (c *Config) LedgerDSN() (string, error) {
	return secret("ledger dsn", c.Ledger.DSN, c.Ledger.DSNEnv, c.Ledger.DSNFile)
}

// ResolvePassword returns a carrier's password from the inline value,
// the environment or a file. No password at all is allowed (some test
// SMSCs accept any).
func (k *Carrier) ResolvePassword() (string, error) {
	return secret(k.Name+" password", k.Password, k.PasswordEnv, k.PasswordFile)
}

func secret(what, inline, env, file string) (string, error) {
	switch {
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok {
			return "", fmt.Errorf("config: %s: environment variable %s is not set", what, env)
		}
		return v, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("config: %s: %w", what, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return inline, nil
}
