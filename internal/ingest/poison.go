package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/segmentio/kafka-go"

	"github.com/traffic12123/gateway/internal/event"
)

// Reasons the consumer itself gives a dead-lettered record, besides the
// decoder's (event.Reasons) and the handler's (Rejection.Reason).
const (
	// ReasonUnprocessable: the handler failed on this record alone, again
	// and again, while the handler's probe showed the system healthy.
	ReasonUnprocessable = "unprocessable"
)

// More DLQ headers: the original value's size and SHA-256 (always), and
// "dlq-truncated: true" when the copy holds only a prefix of the value (or
// none of it).
const (
	HeaderSize      = "dlq-size"
	HeaderSHA256    = "dlq-sha256"
	HeaderTruncated = "dlq-truncated"
)

// DefaultDLQMaxBytes bounds a dead-letter copy (key, value and headers): a
// record of almost Kafka's 1 MiB limit plus the DLQ headers would not fit
// under message.max.bytes, and a copy that can never be written would
// stall the partition.
const DefaultDLQMaxBytes = 512 << 10

// dlqKeyMax bounds the key of a copy whose value had to be dropped.
const dlqKeyMax = 256

// Rejection names one record of a batch that the handler can never handle
// (for example an event id reused with different content); the consumer
// dead-letters it with Reason and hands the rest of the batch over again.
type Rejection struct {
	Index  int    // index in the batch given to Handle
	Reason string // a short, bounded label: a metric label and the dlq-reason header
	Err    error  // what went wrong; it must not contain personal data
}

// RejectError is returned by a Handler, in place of doing anything, when
// some records of the batch can never be handled. Nothing of the batch may
// have been stored: the consumer calls Handle again with the others.
type RejectError struct {
	Rejected []Rejection
}

func (e *RejectError) Error() string {
	return fmt.Sprintf("ingest: %d records rejected by the handler", len(e.Rejected))
}

// Prober is implemented by a Handler that can tell whether what it depends
// on works (for the gateway: the ledger takes writes). When one record
// fails alone PoisonAttempts times with an error that is not transient,
// the consumer probes: a healthy probe makes the record poison (it goes to
// the DLQ), a failing one an outage (the record is retried). A Handler
// without a probe never loses a record this way: it is retried for ever.
type Prober interface {
	Probe(ctx context.Context) error
}

// Transient reports whether err is an outage rather than a record's fault:
// a cancelled or timed-out context, a network error, a refused connection,
// or an error that says so itself (Temporary() or Unavailable() true).
// Outages are retried for ever and never split a batch.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EIO) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var un interface{ Unavailable() bool }
	if errors.As(err, &un) && un.Unavailable() {
		return true
	}
	var tmp interface{ Temporary() bool }
	if errors.As(err, &tmp) && tmp.Temporary() {
		return true
	}
	return false
}

// deadLetter builds the DLQ copy of m. A copy bigger than max keeps only a
// prefix of the value (then of the key, and drops the original headers),
// with the original size and SHA-256 in headers, so it always fits.
func deadLetter(m *kafka.Message, reason, errText string, limit int) kafka.Message {
	errText = Scrub(errText)
	if len(errText) > dlqErrorMax {
		errText = errText[:dlqErrorMax]
	}
	errText = strings.ToValidUTF8(errText, "?")
	sum := sha256.Sum256(m.Value)
	headers := make([]kafka.Header, 0, 8+len(m.Headers))
	headers = append(headers,
		kafka.Header{Key: HeaderReason, Value: []byte(reason)},
		kafka.Header{Key: HeaderError, Value: []byte(errText)},
		kafka.Header{Key: HeaderTopic, Value: []byte(m.Topic)},
		kafka.Header{Key: HeaderPartition, Value: strconv.AppendInt(nil, int64(m.Partition), 10)},
		kafka.Header{Key: HeaderOffset, Value: strconv.AppendInt(nil, m.Offset, 10)},
		kafka.Header{Key: HeaderSize, Value: strconv.AppendInt(nil, int64(len(m.Value)), 10)},
		kafka.Header{Key: HeaderSHA256, Value: []byte(hex.EncodeToString(sum[:]))},
	)
	own := 0
	for _, h := range headers {
		own += len(h.Key) + len(h.Value) + 8
	}
	orig := 0
	for _, h := range m.Headers {
		orig += len(h.Key) + len(h.Value) + 8
	}
	out := kafka.Message{Key: m.Key, Value: m.Value}
	const overhead = 128 // record framing, generously
	if own+orig+len(m.Key)+len(m.Value)+overhead <= limit {
		out.Headers = append(headers, m.Headers...)
		return out
	}
	// Too big: keep our headers, a bounded key and as much of the value as fits.
	headers = append(headers, kafka.Header{Key: HeaderTruncated, Value: []byte("true")})
	own += len(HeaderTruncated) + 4 + 8
	if len(out.Key) > dlqKeyMax {
		out.Key = out.Key[:dlqKeyMax]
	}
	room := limit - own - len(out.Key) - overhead
	if orig <= room/4 { // small original headers are worth keeping
		headers = append(headers, m.Headers...)
		room -= orig
	}
	out.Value = m.Value[:min(len(m.Value), room)]
	out.Headers = headers
	return out
}

// stripped is the smallest copy of a dead letter: our headers only, no
// value, a bounded key. It is written when even the truncated copy is
// refused as a record.
func stripped(m kafka.Message) kafka.Message {
	var hs []kafka.Header
	for _, h := range m.Headers {
		if strings.HasPrefix(h.Key, "dlq-") && h.Key != HeaderTruncated {
			hs = append(hs, h)
		}
	}
	hs = append(hs, kafka.Header{Key: HeaderTruncated, Value: []byte("true")})
	k := m.Key
	if len(k) > dlqKeyMax {
		k = k[:dlqKeyMax]
	}
	return kafka.Message{Key: k, Headers: hs}
}

func isStripped(m kafka.Message) bool { return len(m.Value) == 0 && len(m.Key) <= dlqKeyMax }

// recordFault reports whether a write error is about the record itself
// (it will never be accepted as it is), not about the broker.
func recordFault(err error) bool {
	var tl kafka.MessageTooLargeError
	if errors.As(err, &tl) {
		return true
	}
	var ke kafka.Error
	if errors.As(err, &ke) {
		switch ke {
		case kafka.MessageSizeTooLarge, kafka.InvalidMessage, kafka.InvalidMessageSize,
			kafka.RecordListTooLarge, kafka.InvalidRecord:
			return true
		}
	}
	return false
}

// reasonOf is the dlq-reason of a decode error.
func reasonOf(err error) string {
	r := event.ReasonOf(err)
	if r == "" {
		r = event.ReasonMalformedJSON
	}
	return string(r)
}

// longNumber matches what may be a phone or ID number: 7 or more digits in
// a row (an ID number may end in X).
var longNumber = regexp.MustCompile(`[0-9]{7,}[0-9Xx]?`)

// Scrub masks long digit runs in an error text (all but the first 3 and
// last 2 digits), so that an error that quotes a value — a handler's, a
// driver's — cannot put a phone or ID number in a DLQ header or a log line.
func Scrub(s string) string {
	return longNumber.ReplaceAllStringFunc(s, func(d string) string {
		return d[:3] + strings.Repeat("*", len(d)-5) + d[len(d)-2:]
	})
}
