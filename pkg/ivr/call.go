package ivr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/diago/media"

	"github.com/traffic12123/gateway/pkg/ivr/dtmf"
	"github.com/traffic12123/gateway/pkg/ivr/flow"
)

var (
	errShutdown   = errors.New("ivr: server shutting down")
	errMediaPanic = errors.New("ivr: panic reading media")
)

// call is one answered call: its keys, its media and its record.
type call struct {
	s      *Server
	d      *diago.DialogServerSession
	med    *diago.DialogMedia
	codec  Codec
	pt     uint8
	tePT   int
	phone  string
	cancel context.CancelCauseFunc

	mu           sync.Mutex
	pending      []rune
	notify       chan struct{} // cap 1: a key arrived
	swallow      rune          // a terminator to drop if it comes next
	swallowUntil time.Time
	recent       []press // keys taken in the last dedupWindow

	keys     atomic.Int64
	verified bool

	// handOver stops readMedia for a bridge; readerDone closes when it
	// returned.
	handOver   atomic.Bool
	readerDone chan struct{}
	cdr        CDR
}

func (c *call) shutdown() { c.cancel(errShutdown) }

// dedupWindow is how long after a key the same key by another method
// (RFC 4733, SIP INFO, in-band tone) counts as the same press.
const dedupWindow = time.Second

// press is a key taken, with the methods it has arrived by.
type press struct {
	r       rune
	at      time.Time
	methods uint8
}

func methodBit(method string) uint8 {
	switch method {
	case "rfc4733":
		return 1
	case "info":
		return 2
	case "inband":
		return 4
	}
	return 8
}

// key queues a key from any source (reader goroutine, INFO handler). One
// press sent by several methods is one key: a key that a recent key of the
// same digit has not yet arrived by this method is that key again and is
// dropped. A second press by the same method is a new key however soon it
// comes, so "11" stays two keys with any mix of methods.
func (c *call) key(r rune, method string) {
	c.s.log.Debug("key", "call_id", c.cdr.CallID, "method", method)
	c.s.m.DTMF.WithLabelValues(method).Inc()
	now := time.Now()
	bit := methodBit(method)
	c.mu.Lock()
	kept := c.recent[:0]
	for _, p := range c.recent {
		if now.Sub(p.at) < dedupWindow {
			kept = append(kept, p)
		}
	}
	c.recent = kept
	for i := range c.recent {
		if p := &c.recent[i]; p.r == r && p.methods&bit == 0 {
			p.methods |= bit
			c.mu.Unlock()
			c.s.m.DTMFDuplicates.WithLabelValues(method).Inc()
			return
		}
	}
	if len(c.recent) < 16 {
		c.recent = append(c.recent, press{r: r, at: now, methods: bit})
	}
	c.keys.Add(1)
	if c.swallow != 0 {
		if r == c.swallow && time.Now().Before(c.swallowUntil) {
			c.swallow = 0
			c.mu.Unlock()
			return
		}
		c.swallow = 0
	}
	if len(c.pending) < 64 {
		c.pending = append(c.pending, r)
	}
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

func (c *call) hasKey() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending) > 0
}

func (c *call) flushKeys() {
	c.mu.Lock()
	c.pending = c.pending[:0]
	c.mu.Unlock()
}

// silence frames per codec: sent while the call waits for keys, so that
// carriers' RTP inactivity timers do not drop it.
var silenceFrame = map[Codec][]byte{
	PCMU: Encode(PCMU, make([]int16, FrameSamples)),
	PCMA: Encode(PCMA, make([]int16, FrameSamples)),
}

// keepAlive sends silence from the shared clock until the returned stop
// is called.
func (c *call) keepAlive() (stop func()) {
	if c.med == nil || c.med.RTPPacketWriter == nil {
		return func() {}
	}
	st := c.s.pacer.loop(c.med.RTPPacketWriter, c.pt, silenceFrame[c.codec])
	return func() {
		st.stopped.Store(true)
		<-st.done
	}
}

// nextKey waits up to timeout for a key, sending silence meanwhile.
func (c *call) nextKey(ctx context.Context, timeout time.Duration) (rune, bool, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	if !c.hasKey() {
		defer c.keepAlive()()
	}
	for {
		c.mu.Lock()
		if len(c.pending) > 0 {
			r := c.pending[0]
			c.pending = c.pending[1:]
			c.mu.Unlock()
			return r, true, nil
		}
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return 0, false, context.Cause(ctx)
		case <-t.C:
			return 0, false, nil
		case <-c.notify:
		}
	}
}

