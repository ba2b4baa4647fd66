package ivr

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/traffic12123/gateway/pkg/ivr"
)

// Outbound is config/ivr.yaml's outbound section: urgent notices called
// out through a SIP trunk. Without trunk there is no dialler.
type Outbound struct {
	Trunk        string `yaml:"trunk"`     // host:port or sip: URI
	Transport    string `yaml:"transport"` // udp (default) or tcp
	Bind         string `yaml:"bind"`      // local SIP address; default 0.0.0.0:5070
	ExternalHost string `yaml:"external_host"`
	Username     string `yaml:"username"`
	// PasswordFile holds the digest password (a mounted secret); the
	// password is never in the config itself.
	PasswordFile    string        `yaml:"password_file"`
	CallerID        string        `yaml:"caller_id"`        // 12123
	MaxConcurrent   int           `yaml:"max_concurrent"`   // 30
	CallsPerSecond  float64       `yaml:"calls_per_second"` // 5
	Hours           string        `yaml:"hours"`            // 08:00-21:00 in timezone
	RingTimeout     time.Duration `yaml:"ring_timeout"`     // 45s
	KeyTimeout      time.Duration `yaml:"key_timeout"`      // 8s
	MaxPlays        int           `yaml:"max_plays"`        // 3
	MaxCallDuration time.Duration `yaml:"max_call_duration"`
	// Retry is the policy the caller of the dialler applies.
	Retry struct {
		MaxAttempts      int           `yaml:"max_attempts"`      // 3
		Backoff          time.Duration `yaml:"backoff"`           // 5m
		MaxBackoff       time.Duration `yaml:"max_backoff"`       // 1h
		RetryUnconfirmed *bool         `yaml:"retry_unconfirmed"` // true
	} `yaml:"retry"`

	hours ivr.Hours
}

// Enabled reports whether a trunk is configured.
func (o *Outbound) Enabled() bool { return o.Trunk != "" }

func (o *Outbound) validate() []error {
	if !o.Enabled() {
		return nil
	}
	var errs []error
	if _, err := ivr.ParseTrunk(o.Trunk); err != nil {
		errs = append(errs, fmt.Errorf("outbound.trunk: %w", err))
	}
	if o.Transport != "" && o.Transport != "udp" && o.Transport != "tcp" {
		errs = append(errs, fmt.Errorf("outbound.transport: %q is neither udp nor tcp", o.Transport))
	}
	h, err := ivr.ParseHours(o.Hours)
	if err != nil {
		errs = append(errs, fmt.Errorf("outbound.hours: %w", err))
	}
	o.hours = h
	if o.Username != "" && o.PasswordFile == "" {
		errs = append(errs, errors.New("outbound.password_file: a username needs a password file"))
	}
	if o.MaxConcurrent < 0 || o.CallsPerSecond < 0 || o.MaxPlays < 0 || o.Retry.MaxAttempts < 0 {
		errs = append(errs, errors.New("outbound: negative limit"))
	}
	if o.Bind == "" {
		o.Bind = "0.0.0.0:5070"
	}
	return errs
}

// RetryPolicy is the configured retry policy.
func (o *Outbound) RetryPolicy() ivr.RetryPolicy {
	r := o.Retry
	return ivr.DefaultRetryPolicy.With(r.MaxAttempts, r.Backoff, r.MaxBackoff, r.RetryUnconfirmed)
}

// DiallerConfig builds the dialler's configuration, reading the password
// file.
func (o *Outbound) DiallerConfig(loc *time.Location) (ivr.DiallerConfig, error) {
	c := ivr.DiallerConfig{
		Trunk: o.Trunk, Transport: o.Transport, Bind: o.Bind, ExternalHost: o.ExternalHost,
		Username: o.Username, CallerID: o.CallerID, MaxConcurrent: o.MaxConcurrent,
		CallsPerSecond: o.CallsPerSecond, Hours: o.hours, Location: loc, RingTimeout: o.RingTimeout,
		KeyTimeout: o.KeyTimeout, MaxPlays: o.MaxPlays, MaxCallDuration: o.MaxCallDuration,
	}
	if o.PasswordFile != "" {
		b, err := os.ReadFile(o.PasswordFile)
		if err != nil {
			return c, fmt.Errorf("outbound.password_file: %w", err)
		}
		c.Password = strings.TrimSpace(string(b))
		if c.Password == "" {
			return c, errors.New("outbound.password_file: empty")
		}
	}
	return c, nil
}

// Location is the configured time zone.
func (c *Config) Location() *time.Location { return c.location }

// newDialler builds the dialler when the config has a trunk; the guard
// and state callback come from Options (the SMS side's ledger).
func (a *App) newDialler(o Options, sinks ivr.CDRSink) error {
	if !a.cfg.Outbound.Enabled() {
		return nil
	}
	dc, err := a.cfg.Outbound.DiallerConfig(a.cfg.location)
	if err != nil {
		return err
	}
	dc.Now = o.Now
	var synth ivr.Synthesizer
	if len(a.cfg.TTS.Command) > 0 {
		synth = ivr.CommandSynth{Argv: a.cfg.TTS.Command}
	}
	d, err := ivr.NewDialler(ivr.DiallerOptions{
		DiallerConfig: dc, Library: a.lib, Guard: o.DialGuard, OnState: o.OnCallState, CDR: sinks,
		Synth: synth, Logger: a.log.With("component", "dialler"), Metrics: ivr.NewOutboundMetrics(a.reg),
	})
	if err != nil {
		return err
	}
	a.dialler = d
	return nil
}

// Dialler is the notice dialler, nil without outbound.trunk. It places
// calls while Run runs.
func (a *App) Dialler() *ivr.Dialler { return a.dialler }

func (a *App) runDialler(ctx context.Context) error {
	if a.dialler == nil {
		return nil
	}
	if err := a.dialler.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return a.dialler.Close()
}
