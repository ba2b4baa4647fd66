package ivr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/diago/media"
	"github.com/emiago/sipgo/sip"
)

// bridge calls the agent queue and, once it answers within timeout,
// connects the two calls' audio (transcoding between PCMU and PCMA when
// they differ) until either side hangs up. The IVR stays in the media path
// and keeps the call slot.
func (c *call) bridge(ctx context.Context, uri sip.Uri, timeout time.Duration) (bool, error) {
	ictx, cancel := context.WithTimeout(ctx, timeout)
	agent, amed, err := c.s.dg.Invite(ictx, uri, diago.InviteOptions{})
	cancel()
	if err != nil {
		c.s.log.Info("agent leg not answered", "err", err)
		return false, nil
	}
	defer func() {
		hctx, hcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = agent.Hangup(hctx)
		hcancel()
		_ = agent.Close()
	}()
	// Take the caller's media from our key reader.
	c.handOver.Store(true)
	if err := c.med.MediaSession().StopRTP(1, 0); err != nil {
		return true, fmt.Errorf("bridge: %w", err)
	}
	<-c.readerDone
	if err := c.med.MediaSession().StartRTP(1); err != nil {
		return true, fmt.Errorf("bridge: %w", err)
	}
	agentCodec := PCMU
	aAudio := media.CodecAudioFromSession(amed.MediaSession())
	if aAudio.PayloadType == 8 {
		agentCodec = PCMA
	}
	amed.RTPPacketWriter.ClockDisable()

	bctx, bcancel := context.WithCancel(ctx)
	defer bcancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		proxyRTP(bctx, c.med.RTPPacketReader, c.codec, amed.RTPPacketWriter, agentCodec, aAudio.PayloadType)
	})
	wg.Go(func() { proxyRTP(bctx, amed.RTPPacketReader, agentCodec, c.med.RTPPacketWriter, c.codec, c.pt) })
	select {
	case <-ctx.Done():
	case <-agent.Context().Done():
	}
	bcancel()
	// Unblock both readers.
	_ = c.med.MediaSession().StopRTP(1, 0)
	_ = amed.MediaSession().StopRTP(1, 0)
	wg.Wait()
	_ = amed.Close()
	return true, nil
}

// proxyRTP copies audio packets from r to w, transcoding when the laws
// differ; telephone-events and other payloads are not passed.
func proxyRTP(ctx context.Context, r *media.RTPPacketReader, from Codec, w *media.RTPPacketWriter, to Codec, pt uint8) {
	buf := make([]byte, media.RTPBufSize)
	first := true
	for ctx.Err() == nil {
		n, err := r.Read(buf)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
				return
			}
			continue
		}
		in := r.PacketHeader.PayloadType
		if n == 0 || (in != 0 && in != 8) {
			continue
		}
		payload := buf[:n]
		if from != to {
			payload = Encode(to, Decode(from, payload))[:n]
		}
		if _, err := w.WriteSamples(payload, uint32(n), first, pt); err != nil {
			return
		}
		first = false
	}
}
