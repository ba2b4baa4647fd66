package ivr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/diago/media"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/traffic12123/gateway/pkg/ivr/dtmf"
)

// CallerConfig configures the scripted test caller.
type CallerConfig struct {
	Target    string // "sip:12123@127.0.0.1:5060"
	Transport string // "udp" (default) or "tcp"
	From      string // the caller's number (From user part)
	PAI       string // optional P-Asserted-Identity number
	Codec     Codec  // offered codec (PCMU default)
	Host      string // local address to bind (127.0.0.1 default)
	Logger    *slog.Logger
	// FollowRefer accepts a REFER by calling the Refer-To target (a blind
	// transfer); otherwise REFER is refused.
	FollowRefer bool
}

// Caller is a SIP user agent that places calls to the IVR, sends keys by
// RFC 4733 or SIP INFO and records what it hears. Tests and `ivr call` use
// it.
type Caller struct {
	cfg    CallerConfig
	ua     *sipgo.UserAgent
	dg     *diago.Diago
	cancel context.CancelFunc
}

// NewCaller binds a local SIP socket and starts the user agent.
func NewCaller(cfg CallerConfig) (*Caller, error) {
	if cfg.Transport == "" {
		cfg.Transport = "udp"
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.From == "" {
		cfg.From = "caller"
	}
	c := &Caller{cfg: cfg}
	if cfg.Transport != "udp" && cfg.Transport != "tcp" {
		return nil, fmt.Errorf("caller: unknown transport %q", cfg.Transport)
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("12123-ivr-caller"))
	if err != nil {
		return nil, fmt.Errorf("caller user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(cfg.Logger))
	if err != nil {
		ua.Close()
		return nil, fmt.Errorf("caller server: %w", err)
	}
	c.ua = ua
	codecs := []media.Codec{media.CodecAudioUlaw, media.CodecTelephoneEvent8000}
	if cfg.Codec == PCMA {
		codecs = []media.Codec{media.CodecAudioAlaw, media.CodecTelephoneEvent8000}
	}
	// Port 0: diago learns the bound port when the listener is ready and
	// rebuilds its client for it (binding our own socket first races with
	// sipgo's client, which then binds the same port again).
	c.dg = diago.NewDiago(ua, diago.WithServer(srv), diago.WithLogger(cfg.Logger),
		diago.WithMediaConfig(diago.MediaConfig{Codecs: codecs}),
		diago.WithTransport(diago.Transport{Transport: cfg.Transport, BindHost: cfg.Host, BindPort: 0}))
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	if err := c.dg.ServeBackground(ctx, func(d *diago.DialogServerSession) {}); err != nil {
		cancel()
		ua.Close()
		return nil, fmt.Errorf("caller listen: %w", err)
	}
	// sipgo reports "ready" before the UDP listener joins its connection
	// pool; a request sent in between makes sipgo bind the same port again
	// and fail. Wait for the pool.
	if cfg.Transport == "udp" {
		for deadline := time.Now().Add(2 * time.Second); ua.TransportLayer().Pool("udp").Size() == 0; {
			if time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	return c, nil
}

// Close stops the user agent.
func (c *Caller) Close() error {
	c.cancel()
	return c.ua.Close()
}

// OutCall is a call placed by a Caller.
type OutCall struct {
	c     *Caller
	d     *diago.DialogClientSession
	med   *diago.DialogMedia
	codec Codec
	dtmfW *diago.DTMFWriter

	mu          sync.Mutex
	heard       []byte
	referred    string
	transferred *diago.DialogClientSession
	wg          sync.WaitGroup
}

// Transferred returns the Refer-To target followed, "" when none, and
// whether the new call was answered.
func (o *OutCall) Transferred() (string, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.referred, o.transferred != nil
}

// Dial calls the target and waits for the answer.
func (c *Caller) Dial(ctx context.Context) (*OutCall, error) {
	var uri sip.Uri
	if err := sip.ParseUri(c.cfg.Target, &uri); err != nil {
		return nil, fmt.Errorf("caller target: %w", err)
	}
	d, err := c.dg.NewDialog(uri, diago.NewDialogOptions{Transport: c.cfg.Transport})
	if err != nil {
		return nil, fmt.Errorf("caller dialog: %w", err)
	}
	opts := diago.InviteClientOptions{}
	opts.WithCaller("", c.cfg.From, c.cfg.Host)
	if c.cfg.PAI != "" {
		opts.Headers = append(opts.Headers, sip.NewHeader("P-Asserted-Identity", "<sip:"+c.cfg.PAI+"@"+c.cfg.Host+">"))
	}
	o := &OutCall{c: c, d: d}
	if c.cfg.FollowRefer {
		opts.OnRefer = func(rd *diago.DialogClientSession) error {
			o.mu.Lock()
			o.referred = rd.InviteRequest.Recipient.String()
			o.mu.Unlock()
			ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if _, err := rd.Invite(ictx, diago.InviteClientOptions{}); err != nil {
				return err
			}
			if err := rd.Ack(ictx); err != nil {
				return err
			}
			o.mu.Lock()
			o.transferred = rd
			o.mu.Unlock()
			return nil
		}
	}
	med, err := d.Invite(ctx, opts)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("invite: %w", err), d.Close())
	}
	if err := d.Ack(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("ack: %w", err), d.Close())
	}
	o.med = med
	if media.CodecAudioFromSession(med.MediaSession()).PayloadType == 8 {
		o.codec = PCMA
	}
	if w, err := med.AudioWriterDTMF(); err == nil {
		o.dtmfW = w
	}
	o.wg.Go(o.listen)
	return o, nil
}

func (o *OutCall) listen() {
	r := o.med.RTPPacketReader
	buf := make([]byte, media.RTPBufSize)
	for {
		n, err := r.Read(buf)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || o.d.Context().Err() != nil {
				return
			}
			continue
		}
		pt := r.PacketHeader.PayloadType
		if n > 0 && (pt == 0 || pt == 8) {
			o.mu.Lock()
			if len(o.heard) < 64<<20 {
				o.heard = append(o.heard, buf[:n]...)
			}
			o.mu.Unlock()
		}
	}
}

// Codec is the negotiated law.
func (o *OutCall) Codec() Codec { return o.codec }

// Heard returns a copy of the G.711 audio received so far.
func (o *OutCall) Heard() []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]byte(nil), o.heard...)
}

