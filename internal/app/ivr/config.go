package ivr

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is config/ivr.yaml.
type Config struct {
	SIP struct {
		UDP             string        `yaml:"udp"`
		TCP             string        `yaml:"tcp"`
		ExternalHost    string        `yaml:"external_host"`
		MaxCalls        int           `yaml:"max_calls"`
		InviteRate      float64       `yaml:"invite_rate"`
		InviteBurst     int           `yaml:"invite_burst"`
		Trusted         []string      `yaml:"trusted"`
		InBandDTMF      bool          `yaml:"inband_dtmf"`
		RingFor         time.Duration `yaml:"ring_for"`
		MaxCallDuration time.Duration `yaml:"max_call_duration"`
	} `yaml:"sip"`
	Prompts  string `yaml:"prompts"`
	Flows    string `yaml:"flows"`
	Timezone string `yaml:"timezone"`
	Records  struct {
		DSN string `yaml:"dsn"`
	} `yaml:"records"`
	Kafka struct {
		Brokers         []string `yaml:"brokers"`
		GroupID         string   `yaml:"group_id"`
		Topics          []string `yaml:"topics"`
		DeadLetterTopic string   `yaml:"dead_letter_topic"`
		CDRTopic        string   `yaml:"cdr_topic"`
	} `yaml:"kafka"`
	HTTP struct {
		Addr string `yaml:"addr"`
	} `yaml:"http"`
	// Admin is the operator's listener (pprof, flow reload, memstats),
	// apart from /metrics: enabled by a token file, loopback by default.
	Admin struct {
		Addr      string `yaml:"addr"`       // default 127.0.0.1:9103
		TokenFile string `yaml:"token_file"` // bearer token; empty: no admin listener
	} `yaml:"admin"`
	// TTS speaks free text (place names, advisory texts): a command given
	// the text as its last argument that writes an 8 kHz mono WAV to
	// stdout. Empty: callers hear a fixed prompt instead.
	TTS struct {
		Command []string `yaml:"command"`
	} `yaml:"tts"`
	// Outbound is the notice dialler (outbound.go); off without a trunk.
	Outbound Outbound `yaml:"outbound"`

	trusted  []netip.Prefix
	location *time.Location
}

// LoadConfig reads and validates a configuration file strictly.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return ParseConfig(path, b)
}

// ParseConfig decodes and validates a configuration.
func ParseConfig(name string, b []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &c, nil
}

func (c *Config) validate() error {
	var errs []error
	if c.SIP.UDP == "" && c.SIP.TCP == "" {
		errs = append(errs, errors.New("sip: udp or tcp address needed"))
	}
	for _, t := range c.SIP.Trusted {
		p, err := netip.ParsePrefix(t)
		if err != nil {
			a, err2 := netip.ParseAddr(t)
			if err2 != nil {
				errs = append(errs, fmt.Errorf("sip.trusted: %q is no network: %w", t, err))
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		c.trusted = append(c.trusted, p)
	}
	if len(c.SIP.Trusted) == 0 && (!loopback(c.SIP.UDP) || !loopback(c.SIP.TCP)) {
		errs = append(errs, errors.New("sip.trusted: empty accepts SIP from anywhere on a non-loopback address; list the carrier SBC addresses"))
	}
	if c.Admin.Addr != "" && c.Admin.TokenFile == "" {
		errs = append(errs, errAdminNoToken)
	}
	if c.Prompts == "" {
		c.Prompts = "prompts"
	}
	if c.Flows == "" {
		errs = append(errs, errors.New("flows: a call flow file is needed"))
	}
	if c.Timezone == "" {
		c.Timezone = "Asia/Shanghai"
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		if c.Timezone != "Asia/Shanghai" {
			errs = append(errs, fmt.Errorf("timezone: %w", err))
		}
		loc = time.FixedZone("CST", 8*3600)
	}
	c.location = loc
	if c.Records.DSN == "" {
		c.Records.DSN = "ivr-records.db"
	}
	if len(c.Kafka.Brokers) > 0 {
		if c.Kafka.GroupID == "" {
			c.Kafka.GroupID = "ivr-records"
		}
		if len(c.Kafka.Topics) == 0 {
			errs = append(errs, errors.New("kafka.topics: at least one topic"))
		}
	}
	errs = append(errs, c.Outbound.validate()...)
	return errors.Join(errs...)
}

// loopback reports whether a listen address is unset or on loopback.
func loopback(addr string) bool {
	if addr == "" {
		return true
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
