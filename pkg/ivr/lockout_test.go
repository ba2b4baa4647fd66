package ivr_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/traffic12123/gateway/pkg/ivr"
)

// hearEither waits until the call has heard one of names and returns it.
func hearEither(t *testing.T, e *env, call *ivr.OutCall, names ...string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		heard := call.Transcript(e.lib)
		for _, h := range heard {
			// "name~": the prompt's start, cut by the hang-up that follows
			// it (the IVR hangs up on a locked caller) or by lost packets
			// on a loaded machine: it was played.
			if h = strings.TrimSuffix(h, "~"); slices.Contains(names, h) {
				return h
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("heard none of %v: %v", names, call.Transcript(e.lib))
	return ""
}

// TestParallelGuessesFromOneNumber: 20 calls at once from one number key a
// wrong ID, then one keys the right one. Only max_failures (3) guesses are
// compared; the others and the right one after them are refused as locked.
func TestParallelGuessesFromOneNumber(t *testing.T) {
	t.Parallel()
	e := startServer(t, nil)
	const n = 19
	var wg sync.WaitGroup
	results := make(chan string, n)
	for i := range n {
		wg.Go(func() {
			call := dial(t, e, "udp", phone)
			step(t, e, call, "main_menu", 1, "1", ivr.KeysINFO)
			step(t, e, call, "enter_id", 1, fmt.Sprintf("65%04d#", i), ivr.KeysINFO)
			results <- hearEither(t, e, call, "verify_failed", "locked")
		})
	}
	wg.Wait()
	close(results)
	got := map[string]int{}
	for r := range results {
		got[r]++
	}
	// The third wrong guess locks at once (heard "locked"), so 2 hear
	// "verify_failed" and 17 "locked".
	if got["verify_failed"] != 2 || got["locked"] != 17 {
		t.Fatalf("wrong guesses heard %v, want 2 verify_failed and 17 locked", got)
	}
	right := dial(t, e, "udp", phone)
	step(t, e, right, "main_menu", 1, "1", ivr.KeysINFO)
	step(t, e, right, "enter_id", 1, "12345*#", ivr.KeysINFO)
	if h := hearEither(t, e, right, "verified", "locked"); h != "locked" {
		t.Fatalf("the right ID after 19 parallel guesses was compared: heard %q", h)
	}
	if f := counter(t, e.reg, "ivr_verifications_total", "failed"); f != 3 {
		t.Fatalf("%v guesses compared, want 3", f)
	}
	if ok := counter(t, e.reg, "ivr_verifications_total", "ok"); ok != 0 {
		t.Fatalf("%v verified", ok)
	}
}

// TestManyNumbersGuessOneID: 20 numbers registered to one ID number each
// key one wrong guess at once; the ID is then locked for every number, so
// a 21st number keying the right suffix is refused.
func TestManyNumbersGuessOneID(t *testing.T) {
	t.Parallel()
	recs := sampleRecords()
	const id = "11010119900112345X"
	var phones []string
	for i := range 21 {
		p := fmt.Sprintf("1370000%04d", i)
		phones = append(phones, p)
		recs.licences[p] = recs.licences[phone]
		recs.ids[p] = id
	}
	e := startServer(t, func(o *ivr.Options) { o.Records = recs })
	var wg sync.WaitGroup
	results := make(chan string, 20)
	for _, p := range phones[:20] {
		wg.Go(func() {
			call := dial(t, e, "udp", p)
			step(t, e, call, "main_menu", 1, "1", ivr.KeysINFO)
			step(t, e, call, "enter_id", 1, "99999*#", ivr.KeysINFO)
			results <- hearEither(t, e, call, "verify_failed", "locked")
		})
	}
	wg.Wait()
	close(results)
	got := map[string]int{}
	for r := range results {
		got[r]++
	}
	if got["verify_failed"] != 2 || got["locked"] != 18 {
		t.Fatalf("guesses heard %v, want 2 verify_failed and 18 locked", got)
	}
	right := dial(t, e, "udp", phones[20])
	step(t, e, right, "main_menu", 1, "1", ivr.KeysINFO)
	step(t, e, right, "enter_id", 1, "12345*#", ivr.KeysINFO)
	if h := hearEither(t, e, right, "verified", "locked"); h != "locked" {
		t.Fatalf("the right ID from a fresh number after 20 guesses was compared: heard %q", h)
	}
	if f := counter(t, e.reg, "ivr_verifications_total", "failed"); f != 3 {
		t.Fatalf("%v guesses compared, want 3", f)
	}
}

// TestSamePromptsBeforeID: a registered, an unregistered and a locked
// number hear exactly the same until an ID has been keyed.
func TestSamePromptsBeforeID(t *testing.T) {
	t.Parallel()
	const locked = "13700001111"
	recs := sampleRecords()
	recs.licences[locked] = recs.licences[phone]
	recs.ids[locked] = "110101199001019999"
	lo := ivr.NewLockout()
	for range 3 {
		lo.Attempt(context.Background(), []string{ivr.PhoneKey(locked)}, time.Now(), 3, time.Hour)
	}
	e := startServer(t, func(o *ivr.Options) { o.Records, o.Lockout = recs, lo })
	var heard [][]string
	for _, p := range []string{phone, "13900000000", locked} {
		call := dial(t, e, "udp", p)
		step(t, e, call, "main_menu", 1, "1", ivr.KeysINFO)
		step(t, e, call, "enter_id", 1, "", "")
		// Stay a moment: nothing else may follow the ID prompt.
		time.Sleep(300 * time.Millisecond)
		heard = append(heard, call.Transcript(e.lib))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		call.Hangup(ctx)
		cancel()
	}
	for i := 1; i < len(heard); i++ {
		if !slices.Equal(heard[i], heard[0]) {
			t.Fatalf("before an ID was keyed, callers heard different things:\n%v\n%v", heard[0], heard[i])
		}
	}
	if slices.Contains(heard[0], "locked") || slices.Contains(heard[0], "not_registered") {
		t.Fatalf("heard %v", heard[0])
	}
}

// TestLockoutAttempt: the in-memory Lockouts counts before comparing,
// locks at the limit, expires and is cleared by a success.
func TestLockoutAttempt(t *testing.T) {
	ctx := context.Background()
	l := ivr.NewLockout()
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	keys := []string{ivr.PhoneKey("13800138000"), ivr.IDKey("11010119900112345x")}
	var allowed, last int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			r, _ := l.Attempt(ctx, keys, t0, 3, time.Hour)
			mu.Lock()
			defer mu.Unlock()
			if r.Allowed {
				allowed++
			}
			if r.Last {
				last++
			}
		})
	}
	wg.Wait()
	if allowed != 3 || last != 1 {
		t.Fatalf("allowed %d last %d, want 3 and 1", allowed, last)
	}
	if r, _ := l.Attempt(ctx, keys[1:], t0.Add(59*time.Minute), 3, time.Hour); r.Allowed {
		t.Fatal("the ID key alone is not locked")
	}
	if r, _ := l.Attempt(ctx, keys, t0.Add(61*time.Minute), 3, time.Hour); !r.Allowed || r.Last {
		t.Fatalf("after the lock: %+v", r)
	}
	l.Succeeded(ctx, keys)
	for i := range 3 {
		if r, _ := l.Attempt(ctx, keys, t0.Add(62*time.Minute), 3, time.Hour); !r.Allowed || r.Last != (i == 2) {
			t.Fatalf("attempt %d after success: %+v", i+1, r)
		}
	}
	if ivr.IDKey("11010119900112345x") != ivr.IDKey("11010119900112345X") {
		t.Fatal("ID key depends on case")
	}
}