// Transcript names the prompts and units heard so far.
func (o *OutCall) Transcript(lib *Library) []string {
	return lib.Transcribe(o.codec, o.Heard())
}

// WaitFor waits until the transcript holds name at least n times (n 0 or 1:
// once), or the call ends, or ctx is done.
func (o *OutCall) WaitFor(ctx context.Context, lib *Library, name string, n int) error {
	return o.wait(ctx, lib, name, n, false)
}

// WaitStarted is WaitFor counting clips that have started playing too, for
// callers that press keys during a prompt (barge-in).
func (o *OutCall) WaitStarted(ctx context.Context, lib *Library, name string, n int) error {
	return o.wait(ctx, lib, name, n, true)
}

func (o *OutCall) wait(ctx context.Context, lib *Library, name string, n int, started bool) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		count := 0
		for _, h := range o.Transcript(lib) {
			if h == name || (started && h == name+"~") {
				count++
			}
		}
		if count >= max(n, 1) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting to hear %q: %w (heard %v)", name, ctx.Err(), o.Transcript(lib))
		case <-o.d.Context().Done():
			// Let the last packets in, then look once more.
			time.Sleep(200 * time.Millisecond)
			count = 0
			for _, h := range o.Transcript(lib) {
				if h == name || (started && h == name+"~") {
					count++
				}
			}
			if count >= max(n, 1) {
				return nil
			}
			return fmt.Errorf("waiting to hear %q: %w (heard %v)", name, ErrHangup, o.Transcript(lib))
		case <-t.C:
		}
	}
}

