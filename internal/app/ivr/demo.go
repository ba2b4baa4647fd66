package ivr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/traffic12123/gateway/internal/broker"
	"github.com/traffic12123/gateway/internal/cdr"
	"github.com/traffic12123/gateway/internal/event"
	"github.com/traffic12123/gateway/internal/eventgen"
)

// The demo caller: a registered phone whose licence, vehicle and
// violations are published next to the generated traffic.
const (
	DemoPhone    = "13800138000"
	DemoIDNumber = "11010519850912345X"
	DemoIDKeys   = "12345*#" // the last six, X as *, then #
	DemoPlate    = "京A12345"
)

// DefaultTTSCommand speaks free text with espeak-ng's Mandarin voice (the
// demo uses it when espeak-ng and sox are installed).
var DefaultTTSCommand = []string{"sh", "-c",
	`espeak-ng -v cmn -s 160 --stdout "$1" | sox -q -t wav - -r 8000 -c 1 -b 16 -t wav - gain -n -3`, "tts"}

// DemoOptions configures Demo.
type DemoOptions struct {
	SIP     string // UDP and TCP address; default 127.0.0.1:5060
	HTTP    string // default 127.0.0.1:9102; "-" disables
	Prompts string // default "prompts"
	Flows   string // default "config/ivr-flows.yaml"
	Events  int    // generated events besides the demo caller's; default 2000
	DataDir string // broker and store files; default a temporary directory
	Seed    int64
	Now     time.Time // default time.Now()
	Logger  *slog.Logger
	Out     io.Writer // instructions; default os.Stdout
	Ready   func(*App)
}

// DemoEvents returns the demo caller's events at now.
func DemoEvents(now time.Time) []*event.Event {
	day := func(n int) time.Time { return now.AddDate(0, 0, n).Truncate(24 * time.Hour) }
	lic := event.Licence{Number: DemoIDNumber, Holder: "张三", Phone: DemoPhone, Region: "110105", Class: "C1",
		Status: "A", Points: 6, CycleEnd: day(120), ValidUntil: day(2000), MedicalDue: day(300)}
	veh := event.Vehicle{Plate: DemoPlate, PlateType: "02", Owner: "张三", Phone: DemoPhone, Region: "110105",
		Use: event.UsePrivate, Status: "A", InspectionValidUntil: day(100), UnprocessedViolations: 2}
	v1 := event.Violation{ID: "demo-v1", Time: now.Add(-72 * time.Hour).Truncate(time.Minute), Place: "北京市朝阳区建国路",
		Code: "1352", Description: "机动车违反禁令标志指示", Fine: 200, Points: 3, Monitoring: true}
	v2 := event.Violation{ID: "demo-v2", Time: now.Add(-26 * time.Hour).Truncate(time.Minute), Place: "北京市东城区长安街",
		Code: "1039", Description: "机动车违反规定停放", Fine: 100, Points: 0, Monitoring: true}
	mk := func(id string, t event.Type, set func(*event.Event)) *event.Event {
		e := &event.Event{ID: id, Source: "/demo/110000", Type: t, Time: now.Add(-time.Minute)}
		set(e)
		return e
	}
	return []*event.Event{
		mk("demo-1", event.TypeLicenceSnapshot, func(e *event.Event) { e.LicenceSnapshot = &event.LicenceSnapshot{Licence: lic} }),
		mk("demo-2", event.TypeVehicleSnapshot, func(e *event.Event) { e.VehicleSnapshot = &event.VehicleSnapshot{Vehicle: veh} }),
		mk("demo-3", event.TypeViolationRecorded, func(e *event.Event) {
			e.ViolationRecorded = &event.ViolationRecorded{Violation: v1, Vehicle: veh}
		}),
		mk("demo-4", event.TypeViolationRecorded, func(e *event.Event) {
			e.ViolationRecorded = &event.ViolationRecorded{Violation: v2, Vehicle: veh}
		}),
		mk("demo-5", event.TypeAdvisoryPublished, func(e *event.Event) {
			e.AdvisoryPublished = &event.AdvisoryPublished{ID: "demo-a1", Regions: []string{"110000"},
				Kind: event.AdvisoryWeather, Text: "北京地区今夜有大雾，请减速慢行。", ValidUntil: now.Add(48 * time.Hour)}
		}),
	}
}