// play sends clips (library keys) from the shared clock. With bargeIn a
// key stops it; the key stays queued. It reports whether a key stopped it.
func (c *call) play(ctx context.Context, names []string, bargeIn bool) (bool, error) {
	clips := make([][]byte, 0, len(names))
	for _, n := range names {
		if ref, ok := strings.CutPrefix(n, ttsPrefix); ok {
			fallback, text, _ := strings.Cut(ref, ":")
			b, err := c.s.speak(ctx, c.codec, text)
			if err == nil {
				clips = append(clips, b)
				continue
			}
			c.s.m.MediaErrors.WithLabelValues("tts").Inc()
			c.s.log.Warn("text to speech failed", "err", err)
			if n = fallback; n == "" {
				continue
			}
		}
		b, ok := c.s.lib.audio[c.codec][n]
		if !ok {
			c.s.m.MediaErrors.WithLabelValues("missing_audio").Inc()
			continue
		}
		clips = append(clips, b)
	}
	if len(clips) == 0 {
		return false, nil
	}
	if bargeIn && c.hasKey() {
		return true, nil
	}
	st := c.s.pacer.play(c.med.RTPPacketWriter, c.pt, clips)
	stop := func() {
		st.stopped.Store(true)
		<-st.done
	}
	for {
		var notify chan struct{}
		if bargeIn {
			notify = c.notify
		}
		select {
		case <-st.done:
			if st.err != nil && !errors.Is(st.err, ErrClosed) && !errors.Is(st.err, context.Canceled) {
				c.s.m.MediaErrors.WithLabelValues("write").Inc()
			}
			return false, ctx.Err()
		case <-ctx.Done():
			stop()
			return false, context.Cause(ctx)
		case <-notify:
			if c.hasKey() {
				stop()
				// Put the wake-up back for the collector.
				select {
				case c.notify <- struct{}{}:
				default:
				}
				return true, nil
			}
		}
	}
}

// prompts plays prompt names.
func (c *call) prompts(ctx context.Context, names []string, bargeIn bool) (bool, error) {
	return c.play(ctx, names, bargeIn)
}

// collectStatus is how a digit collection ended.
type collectStatus int

const (
	collected collectStatus = iota
	noInput
	badInput
)

// collect reads digits per cl. The first-key timer starts now (after the
// prompt).
func (c *call) collect(ctx context.Context, cl flow.Collect) (string, collectStatus, error) {
	var digits []rune
	timeout := cl.FirstTimeout
	term := rune(0)
	if cl.Terminator != "" {
		term = rune(cl.Terminator[0])
	}
	for {
		r, ok, err := c.nextKey(ctx, timeout)
		if err != nil {
			return "", noInput, err
		}
		if !ok {
			switch {
			case len(digits) == 0:
				return "", noInput, nil
			case len(digits) >= cl.Min:
				return string(digits), collected, nil
			default:
				return string(digits), badInput, nil
			}
		}
		if term != 0 && r == term {
			if len(digits) >= cl.Min {
				return string(digits), collected, nil
			}
			return string(digits), badInput, nil
		}
		digits = append(digits, r)
		if len(digits) >= cl.Max {
			if term != 0 {
				// The caller will likely still press the terminator.
				c.mu.Lock()
				if len(c.pending) > 0 && c.pending[0] == term {
					c.pending = c.pending[1:]
				} else {
					c.swallow, c.swallowUntil = term, time.Now().Add(cl.InterTimeout)
				}
				c.mu.Unlock()
			}
			return string(digits), collected, nil
		}
		timeout = cl.InterTimeout
	}
}

// readMedia reads the caller's RTP: telephone-events go to the RFC 4733
// decoder, audio to the in-band detector when enabled.
func (c *call) readMedia(ctx context.Context) {
	defer func() {
		// Media comes from the network too: a panic here ends this call,
		// not the process.
		if r := recover(); r != nil {
			c.s.m.Panics.WithLabelValues("media").Inc()
			c.s.log.Error("panic while reading media; call ended", "call_id", c.cdr.CallID,
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			c.cancel(errMediaPanic)
		}
	}()
	r := c.med.RTPPacketReader
	buf := make([]byte, media.RTPBufSize)
	var dec dtmf.Decoder
	var tone *dtmf.Tone
	var pcm []int16
	if c.s.cfg.InBandDTMF {
		tone = dtmf.NewTone()
	}
	errs := 0
	for {
		n, err := r.Read(buf)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || ctx.Err() != nil || c.handOver.Load() {
				return
			}
			c.s.m.MediaErrors.WithLabelValues("read").Inc()
			if errs++; errs > 100 {
				return
			}
			continue
		}
		errs = 0
		if n == 0 {
			continue
		}
		h := r.PacketHeader
		if c.tePT >= 0 && int(h.PayloadType) == c.tePT {
			if k, ok := dec.Packet(h.SequenceNumber, h.Timestamp, buf[:n]); ok {
				c.key(k, "rfc4733")
			}
			continue
		}
		if tone == nil || (h.PayloadType != 0 && h.PayloadType != 8) {
			continue
		}
		law := PCMU
		if h.PayloadType == 8 {
			law = PCMA
		}
		pcm = append(pcm, Decode(law, buf[:n])...)
		for len(pcm) >= dtmf.BlockSamples {
			if k, ok := tone.Block(pcm[:dtmf.BlockSamples]); ok {
				c.key(k, "inband")
			}
			pcm = pcm[dtmf.BlockSamples:]
		}
		if cap(pcm) > 4096 {
			pcm = append([]int16(nil), pcm...)
		}
	}
}