// Key methods for Send.
const (
	KeysRFC4733   = "rfc4733"
	KeysINFO      = "info"      // application/dtmf-relay
	KeysINFOPlain = "info-dtmf" // application/dtmf
	// KeysAll sends each key three times over, as phones and gateways that
	// duplicate keys do: RFC 4733, SIP INFO and an in-band tone.
	KeysAll = "all"
)

// Send presses keys by the given method.
func (o *OutCall) Send(ctx context.Context, keys, method string) error {
	if method == KeysAll {
		for _, k := range keys {
			for _, m := range []string{KeysRFC4733, KeysINFO} {
				if err := o.Send(ctx, string(k), m); err != nil {
					return err
				}
			}
			if err := o.SendTones(string(k)); err != nil {
				return err
			}
		}
		return nil
	}
	for _, k := range keys {
		switch method {
		case KeysRFC4733, "":
			if o.dtmfW == nil {
				return errors.New("caller: telephone-event not negotiated")
			}
			if err := o.dtmfW.WriteDTMF(k); err != nil {
				return fmt.Errorf("send rfc4733: %w", err)
			}
		case KeysINFO, KeysINFOPlain:
			req := sip.NewRequest(sip.INFO, o.d.RemoteContact().Address)
			if method == KeysINFO {
				req.AppendHeader(sip.NewHeader("Content-Type", "application/dtmf-relay"))
				req.SetBody([]byte("Signal=" + string(k) + "\r\nDuration=160\r\n"))
			} else {
				req.AppendHeader(sip.NewHeader("Content-Type", "application/dtmf"))
				req.SetBody([]byte(string(k)))
			}
			res, err := o.d.Do(ctx, req)
			if err != nil {
				return fmt.Errorf("send info: %w", err)
			}
			if res.StatusCode != sip.StatusOK {
				return fmt.Errorf("send info: answered %d %s", res.StatusCode, res.Reason)
			}
		default:
			return fmt.Errorf("caller: unknown key method %q", method)
		}
	}
	return nil
}

// SendTones presses keys as in-band DTMF: 100 ms of dual tone and 100 ms
// of silence per key in the call's audio (for gateways that cannot send
// RFC 4733 or INFO).
func (o *OutCall) SendTones(keys string) error {
	w, err := o.med.AudioWriter()
	if err != nil {
		return fmt.Errorf("send tones: %w", err)
	}
	for _, k := range keys {
		pcm := append(dtmf.Synth(k, 800, 10000), make([]int16, 800)...)
		enc := Encode(o.codec, pcm)
		for i := 0; i+FrameSamples <= len(enc); i += FrameSamples {
			if _, err := w.Write(enc[i : i+FrameSamples]); err != nil {
				return fmt.Errorf("send tones: %w", err)
			}
		}
	}
	return nil
}

// Ended is closed when the call is over (either side).
func (o *OutCall) Ended() <-chan struct{} { return o.d.Context().Done() }

// Hangup ends the call (if still up) and stops listening.
func (o *OutCall) Hangup(ctx context.Context) error {
	var err error
	if o.d.Context().Err() == nil {
		err = o.d.Hangup(ctx)
	}
	_ = o.med.Close()
	o.wg.Wait()
	o.mu.Lock()
	t := o.transferred
	o.mu.Unlock()
	if t != nil {
		err = errors.Join(err, t.Hangup(ctx), t.Close())
	}
	return errors.Join(err, o.d.Close())
}

// ParseScript splits "1,wait:licence_status,123456#" style scripts used by
// `ivr call`: key groups and waits for a prompt name.
func ParseScript(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// PortOf returns the port of a host:port address, 0 when none.
func PortOf(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

// ReInvite refreshes the session (as session timers do) with a re-INVITE.
func (o *OutCall) ReInvite(ctx context.Context) error { return o.d.ReInvite(ctx) }
