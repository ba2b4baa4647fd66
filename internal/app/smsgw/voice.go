package smsgw

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/traffic12123/gateway/internal/cdr"
	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/voice"
	"github.com/traffic12123/gateway/pkg/ivr"
)

// voiceParts is the voice stage and what it owns (nil without voice.trunk).
type voiceParts struct {
	stage   *voice.Stage
	dialler *ivr.Dialler
	journal *voice.Journal
	kafka   *cdr.Kafka

	mu     sync.Mutex
	failed error // why the stage stopped early (/readyz)
}

// health is nil while the stage can place calls.
func (v *voiceParts) health() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.failed != nil {
		return fmt.Errorf("voice calls stopped: %w", v.failed)
	}
	return nil
}

func (v *voiceParts) fail(err error) {
	v.mu.Lock()
	v.failed = err
	v.mu.Unlock()
}

// buildVoice builds the fallback calls' stage and dialler when the
// configuration names a trunk. Without one, calls wait in the ledger.
func (a *App) buildVoice(loc *time.Location) error {
	vc := a.cfg.Voice
	if !vc.Enabled() {
		return nil
	}
	calls, ok := a.store.(ledger.CallStore)
	if !ok {
		return errors.New("smsgw: voice: the ledger keeps no calls")
	}
	prompts := vc.Prompts
	if prompts == "" {
		prompts = "prompts"
	}
	lib, err := ivr.LoadLibrary(prompts)
	if err != nil {
		return fmt.Errorf("smsgw: voice: prompts: %w", err)
	}
	hours, err := ivr.ParseHours(vc.Hours)
	if err != nil {
		return fmt.Errorf("smsgw: voice.hours: %w", err)
	}
	dc := ivr.DiallerConfig{
		Trunk: vc.Trunk, Transport: vc.Transport, Bind: vc.Bind, ExternalHost: vc.ExternalHost,
		Username: vc.Username, CallerID: vc.CallerID, MaxConcurrent: vc.MaxConcurrent,
		CallsPerSecond: float64(vc.CallsPerSecond), Hours: hours, Location: loc,
		RingTimeout: vc.RingTimeout.D(), KeyTimeout: vc.KeyTimeout.D(), MaxPlays: vc.MaxPlays,
		MaxCallDuration: vc.MaxCallDuration.D(), Now: a.opts.Now, UserAgent: "12123-smsgw",
	}
	if dc.Bind == "" {
		dc.Bind = "0.0.0.0:5070"
	}
	if vc.PasswordFile != "" {
		b, err := os.ReadFile(vc.PasswordFile)
		if err != nil {
			return fmt.Errorf("smsgw: voice.password_file: %w", err)
		}
		if dc.Password = strings.TrimSpace(string(b)); dc.Password == "" {
			return errors.New("smsgw: voice.password_file: empty")
		}
	}
	path := vc.Journal
	if path == "" {
		path = a.journalPath()
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("smsgw: voice.journal: %w", err)
	}
	j, err := voice.OpenJournal(path, a.opts.Now(), vc.JournalRetention.D())
	if err != nil {
		return fmt.Errorf("smsgw: voice.journal: %w", err)
	}
	v := &voiceParts{journal: j}
	sinks := cdr.Multi{j}
	if len(a.cfg.Kafka.Brokers) > 0 && vc.CDRTopic != "" {
		v.kafka = cdr.NewKafka(a.cfg.Kafka.Brokers, vc.CDRTopic)
		sinks = append(sinks, v.kafka)
	}
	maxConc := vc.MaxConcurrent
	if maxConc <= 0 {
		maxConc = ivr.DefaultMaxConcurrent
	}
	v.stage, err = voice.New(voice.Config{
		Owner: a.cfg.Instance, Ledger: calls, Records: j, Retry: vc.RetryPolicy(), MaxConcurrent: maxConc,
		Poll: vc.Poll.D(), StaleAfter: vc.StaleAfter.D(), Now: a.opts.Now,
		Logger: a.log.With("component", "voice"), Metrics: voice.NewMetrics(a.reg),
	})
	if err != nil {
		j.Close()
		return err
	}
	var synth ivr.Synthesizer
	if len(vc.TTSCommand) > 0 {
		synth = ivr.CommandSynth{Argv: vc.TTSCommand}
	}
	v.dialler, err = ivr.NewDialler(ivr.DiallerOptions{
		DiallerConfig: dc, Library: lib, Guard: v.stage.Guard(), OnState: v.stage.OnState, CDR: sinks,
		Synth: synth, Logger: a.log.With("component", "dialler"), Metrics: ivr.NewOutboundMetrics(a.reg),
	})
	if err != nil {
		j.Close()
		return fmt.Errorf("smsgw: voice: %w", err)
	}
	v.stage.SetDialler(v.dialler)
	a.voice = v
	return nil
}

// journalPath is the default call journal: next to an SQLite ledger,
// else under data/.
func (a *App) journalPath() string {
	dsn, _ := a.cfg.LedgerDSN()
	if rest, ok := strings.CutPrefix(dsn, "sqlite://"); ok {
		rest, _, _ = strings.Cut(rest, "?")
		if rest != "" {
			return filepath.Join(filepath.Dir(rest), "calls.cdr.jsonl")
		}
	}
	return filepath.Join("data", "calls.cdr.jsonl")
}

// runVoice starts the dialler and runs the stage until ctx ends; then
// the dialler hangs up the calls in progress and the stage records them.
func (v *voiceParts) run(ctx context.Context) error {
	if err := v.dialler.Start(ctx); err != nil {
		err = fmt.Errorf("voice: dialler: %w", err)
		v.fail(err)
		_ = v.journal.Close()
		return err
	}
	err := v.stage.Run(ctx)
	if err != nil {
		v.fail(err)
	}
	if cerr := v.dialler.Close(); err == nil {
		err = cerr
	}
	if v.kafka != nil {
		_ = v.kafka.Close()
	}
	if cerr := v.journal.Close(); err == nil {
		err = cerr
	}
	return err
}
