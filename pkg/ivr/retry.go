package ivr

import "time"

// RetryPolicy decides whether and when to call a notice again after an
// outcome. Confirmed is never retried, nor Failed with a 4xx/6xx status
// other than 408/480/486/487/503 (the number is wrong or refused); busy,
// no answer, unconfirmed and temporary failures are, with exponential
// backoff, up to MaxAttempts calls in all.
type RetryPolicy struct {
	MaxAttempts int           // calls in all, the first included (3)
	Backoff     time.Duration // delay after the first call (5 min)
	MaxBackoff  time.Duration // cap (1 h)
	// Unconfirmed: retry answered_unconfirmed (true by default via
	// DefaultRetryPolicy; the zero value does not).
	RetryUnconfirmed bool
}

// DefaultRetryPolicy: 3 calls, 5 then 10 minutes apart.
var DefaultRetryPolicy = RetryPolicy{MaxAttempts: 3, Backoff: 5 * time.Minute, MaxBackoff: time.Hour, RetryUnconfirmed: true}

// With returns p with the values that are set (positive; unconfirmed
// non-nil) put in: a configuration's overrides of the defaults.
func (p RetryPolicy) With(maxAttempts int, backoff, maxBackoff time.Duration, unconfirmed *bool) RetryPolicy {
	if maxAttempts > 0 {
		p.MaxAttempts = maxAttempts
	}
	if backoff > 0 {
		p.Backoff = backoff
	}
	if maxBackoff > 0 {
		p.MaxBackoff = maxBackoff
	}
	if unconfirmed != nil {
		p.RetryUnconfirmed = *unconfirmed
	}
	return p
}

// Next returns the delay before the next call after call number attempt
// (1 for the first) ended with r, or false to give up.
func (p RetryPolicy) Next(attempt int, r Result) (time.Duration, bool) {
	if attempt >= max(p.MaxAttempts, 1) {
		return 0, false
	}
	switch r.Outcome {
	case Confirmed:
		return 0, false
	case AnsweredUnconfirmed:
		if !p.RetryUnconfirmed {
			return 0, false
		}
	case Failed:
		if !temporary(r.SIPStatus) {
			return 0, false
		}
	case Busy, NoAnswer:
	default:
		return 0, false
	}
	d := p.Backoff
	if d <= 0 {
		d = time.Minute
	}
	for i := 1; i < attempt; i++ {
		d *= 2
		if p.MaxBackoff > 0 && d >= p.MaxBackoff {
			return p.MaxBackoff, true
		}
	}
	if p.MaxBackoff > 0 && d > p.MaxBackoff {
		d = p.MaxBackoff
	}
	return d, true
}

// temporary: no final status (transport), 5xx, or a 4xx that may pass.
func temporary(status int) bool {
	switch {
	case status == 0:
		return true
	case status == 408, status == 480, status == 486, status == 487:
		return true
	case status >= 500 && status < 600:
		return true
	}
	return false
}
