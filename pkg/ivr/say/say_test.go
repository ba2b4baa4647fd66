package say

import (
	"strings"
	"testing"
	"time"
)

// text renders units as the Chinese they say, to keep the tables readable.
func text(units []string) string {
	m := map[string]string{}
	for _, u := range Units() {
		m[u.Name] = u.Text
	}
	var sb strings.Builder
	for _, u := range units {
		t, ok := m[u]
		if !ok {
			return "?" + u
		}
		sb.WriteString(t)
	}
	return sb.String()
}

func TestNumber(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "零"}, {1, "一"}, {2, "二"}, {10, "十"}, {11, "十一"}, {12, "十二"},
		{20, "二十"}, {22, "二十二"}, {100, "一百"}, {101, "一百零一"}, {110, "一百一十"},
		{200, "两百"}, {212, "两百一十二"}, {1000, "一千"}, {1005, "一千零五"},
		{1010, "一千零一十"}, {2000, "两千"}, {2222, "两千两百二十二"}, {10000, "一万"},
		{10010, "一万零一十"}, {12000, "一万两千"}, {20000, "两万"}, {100000, "十万"},
		{120000, "十二万"}, {100010, "十万零一十"}, {1000000, "一百万"},
		{20000000, "两千万"}, {200000000, "两亿"}, {100000001, "一亿零一"},
		{123456789, "一亿两千三百四十五万六千七百八十九"}, {-5, "负五"},
		{1000000000000, "一零零零零零零零零零零零零"},
	}
	for _, tt := range tests {
		t.Run(itoa64(tt.n), func(t *testing.T) {
			if got := text(Number(tt.n)); got != tt.want {
				t.Fatalf("Number(%d) = %s, want %s (%v)", tt.n, got, tt.want, Number(tt.n))
			}
		})
	}
}

func TestUnitSequences(t *testing.T) {
	// The examples, checked on the unit names themselves.
	tests := []struct {
		n    int64
		want string
	}{
		{2, "d2"}, {200, "liang bai"}, {12, "shi d2"}, {10, "shi"},
		{110, "d1 bai d1 shi"}, {1005, "d1 qian d0 d5"}, {20000, "liang wan"},
	}
	for _, tt := range tests {
		if got := strings.Join(Number(tt.n), " "); got != tt.want {
			t.Errorf("Number(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestOthers(t *testing.T) {
	d := time.Date(2026, 5, 3, 14, 30, 0, 0, time.UTC)
	tests := []struct {
		name string
		got  []string
		want string
	}{
		{"money", Money(200), "两百元"},
		{"money 1050", Money(1050), "一千零五十元"},
		{"date", Date(d), "二零二六年五月三日"},
		{"date 12-20", Date(time.Date(2027, 12, 20, 0, 0, 0, 0, time.UTC)), "二零二七年十二月二十日"},
		{"clock", Clock(d), "十四点三十分"},
		{"clock 2:05", Clock(time.Date(1, 1, 1, 2, 5, 0, 0, time.UTC)), "两点零五分"},
		{"clock 8:00", Clock(time.Date(1, 1, 1, 8, 0, 0, 0, time.UTC)), "八点整"},
		{"plate", Plate("京A12345"), "京A一二三四五"},
		{"plate lower", Plate("粤b0c1d2"), "粤B零C一D二"},
		{"plate new energy", Plate("沪AD12345"), "沪AD一二三四五"},
		{"digits yao", Digits("13800138000", true), "幺三八零零幺三八零零零"},
		{"digits star", Digits("12345*", false), "一二三四五星"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := text(tt.got); got != tt.want {
				t.Fatalf("got %s, want %s (%v)", got, tt.want, tt.got)
			}
		})
	}
}

func FuzzNumber(f *testing.F) {
	f.Add(int64(0))
	f.Add(int64(1005))
	f.Add(int64(-9223372036854775808))
	f.Fuzz(func(t *testing.T, n int64) {
		units := Number(n)
		if len(units) == 0 {
			t.Fatal("no units")
		}
		if s := text(units); strings.HasPrefix(s, "?") || (n > -1e12 && n < 1e12 && strings.Contains(s, "零零")) {
			t.Fatalf("Number(%d) = %s", n, s)
		}
	})
}

func BenchmarkNumber(b *testing.B) {
	for b.Loop() {
		Number(123456789)
	}
}