// Demo runs the IVR on embedded defaults: an embedded Kafka broker with
// generated traffic and the demo caller's records, the IVR consuming them
// into a SQLite read model, and SIP on 127.0.0.1:5060, until ctx is done.
func Demo(ctx context.Context, o DemoOptions) error {
	if o.SIP == "" {
		o.SIP = "127.0.0.1:5060"
	}
	switch o.HTTP {
	case "":
		o.HTTP = "127.0.0.1:9102"
	case "-":
		o.HTTP = ""
	}
	if o.Prompts == "" {
		o.Prompts = "prompts"
	}
	if o.Flows == "" {
		o.Flows = "config/ivr-flows.yaml"
	}
	if o.Events == 0 {
		o.Events = 2000
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.DataDir == "" {
		dir, err := os.MkdirTemp("", "ivr-demo-")
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		defer os.RemoveAll(dir)
		o.DataDir = dir
	}
	topics := map[string]int{cdr.DefaultTopic: 1, "events.ivr.dlq": 1}
	for _, t := range eventgen.TopicNames() {
		topics[t] = 3
	}
	b, err := broker.Start(ctx, broker.Config{DataDir: filepath.Join(o.DataDir, "kafka"), Topics: topics, Logger: o.Logger})
	if err != nil {
		return err
	}
	defer b.Close()
	if err := eventgen.Publish(ctx, b.Addrs(), eventgen.New(o.Seed, o.Now), o.Events, eventgen.PublishOptions{Logger: o.Logger}); err != nil {
		return fmt.Errorf("demo publish: %w", err)
	}
	if err := publish(ctx, b.Addrs(), DemoEvents(o.Now)); err != nil {
		return err
	}
	cfg := &Config{Prompts: o.Prompts, Flows: o.Flows, Timezone: "Asia/Shanghai"}
	cfg.SIP.UDP, cfg.SIP.TCP = o.SIP, o.SIP
	cfg.SIP.Trusted = []string{"127.0.0.0/8", "::1"} // the demo answers this machine only
	cfg.Records.DSN = filepath.Join(o.DataDir, "ivr-records.db")
	cfg.Kafka.Brokers = b.Addrs()
	cfg.Kafka.GroupID = "ivr-records"
	cfg.Kafka.Topics = eventgen.TopicNames()
	cfg.Kafka.DeadLetterTopic = "events.ivr.dlq"
	cfg.Kafka.CDRTopic = cdr.DefaultTopic
	cfg.HTTP.Addr = o.HTTP
	if _, err := exec.LookPath("espeak-ng"); err == nil {
		if _, err := exec.LookPath("sox"); err == nil {
			cfg.TTS.Command = DefaultTTSCommand
		}
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	a, err := New(ctx, Options{Config: cfg, Logger: o.Logger, Now: func() time.Time { return o.Now }})
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()

	// Wait until the read model has the demo caller.
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok, err := a.Store().Registered(ctx, DemoPhone)
		if err == nil && ok {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			return errors.Join(errors.New("demo: the read model did not receive the demo records in 60 s"), <-done)
		}
		select {
		case <-ctx.Done():
			cancel()
			return <-done
		case err := <-done:
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
	sip := a.SIPAddr("udp")
	fmt.Fprintf(o.Out, `12123 IVR demo is up.
  SIP (UDP and TCP): %s    HTTP: %s (/metrics /healthz /readyz)
  Kafka (embedded):  %v    %d generated events + the demo caller's records
  Demo caller: %s, ID number ending %s (key %s)

Call it with the test caller (press 1 licence, 2 vehicles, 3 violations, 4 safety, 0 agent):
  go run ./cmd/ivr call --target sip:12123@%s --from %s \
      --script 'wait:main_menu,1,wait:enter_id,%s,wait:after_query,9,wait:main_menu,3,wait:after_query'
or with any SIP phone (PCMU/PCMA, RFC 4733 or SIP INFO keys) as user %s, or with sipp
(RFC 4733 keys from its captures, then SIP INFO):
  sipp -sf pkg/ivr/testdata/sipp/uac_dtmf.xml -s 12123 -key caller %s -m 1 %s
Ctrl-C stops the demo.
`, sip, a.HTTPAddr(), b.Addrs(), o.Events, DemoPhone, DemoIDNumber[len(DemoIDNumber)-6:], DemoIDKeys,
		sip, DemoPhone, DemoIDKeys, DemoPhone, DemoPhone, sip)
	if o.Ready != nil {
		o.Ready(a)
	}
	return <-done
}

func publish(ctx context.Context, brokers []string, evs []*event.Event) error {
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Balancer: &kafka.Hash{}, BatchTimeout: 5 * time.Millisecond,
		RequiredAcks: kafka.RequireAll}
	defer w.Close()
	msgs := make([]kafka.Message, 0, len(evs))
	for _, e := range evs {
		v, err := event.Encode(e)
		if err != nil {
			return fmt.Errorf("demo encode: %w", err)
		}
		msgs = append(msgs, kafka.Message{Topic: eventgen.DefaultTopics[e.Type], Key: []byte(e.Entity()), Value: v})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("demo publish: %w", err)
	}
	return nil
}
