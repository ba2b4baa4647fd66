package trunksim

import (
	"strings"
	"testing"
)

func TestConfigRefused(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Mix: map[string]int{"answer": 1}}, "unknown behaviour"},
		{Config{Mix: map[string]int{Busy: -1, Confirm: 2}}, "negative"},
		{Config{Mix: map[string]int{Busy: 0}}, "every weight is 0"},
		{Config{KeyMethod: "inband"}, "key method"},
		{Config{Listen: "127.0.0.1:notaport"}, "listen"},
	} {
		s, err := Start(c.cfg)
		if err == nil {
			s.Close()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v", c.cfg, err)
		}
	}
}

// TestMix: a seeded mix is reproducible and follows the weights.
func TestMix(t *testing.T) {
	draw := func() map[string]int {
		s, err := Start(Config{Mix: map[string]int{Confirm: 6, Busy: 3, NoAnswer: 1}, Seed: 7})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		got := map[string]int{}
		for range 10000 {
			got[s.pick()]++
		}
		return got
	}
	a, b := draw(), draw()
	for k := range a {
		if a[k] != b[k] {
			t.Fatalf("same seed, different draws: %v %v", a, b)
		}
	}
	if a[Confirm] < 5500 || a[Confirm] > 6500 || a[Busy] < 2500 || a[Busy] > 3500 || a[NoAnswer] < 700 || a[NoAnswer] > 1300 || a[Silent] != 0 {
		t.Fatalf("draws %v for weights 6:3:1", a)
	}
}
