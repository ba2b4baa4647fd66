package config

import (
	"github.com/traffic12123/gateway/pkg/ivr"
)

// Voice configures the fallback calls of rules with `channels: [sms,
// voice]` or `[voice]` (internal/voice): the SIP trunk the dialler
// (pkg/ivr) calls through and the retry policy. Without Trunk no call is
// placed: fallback plans are dropped (dispatch.PipelineConfig
// NoFallbackCalls) and voice-only calls wait in the ledger.
type Voice struct {
	Trunk        string `yaml:"trunk"`     // host:port or sip: URI
	Transport    string `yaml:"transport"` // udp (default) or tcp
	Bind         string `yaml:"bind"`      // local SIP address; default 0.0.0.0:5070
	ExternalHost string `yaml:"external_host"`
	Username     string `yaml:"username"`
	// PasswordFile holds the digest password (a mounted secret).
	PasswordFile    string   `yaml:"password_file"`
	CallerID        string   `yaml:"caller_id"`         // 12123
	MaxConcurrent   int      `yaml:"max_concurrent"`    // calls at once (30)
	CallsPerSecond  int      `yaml:"calls_per_second"`  // new INVITEs per second (5)
	Hours           string   `yaml:"hours"`             // allowed calling hours in policy.timezone, e.g. 08:00-21:00
	RingTimeout     Duration `yaml:"ring_timeout"`      // 45s
	KeyTimeout      Duration `yaml:"key_timeout"`       // 8s
	MaxPlays        int      `yaml:"max_plays"`         // 3
	MaxCallDuration Duration `yaml:"max_call_duration"` // 5m
	Prompts         string   `yaml:"prompts"`           // prompt directory (prompts)
	TTSCommand      []string `yaml:"tts_command"`       // speaks free text; empty: the callee hears notice_see_sms
	// Journal is the local file of call records a crash is reconciled
	// from (default: calls.cdr.jsonl next to an SQLite ledger, else
	// data/calls.cdr.jsonl); JournalRetention how long records are kept.
	// CDRTopic: the call records also go to this Kafka topic, as the
	// IVR's do (default ivr.cdr; empty: the journal only).
	CDRTopic         string   `yaml:"cdr_topic"`
	Journal          string   `yaml:"journal"`
	JournalRetention Duration `yaml:"journal_retention"`
	Poll             Duration `yaml:"poll"`        // how often armed and due calls are checked (1s)
	StaleAfter       Duration `yaml:"stale_after"` // another instance's claim older than this is recovered (15m)
	Retry            struct {
		MaxAttempts      int      `yaml:"max_attempts"` // calls in all (3)
		Backoff          Duration `yaml:"backoff"`      // 5m, doubling
		MaxBackoff       Duration `yaml:"max_backoff"`  // 1h
		RetryUnconfirmed *bool    `yaml:"retry_unconfirmed"`
	} `yaml:"retry"`
}

// Enabled reports whether a trunk is configured.
func (v *Voice) Enabled() bool { return v.Trunk != "" }

func (v *Voice) validate(p *problems) {
	if !v.Enabled() {
		return
	}
	if _, err := ivr.ParseTrunk(v.Trunk); err != nil {
		p.add("voice.trunk: %v", err)
	}
	if v.Transport != "" && v.Transport != "udp" && v.Transport != "tcp" {
		p.add("voice.transport: %q is neither udp nor tcp", v.Transport)
	}
	if _, err := ivr.ParseHours(v.Hours); err != nil {
		p.add("voice.hours: %v", err)
	}
	if v.Username != "" && v.PasswordFile == "" {
		p.add("voice.password_file: a username needs a password file")
	}
	if v.MaxConcurrent < 0 || v.CallsPerSecond < 0 || v.MaxPlays < 0 || v.Retry.MaxAttempts < 0 {
		p.add("voice: negative limit")
	}
}

// RetryPolicy is the configured retry policy.
func (v *Voice) RetryPolicy() ivr.RetryPolicy {
	r := v.Retry
	return ivr.DefaultRetryPolicy.With(r.MaxAttempts, r.Backoff.D(), r.MaxBackoff.D(), r.RetryUnconfirmed)
}