// handleCall runs one call from answer to CDR. diago calls it for every
// INVITE the middleware admitted and hangs up when it returns.
func (s *Server) handleCall(d *diago.DialogServerSession) {
	start := time.Now()
	f := s.flow.Load()
	phone := callerNumber(d.InviteRequest)
	ctx, cancel := context.WithCancelCause(d.Context())
	defer cancel(nil)
	ctx, cancelT := context.WithTimeoutCause(ctx, s.cfg.MaxCallDuration, errors.New("max call duration"))
	defer cancelT()
	c := &call{
		s: s, d: d, phone: phone, cancel: cancel, notify: make(chan struct{}, 1), tePT: -1,
		cdr: CDR{Caller: MaskPhone(phone), Called: d.ToUser(), Transport: d.Transport(), Start: start, Verification: "none"},
	}
	if cid := d.InviteRequest.CallID(); cid != nil {
		c.cdr.CallID = cid.Value()
	}
	s.mu.Lock()
	s.calls[d.ID] = c
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.calls, d.ID)
		if len(s.calls) == 0 {
			// A Go map keeps the buckets of its largest size: after a
			// peak, start a small one.
			s.calls = map[string]*call{}
		}
		s.mu.Unlock()
	}()
	log := s.log.With("call_id", c.cdr.CallID, "caller", c.cdr.Caller)

	_ = d.Trying()
	if s.cfg.RingFor > 0 {
		_ = d.Ringing()
		t := time.NewTimer(s.cfg.RingFor)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			s.m.Calls.WithLabelValues("cancelled").Inc()
			c.cdr.End, c.cdr.Cause = time.Now(), "cancelled"
			s.record(c.cdr)
			return
		}
	}
	var med *diago.DialogMedia
	var err error
	if late := len(bytes.TrimSpace(d.InviteRequest.Body())) == 0; late {
		// Late offer: our offer in the 200 OK; AnswerLate returns once the
		// ACK and the answer it carries have been read.
		c.cdr.LateOffer = true
		med, err = d.AnswerLate()
		// diago v0.42.1 applies the ACK's answer to a fork of the media
		// session (with its own RTP monitor, reader and writer updated) and
		// then fails to start the monitor of the original one, which has no
		// remote address: the media is usable when the fork has one.
		if med != nil && remoteMedia(med) {
			err = nil
		} else if med != nil {
			_ = med.Close()
			med, err = nil, errors.Join(errors.New("ACK carried no usable SDP answer"), err)
		}
	} else {
		med, err = d.Answer(diago.AnswerOptions{})
	}
	if err != nil {
		s.m.Calls.WithLabelValues("failed").Inc()
		log.Warn("answer failed", "err", err)
		c.cdr.End, c.cdr.Cause = time.Now(), "answer_failed"
		s.record(c.cdr)
		return
	}
	s.m.Calls.WithLabelValues("answered").Inc()
	c.med = med
	c.cdr.Answer = time.Now()
	audio := media.CodecAudioFromSession(med.MediaSession())
	c.pt = audio.PayloadType
	if audio.Name == "PCMA" || audio.PayloadType == 8 {
		c.codec = PCMA
	}
	c.cdr.Codec = c.codec.String()
	for _, cd := range med.MediaSession().CommonCodecs() {
		if cd.Matches(media.CodecTelephoneEvent8000) {
			c.tePT = int(cd.PayloadTypeRecv())
			break
		}
	}
	med.RTPPacketWriter.ClockDisable() // the pacer keeps time

	var wg sync.WaitGroup
	c.readerDone = make(chan struct{})
	wg.Go(func() {
		defer close(c.readerDone)
		c.readMedia(ctx)
	})

	cause := c.run(ctx, f)
	callerGone := d.Context().Err() != nil
	switch {
	case callerGone && cause != "transferred":
		cause = "caller_hangup"
		s.m.Abandoned.Inc()
	case errors.Is(context.Cause(ctx), errShutdown):
		cause = "shutdown"
	}
	if !callerGone {
		hctx, hcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if err := d.Hangup(hctx); err != nil && d.Context().Err() == nil {
			log.Debug("hangup failed", "err", err)
		}
		hcancel()
	}
	cancel(ErrHangup)
	_ = med.Close()
	wg.Wait()
	c.cdr.Keys = int(c.keys.Load())
	c.cdr.End, c.cdr.Cause = time.Now(), cause
	log.Info("call ended", "cause", cause, "path", c.cdr.Path, "verification", c.cdr.Verification)
	s.record(c.cdr)
}

func (s *Server) record(c CDR) {
	if s.cdr == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.cdr.Record(ctx, c); err != nil {
		s.m.CDRErrors.Inc()
		s.log.Warn("cdr not stored", "call_id", c.CallID, "err", err)
	}
}

// remoteMedia reports whether the media session knows where to send: a late
// offer's ACK may carry no answer.
func remoteMedia(med *diago.DialogMedia) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	ms := med.MediaSession()
	return ms != nil && ms.Raddr.IP != nil && ms.Raddr.Port != 0 && len(ms.CommonCodecs()) > 0
}
