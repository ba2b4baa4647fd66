package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/traffic12123/gateway/internal/event"
	"github.com/traffic12123/gateway/internal/eventgen"
	"github.com/traffic12123/gateway/internal/rules"
)

// carrierPrefixes give each simulated carrier a number block that
// libphonenumber (and so the gateway's router) assigns to it.
var carrierPrefixes = map[string]string{
	"china_mobile":   "138",
	"china_unicom":   "130",
	"china_telecom":  "189",
	"china_broadnet": "192",
}

// item is one benchmark message: the event that makes it and the text the
// rules render for it (what Kannel is asked to send).
type item struct {
	Carrier  string
	Phone    string
	Topic    string
	Key      []byte
	Value    []byte // encoded event
	Text     string
	Segments int
}

// copyRules copies the rule set in src to dst with quiet hours switched
// off (start = end), so that a benchmark run at 22:00 Beijing time sends
// now instead of scheduling everything for 08:00. Nothing else changes.
func copyRules(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			if rel == "tests" {
				return filepath.SkipDir
			}
			return os.MkdirAll(out, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if rel == "settings.yaml" {
			var m map[string]any
			if err := yaml.Unmarshal(b, &m); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			m["quiet_hours"] = map[string]string{"start": "00:00", "end": "00:00"}
			if b, err = yaml.Marshal(m); err != nil {
				return err
			}
		}
		return os.WriteFile(out, b, 0o644)
	})
}

// makeItems builds n violation.recorded events recorded by electronic
// monitoring, each for its own phone number on carriers in turn, checks
// with the rule set that each makes exactly one message due now, and
// encodes them. tag keeps ids and numbers of separate phases apart.
func makeItems(set *rules.Set, n int, carriers []string, tag, base int, seed int64, now time.Time) ([]item, error) {
	gen := eventgen.New(seed+int64(tag), now)
	items := make([]item, 0, n)
	for tries := 0; len(items) < n; tries++ {
		if tries > 100*n+1000 {
			return nil, errors.New("event generator made too few violation.recorded events")
		}
		topic, _, ev := gen.Next()
		if gen.Scenario() != "violation.recorded" {
			continue
		}
		i := base + len(items)
		car := carriers[i%len(carriers)]
		vr := ev.ViolationRecorded
		vr.Vehicle.Phone = fmt.Sprintf("%s%d%07d", carrierPrefixes[car], tag%10, i%10_000_000)
		vr.Vehicle.Enterprise = nil
		vr.Violation.ID = fmt.Sprintf("%s%d%07d", vr.Violation.ID[:12], tag%10, i%10_000_000)
		ev.ID = fmt.Sprintf("bench-%d-%d", tag, i)
		res, err := set.Evaluate(ev, now)
		if err != nil {
			return nil, fmt.Errorf("evaluate %s: %w", ev.ID, err)
		}
		if len(res.Decisions) != 1 || res.Decisions[0].NotBefore.After(now) {
			continue
		}
		d := res.Decisions[0]
		v, err := event.Encode(ev)
		if err != nil {
			return nil, err
		}
		items = append(items, item{
			Carrier: car, Phone: vr.Vehicle.Phone, Topic: topic, Key: []byte(ev.Entity()), Value: v,
			Text: d.Text, Segments: d.Segments,
		})
	}
	return items, nil
}

// parseCarriers checks a comma-separated carrier list.
func parseCarriers(s string) ([]string, error) {
	var out []string
	for _, c := range strings.Split(s, ",") {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		if _, ok := carrierPrefixes[c]; !ok {
			return nil, fmt.Errorf("unknown carrier %q (want china_mobile, china_unicom, china_telecom, china_broadnet)", c)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no carriers")
	}
	return out, nil
}
