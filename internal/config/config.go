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
	Safety   Safety    `yaml:"safety"` // limits.go
	Voice    Voice     `yaml:"voice"`  // voice.go: fallback calls; off without a trunk

	// StrictSecrets makes an inline secret (a password or a DSN with a
	// password written in this file) an error instead of a warning.
	StrictSecrets bool `yaml:"strict_secrets"`
	// Warnings are problems that do not stop the gateway (inline
	// secrets); the caller logs them.
	Warnings []string `yaml:"-"`
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
	DLQMaxBytes    int      `yaml:"dlq_max_bytes"` // a bigger dead-letter copy is truncated (headers say so)
	StallAfter     Duration `yaml:"stall_after"`   // committed lag with no commit for this long: stalled (/readyz, alert)
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

// Policy holds what policy needs besides the rules. The per-recipient
// caps are the rule set's (rules/settings.yaml caps): one source of truth.
type Policy struct {
	OptOutFile string `yaml:"opt_out_file"` // one number per line, merged into the ledger's opt-out list at start
	Timezone   string `yaml:"timezone"`     // for "a day" of the caps; default Asia/Shanghai
	// DailyCap was the per-day cap; it moved to rules/settings.yaml. Kept
	// only to say so when an old file still sets it.
	DailyCap *int `yaml:"daily_cap"`
}

// Route maps numbers to carriers beyond libphonenumber's data. Carrier
// names and the default prefixes are internal/route's; app checks the
// names (smsgw.CheckCarriers) and puts these entries over route's
// defaults.
type Route struct {
	Fallback   string            `yaml:"fallback"`    // carrier for valid numbers with no known carrier; empty: fail them
	Prefixes   map[string]string `yaml:"prefixes"`    // prefix -> carrier
	Numbers    map[string]string `yaml:"numbers"`     // number -> carrier (ported)
	PortedFile string            `yaml:"ported_file"` // "number,carrier" lines
}

// Carrier is one carrier account: the keys every protocol has, and the
// protocol's own section (the mapping under the key named by Protocol,
// e.g. "smpp:"), which the protocol's connector package
// (internal/carrier/<protocol>) decodes and validates.
type Carrier struct {
	Name     string `yaml:"name"`     // a route.Carrier: china_mobile, china_unicom, china_telecom, china_broadnet
	Protocol string `yaml:"protocol"` // the connector: smpp (default), or another registered in app
	Addr     string `yaml:"addr"`     // host:port of the carrier's gateway (SMSC, ISMG, SMG)
	Password string `yaml:"password"` // discouraged; use PasswordEnv or PasswordFile
	// PasswordEnv and PasswordFile name where the password is.
	PasswordEnv     string   `yaml:"password_env"`
	PasswordFile    string   `yaml:"password_file"`
	Binds           int      `yaml:"binds"`            // connections (binds, logins) kept up; 0: the protocol's default
	Window          int      `yaml:"window"`           // per bind: requests awaiting a response
	TPS             int      `yaml:"tps"`              // submits per second over all binds; 0: no limit
	Source          string   `yaml:"source"`           // source address when a message has none, e.g. "12123"
	ResponseTimeout Duration `yaml:"response_timeout"` // per request; 0: the protocol's default
	ReceiptWorkers  int      `yaml:"receipt_workers"`  // receipts stored concurrently per bind (group-committed); at least the carrier's receipt window

	// Sections holds the keys of the mapping that are not common keys:
	// only the one named by Protocol is allowed (load checks, with the
	// line). Code that builds a Carrier sets it with the connector
	// package's section helper.
	Sections map[string]yaml.Node `yaml:",inline"`
}

// DefaultProtocol is the protocol of a carrier that names none.
const DefaultProtocol = "smpp"

// Section is the protocol's own section, nil when there is none.
func (k *Carrier) Section() *yaml.Node {
	n, ok := k.Sections[k.ProtocolName()]
	if !ok {
		return nil
	}
	return &n
}

// ProtocolName is Protocol, or DefaultProtocol when it is empty.
func (k *Carrier) ProtocolName() string {
	if k.Protocol == "" {
		return DefaultProtocol
	}
	return k.Protocol
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

// HTTP serves /metrics, /healthz and /readyz on Listen; reload, pprof and
// the held-message API on AdminListen. AdminListen on anything but
// loopback requires AdminTokenFile (a bearer token).
type HTTP struct {
	Listen         string `yaml:"listen"`
	AdminListen    string `yaml:"admin_listen"`     // default 127.0.0.1:9124; empty: no admin listener
	AdminTokenFile string `yaml:"admin_token_file"` // bearer token for the admin listener; required unless it is loopback
	// ConsoleAccountsFile enables the operators' console on the admin
	// listener (/console/): one "name role bcrypt-hash" line per account.
	ConsoleAccountsFile string `yaml:"console_accounts_file"`
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
			DLQMaxBytes:    512 << 10,
			StallAfter:     Duration(2 * time.Minute),
		},
		Ledger: Ledger{DSN: "sqlite://data/ledger.db", Retention: Duration(30 * 24 * time.Hour),
			Contacts: Contacts{KnownMB: 8, FlushEvery: Duration(time.Second), MaxPending: 100_000}},
		Rules:  Rules{Dir: "rules", Watch: true},
		Voice:  Voice{CDRTopic: "ivr.cdr"},
		Policy: Policy{Timezone: "Asia/Shanghai"},
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
		HTTP:   HTTP{Listen: "127.0.0.1:9123", AdminListen: "127.0.0.1:9124"},
		Log:    Log{Format: "text", Level: "info"},
		Safety: DefaultSafety(),
	}
}

// A Check is a caller's own validation of values whose meaning another
// package owns (carrier names are internal/route's); Load reports its
// problems with the file's own.
type Check func(*Config) error

// LoadFile reads and validates a configuration file, running checks too.
func LoadFile(path string, checks ...Check) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := load(b, path, checks)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Load parses YAML over Default strictly and validates the result,
// running checks too.
func Load(b []byte, checks ...Check) (*Config, error) { return load(b, "", checks) }

func load(b []byte, file string, checks []Check) (*Config, error) {
	c := Default()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var root yaml.Node
	_ = yaml.Unmarshal(b, &root) // it decoded above
	var errs []error
	warnings, serrs := c.checkSecrets(&root, file)
	for _, e := range append(append(checkBounds(&root, file), checkCarrierKeys(&root, file)...), serrs...) {
		errs = append(errs, fmt.Errorf("config: %w", e))
	}
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	for _, check := range checks {
		if err := check(&c); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	c.Warnings = warnings
	return &c, nil
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
