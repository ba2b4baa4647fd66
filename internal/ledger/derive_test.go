package ledger_test

import (
	"testing"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/message"
)

func TestNormalizeID(t *testing.T) {
	tests := []struct{ in, want string }{
		{"00A1B2", "a1b2"},
		{" 12345 ", "12345"},
		{"0", "0"},
		{"000", "0"},
		{"", ""},
		{"9f8e-UUID", "9f8e-uuid"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := ledger.NormalizeID(tc.in); got != tc.want {
				t.Fatalf("NormalizeID(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzNormalizeID(f *testing.F) {
	for _, s := range []string{"00A1B2", "0", "", " 0x1F ", "000\t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := ledger.NormalizeID(s)
		if ledger.NormalizeID(n) != n {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, n, ledger.NormalizeID(n))
		}
	})
}

func TestDeriveState(t *testing.T) {
	tests := []struct {
		name     string
		segments int
		stats    []string
		want     message.State
		ok       bool
	}{
		{"single delivered", 1, []string{"DELIVRD"}, message.StateDelivered, true},
		{"no receipts", 1, nil, "", false},
		{"accepted only", 1, []string{"ACCEPTD"}, "", false},
		{"two of three", 3, []string{"DELIVRD", "DELIVRD"}, "", false},
		{"three of three", 3, []string{"DELIVRD", "DELIVRD", "DELIVRD"}, message.StateDelivered, true},
		{"gap in parts", 3, []string{"DELIVRD", "", "DELIVRD"}, "", false},
		{"rejected", 2, []string{"REJECTD"}, message.StateFailed, true},
		{"unknown stat", 1, []string{"UNKNOWN"}, message.StateFailed, true},
		{"expired beats failed", 2, []string{"UNDELIV", "EXPIRED"}, message.StateExpired, true},
		{"more parts than segments", 1, []string{"DELIVRD", "ENROUTE"}, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _, ok := ledger.DeriveState(tc.segments, tc.stats)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("DeriveState = %q %v, want %q %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestRegionRange(t *testing.T) {
	tests := []struct {
		region, lo, hi string
		exact          bool
	}{
		{"110105", "110105", "110105", true},
		{"110100", "1101", "1101:", false},
		{"440000", "44", "44:", false},
		{"1101", "1101", "1101", true},
	}
	for _, tc := range tests {
		t.Run(tc.region, func(t *testing.T) {
			lo, hi, exact := ledger.RegionRange(tc.region)
			if lo != tc.lo || hi != tc.hi || exact != tc.exact {
				t.Fatalf("RegionRange(%q) = %q %q %v", tc.region, lo, hi, exact)
			}
		})
	}
}

func TestReceiptMatchesText(t *testing.T) {
	text := "【交管12123】您的车辆检验有效期将于2026年04月30日届满，请及时检验。"
	tests := []struct {
		excerpt string
		want    bool
	}{
		{"【交管12123】您的车辆", true},
		{"2026年04月30日届满", true},
		{"", false},
		{"  ", false},
		{"【交管12123】您有一条", false},
		// SMSCs write UCS2 excerpts in ASCII with '?' for the rest
		{"???12123????????????202", true}, // 【交管 12123 】您的车辆检验有效期将于 2026
		{"???12123????????????203", false},
		{"???12123?????????202", false}, // wrong count of wildcards
		{"???12124????", false},
		{"2026?04?30?", true},
		{"????????????????????????????????????????????????????????", false}, // longer than the text
	}
	for _, tc := range tests {
		t.Run(tc.excerpt, func(t *testing.T) {
			if got := ledger.ReceiptMatchesText(text, tc.excerpt); got != tc.want {
				t.Fatalf("got %v", got)
			}
		})
	}
}
